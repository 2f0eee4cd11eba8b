# Build: compile TypeScript to dist/ with the project's own toolchain, then drop dev dependencies.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node_modules/.bin/tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# Run: Node 24, production dependencies only, numeric non-root user (runAsNonRoot can verify it),
# nothing written to the filesystem (readOnlyRootFilesystem works). node is PID 1 and the operator
# handles SIGTERM itself (src/ops/run.ts): no npm or shell in between to swallow the signal.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 9402
ENTRYPOINT ["node", "--enable-source-maps", "dist/main.js"]
