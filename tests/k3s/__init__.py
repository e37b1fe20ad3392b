"""End-to-end tests on a real Kubernetes (k3s in Docker, through testcontainers)."""
