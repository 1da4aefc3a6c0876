# myelin-cds: CDS Hooks 2.0 service image.
# Refuses to start without a trusted JWT issuer unless run with CDS_AUTH_MODE=open.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin cds \
    && mkdir -p /data \
    && chown cds:cds /data

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /app/src /app/build

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

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDS_PORT', '8080'), timeout=2)" || exit 1

ENTRYPOINT ["cds", "serve"]
