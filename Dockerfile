# One image for both roles: `agw controlplane` (the control plane Deployment the Helm chart
# installs) and `agw proxy` (the per-Gateway Deployments the control plane provisions).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/agw
COPY pyproject.toml ./
COPY controlplane ./controlplane
COPY translator ./translator
COPY dataplane ./dataplane
# Bytecode compiled at build time: the pods run with a read-only root filesystem.
RUN /opt/agw/bin/pip install --no-cache-dir . \
    && /opt/agw/bin/python -m compileall -q /opt/agw

FROM python:3.11-slim
COPY --from=build /opt/agw /opt/agw
ENV PATH=/opt/agw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The uid the provisioned proxy pods and the chart's control plane run as (runAsNonRoot).
RUN groupadd --system --gid 10001 agw \
    && useradd --system --uid 10001 --gid agw --no-create-home --shell /usr/sbin/nologin agw
USER 10001:10001
ENTRYPOINT ["agw"]
CMD ["--help"]
