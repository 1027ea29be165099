# The coordinator's image: the coordinator (one bundled file, run by the base image's node, with PGlite's
# WebAssembly beside it), git (it serves repositories to jobs), CA certificates and tini. It runs as the
# unprivileged user `coordinator` (uid 10001); its data directory, the embedded database unless
# COORDINATOR_DATABASE_URL names a PostgreSQL server, is the volume /var/lib/coordinator.
#
# Build with `npm run images` (`-- --local-base` where no registry is reachable; see executor.Dockerfile).
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}

RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git tini; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --system --uid 10001 --user-group --home-dir /var/lib/coordinator --shell /usr/sbin/nologin coordinator; \
    install -d -o coordinator -g coordinator -m 0700 /var/lib/coordinator

COPY bundle/coordinator.cjs bundle/pglite.wasm bundle/initdb.wasm bundle/pglite.data /opt/executors/
COPY docker/bin/coordinator /usr/local/bin/coordinator

ARG VERSION=dev
ARG COMMIT=dev
LABEL org.opencontainers.image.title="coordinator" \
      org.opencontainers.image.description="Coordinator: queues jobs for executors, serves the executor API, the admin API and the web UI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV COORDINATOR_ADDR=0.0.0.0:3080 \
    COORDINATOR_DATA_DIR=/var/lib/coordinator
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
VOLUME ["/var/lib/coordinator"]
EXPOSE 3080
# A first start creates the embedded database (about 5 s, longer on a busy host) before it listens.
HEALTHCHECK --interval=10s --timeout=8s --start-period=60s --retries=3 CMD ["coordinator", "healthcheck"]
ENTRYPOINT ["tini", "--", "coordinator"]
CMD ["serve"]
