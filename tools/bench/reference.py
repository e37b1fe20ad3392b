"""The published gateway-api-bench figures every agw result is set beside (issue 9)."""

from __future__ import annotations

# Route propagation with 3,000 routes attached: time from creating a route to its first 200.
PROPAGATION_MS = {
    "agentgateway": {"mean_ms": 16.6, "max_ms": 74.6},
    "Istio": {"mean_ms": 221.0},
    "Envoy Gateway": {"mean_ms": 320.0},
}
PROPAGATION_ROUTES = 3000

# Backend switched every 200 ms: share of requests that succeeded.
CHURN_SUCCESS_PERCENT = {"agentgateway": 100.0, "Istio": 100.0}

# Controller cost at 5,000 routes.
CONTROLLER_AT_5000 = {
    "agentgateway": {"rss_mib": 430.0, "cpu_cores": 0.1},
    "Envoy Gateway": {"rss_mib": 2.4 * 1024, "cpu_cores": 3.7},
}
CONTROLLER_ROUTES = 5000

# Proxy memory.
PROXY_RSS_MIB = {"agentgateway": 40.0, "Envoy-based": 1024.0}

SOURCE = "gateway-api-bench (published study cited in issue 9)"
