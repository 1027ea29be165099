# The Python indexer image of inferred index jobs: scip-python (from the npm registry), Debian's python3
# and pip (scip-python asks pip for the environment; pre-index steps `pip install` into it), git, and
# this project's `src`. Built by `npm run indexer-images`; the default indexer map names it
# executors-scip-python:<version>.
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}
RUN set -eux; export DEBIAN_FRONTEND=noninteractive; apt-get update; \
    apt-get install -y --no-install-recommends git ca-certificates python3 python3-pip; rm -rf /var/lib/apt/lists/*
COPY tools/ /opt/codeintel/
ENV PATH=/opt/codeintel/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY src/src.cjs /opt/codeintel/src.cjs
RUN set -eux; \
    printf '#!/bin/sh\nexec node /opt/codeintel/src.cjs "$@"\n' > /usr/local/bin/src; chmod 0755 /usr/local/bin/src; \
    scip-python --version; pip --version; src version
# The container is the job's own: pip may install into its Python (Debian marks it externally managed).
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
ARG VERSION=dev
LABEL org.opencontainers.image.title="scip-python" org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="scip-python, python3, pip and src for the executors' codeintel index jobs"
