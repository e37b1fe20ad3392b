"""The control plane's xDS side: per-gateway snapshots (``snapshot``, ``cache``), per-stream
protocol state machines that import no gRPC (``sotw``, ``delta``, ``push_policy``), the
transport-free stream runner (``stream``), and the grpc.aio ADS service (``server``).

Nothing is re-exported here, so importing a state machine never pulls in gRPC.
"""
