# myelin-cds: CDS Hooks 2.0 service image.
# Refuses to start without a trusted JWT issuer unless run with CDS_AUTH_MODE=open.
#
# Reproducible: the base image is an exact release pinned by the digest of its multi-platform
# index, and every Python package, the build tools included, comes from a lock file with
# hashes (`make lock` regenerates them).
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin cds \
    && mkdir -p /data \
    && chown cds:cds /data

# Locked dependencies first: this layer is reused until a lock file changes.
COPY requirements.lock requirements-build.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock \
    && pip install --require-hashes --no-deps -r requirements-build.lock

COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# --no-deps: nothing beyond the lock; --no-build-isolation: build with the locked setuptools.
RUN pip install --no-deps --no-build-isolation . \
    && pip uninstall --yes setuptools wheel packaging \
    && rm -rf /app/src /app/build /app/requirements-build.lock

COPY hooks ./hooks
COPY fixtures ./fixtures

ENV CDS_HOOKS_DIR=/app/hooks \
    CDS_FIXTURES_DIR=/app/fixtures \
    CDS_DATA_DIR=/data \
    CDS_AUTH_MODE=jwt \
    CDS_PREVIEW_ENABLED=false \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8080

USER cds
VOLUME ["/data"]
EXPOSE 8080

# Liveness (/livez): a single container has no load balancer to hold it back while it is not
# ready, and its health status is what an orchestrator restarts it by (swarm, ECS). /livez fails
# only when the process stops answering, which a restart cures; /readyz also fails while an
# issuer's key set cannot be fetched or the database is away, which a restart does not. Behind
# a load balancer, replicas are gated on /readyz instead (deploy/compose.yaml).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('CDS_PORT', '8080'), timeout=2)" || exit 1

ENTRYPOINT ["cds", "serve"]
