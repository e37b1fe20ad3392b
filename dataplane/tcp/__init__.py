"""Stream proxying (Envoy's tcp_proxy): TCP, TLS passthrough chosen by SNI, TLS terminate."""
