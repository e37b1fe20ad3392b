"""Datagram proxying (Envoy's udp_proxy): one session per client, each with its own upstream
socket."""
