# Build stage: compile TypeScript to dist/ and keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && npm prune --omit=dev

# Run stage: Node 24 LTS, non-root, no build tools.
FROM node:24-bookworm-slim
# The pull-through cache is on, in /var/cache/oci-connector-proxy (mount a volume there; its
# size bound is OCP_CACHE_MAX_BYTES, 10 GiB by default). OCP_CACHE_DIR= turns it off.
ENV NODE_ENV=production \
    OCP_LISTEN=0.0.0.0:5000 \
    OCP_CACHE_DIR=/var/cache/oci-connector-proxy
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /var/cache/oci-connector-proxy && chown node:node /var/cache/oci-connector-proxy
VOLUME /var/cache/oci-connector-proxy
USER node
EXPOSE 5000
# `health` asks /healthz where OCP_LISTEN says the proxy listens.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "dist/cli.js", "health"]
# Node flags (the same as `npm start`; README, "Node flags"): a 1 MiB young generation, and old-generation
# marking started by the old generation's own growth only, not by the Buffers that blob transfers
# allocate outside the heap, and an old generation that grows to twice what is live, not three
# times, under request load.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--incremental-marking-soft-trigger=90", "--incremental-marking-hard-trigger=95", "--heap-growing-percent=100", "dist/cli.js"]
