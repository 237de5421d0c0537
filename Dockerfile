# syntax=docker/dockerfile:1.7
# One image per service, from one Dockerfile:
#   docker build --build-arg SERVICE=catalog -t zp-portal/catalog .
# SERVICE is the Python package: gateway, catalog, storage, quality, harvest_export, feedback.
# The image runs `python -m $SERVICE serve`, the same command `make run` and the tests run;
# `docker run IMAGE migrate` (or api, worker) runs the other sub-commands.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------- builder: the venv from uv.lock
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
RUN test -n "$SERVICE" || (echo "build arg SERVICE is required" >&2; exit 1)
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1) third-party dependencies only (cached while the lock and the manifests do not change)
COPY pyproject.toml uv.lock .python-version ./
COPY libs/portal-kit/pyproject.toml libs/portal-kit/pyproject.toml
COPY libs/portal-dev/pyproject.toml libs/portal-dev/pyproject.toml
COPY gateway/pyproject.toml gateway/pyproject.toml
COPY services/catalog/pyproject.toml services/catalog/pyproject.toml
COPY services/storage/pyproject.toml services/storage/pyproject.toml
COPY services/quality/pyproject.toml services/quality/pyproject.toml
COPY services/harvest-export/pyproject.toml services/harvest-export/pyproject.toml
COPY services/feedback/pyproject.toml services/feedback/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace \
        --package "$(echo "$SERVICE" | tr _ -)"

# 2) the workspace packages this service needs, installed as wheels (not editable)
COPY libs libs
COPY gateway gateway
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
        --package "$(echo "$SERVICE" | tr _ -)" \
 && /app/.venv/bin/python -c "import importlib, os; importlib.import_module(os.environ['SERVICE'] + '.__main__')"

# ---------------------------------------------------------------- runtime: no uv, no compilers
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG VERSION=dev
LABEL org.opencontainers.image.title="zp-open-data-portal-${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/zaporizhzhia-city/open-data-portal"
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin portal \
 && mkdir -p /var/lib/portal/signing-keys \
 && chown -R 10001:10001 /var/lib/portal
COPY --from=builder --chown=root:root /app/.venv /app/.venv
COPY --chown=root:root deploy/docker/healthcheck.py /app/healthcheck.py
ENV SERVICE=${SERVICE} \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    TMPDIR=/tmp
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# uvicorn finishes in-flight requests on SIGTERM (25 s), then the worker stops pulling and
# the outbox relay flushes once more; give it that long before SIGKILL (compose: stop_grace_period)
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
# `sh -c exec` only expands $SERVICE: the process that runs (PID 1) is `python -m $SERVICE serve`
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$SERVICE\" \"$@\"", "--"]
CMD ["serve"]
