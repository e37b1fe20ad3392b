"""Kubernetes tests: an API-server emulation on kmock, and the control plane's Kubernetes side
(source, status writer, leader election) driven through kubernetes-asyncio against it."""
