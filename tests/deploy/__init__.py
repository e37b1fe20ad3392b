"""Deployment artefacts: the Helm chart rendered by real Helm, the generated CRDs, and
validation of every Kubernetes object agw writes against the Kubernetes schemas."""
