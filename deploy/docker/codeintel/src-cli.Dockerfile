# The upload step's image (the original's sourcegraph/src-cli): node and this project's `src`, which
# implements `src code-intel upload`. Built by `npm run indexer-images`; COORDINATOR_CODEINTEL_SRC_CLI_IMAGE
# defaults to executors-src-cli:<version>.
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}
COPY src/src.cjs /opt/codeintel/src.cjs
RUN set -eux; printf '#!/bin/sh\nexec node /opt/codeintel/src.cjs "$@"\n' > /usr/local/bin/src; chmod 0755 /usr/local/bin/src; src version
ARG VERSION=dev
LABEL org.opencontainers.image.title="src-cli" org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="src (code-intel upload) for the executors' codeintel index jobs"
