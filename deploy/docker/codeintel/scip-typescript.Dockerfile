# The TypeScript/JavaScript indexer image of inferred index jobs: scip-typescript (from the npm registry,
# with the TypeScript it runs), npm (for the pre-index `npm install` steps), git, and this project's `src`.
# Built by `npm run indexer-images` (the tools are staged into the build context: no registry is needed
# at build time); the default indexer map names it executors-scip-typescript:<version>.
ARG BASE_IMAGE=node:20-trixie-slim
FROM ${BASE_IMAGE}
RUN set -eux; export DEBIAN_FRONTEND=noninteractive; apt-get update; \
    apt-get install -y --no-install-recommends git ca-certificates; rm -rf /var/lib/apt/lists/*
COPY npm/ /usr/local/lib/node_modules/npm/
COPY tools/ /opt/codeintel/
ENV PATH=/opt/codeintel/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY src/src.cjs /opt/codeintel/src.cjs
RUN set -eux; \
    ln -sf /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; \
    ln -sf /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
    printf '#!/bin/sh\nexec node /opt/codeintel/src.cjs "$@"\n' > /usr/local/bin/src; chmod 0755 /usr/local/bin/src; \
    scip-typescript --version; npm --version; src version
ARG VERSION=dev
LABEL org.opencontainers.image.title="scip-typescript" org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="scip-typescript, npm and src for the executors' codeintel index jobs"
