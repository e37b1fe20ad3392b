"""agw's benchmark suite: route propagation, churn, scale cost and data-plane throughput,
with a report (`make bench`, `python -m tools.bench.report`) that sets every figure beside the
published gateway-api-bench reference."""
