"""HTTP/2 for the agw proxy: a sans-IO codec (framing, HPACK, flow control) and the asyncio
adapters that serve it downstream (TLS ALPN or cleartext prior knowledge) and speak it
upstream (h2c clusters)."""
