# The executor's image: the executor (one bundled file, run by the base image's node), git, the docker CLI,
# CA certificates, and tini as PID 1 (it reaps what job processes leave). For the docker runtime against
# the host's daemon (Docker Compose: mount /var/run/docker.sock) and for Kubernetes.
#
# Build with `npm run images` (it bundles the program into the build context, release/image-context);
# `npm run images -- --local-base` first builds a base image from Debian's packages where no registry is
# reachable (deploy/docker/local-base-image.sh).
#
# Run: `docker run executors/executor:latest [run | validate | install … | --version | <program> …]`;
# custom CA certificates: mount them at /etc/ssl/certs or /usr/local/share/ca-certificates
# (deploy/docker/executor-entrypoint.sh).
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}

# trixie and later package the docker CLI alone (docker-cli); bookworm ships it only inside docker.io,
# so there the CLI is kept and the daemon's packages removed again in the same layer.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git tini; \
    if apt-cache show docker-cli >/dev/null 2>&1; then \
      apt-get install -y --no-install-recommends docker-cli; \
    else \
      apt-get install -y --no-install-recommends docker.io; \
      cp /usr/bin/docker /usr/local/bin/docker; \
      apt-get purge -y --auto-remove docker.io; \
    fi; \
    rm -rf /var/lib/apt/lists/*; \
    docker --version; git --version

COPY bundle/executor.cjs /opt/executors/executor.cjs
COPY docker/bin/executor /usr/local/bin/executor
COPY docker/executor-entrypoint.sh /usr/local/bin/executor-entrypoint

ARG VERSION=dev
ARG COMMIT=dev
LABEL org.opencontainers.image.title="executor" \
      org.opencontainers.image.description="Executor: pulls jobs from a coordinator and runs them in sandboxes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENTRYPOINT ["tini", "--", "executor-entrypoint"]
CMD ["run"]
