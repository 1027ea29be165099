# The image of the upload step of index jobs (the original's sourcegraph/src-cli) and of the helper steps
# of batch change jobs (the original's batcheshelper): node, git (the helper stages the steps' changes and
# takes the diff), curl (the helper's shell form of its last step uploads with it, without a node start)
# and this project's `src`, which implements `src code-intel upload` and `src batch-helper`. Built by `npm run indexer-images`; COORDINATOR_CODEINTEL_SRC_CLI_IMAGE defaults to
# executors-src-cli:<version>.
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}
RUN set -eux; export DEBIAN_FRONTEND=noninteractive; apt-get update; \
    apt-get install -y --no-install-recommends git curl ca-certificates; rm -rf /var/lib/apt/lists/*
COPY src/src.cjs /opt/codeintel/src.cjs
RUN set -eux; printf '#!/bin/sh\nexec node /opt/codeintel/src.cjs "$@"\n' > /usr/local/bin/src; chmod 0755 /usr/local/bin/src; src version; git --version; curl --version
ARG VERSION=dev
LABEL org.opencontainers.image.title="src-cli" org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="src (code-intel upload, batch-helper) and git for the executors' codeintel and batches jobs"
