# The base image. A release pins it by digest: .github/workflows/release.yaml resolves the digest of
# node:24-slim for every platform it builds and passes NODE_IMAGE=docker.io/library/node:24-slim@sha256:<digest>
# (printed in the build log and recorded in the image's provenance). A plain `docker build .` uses the tag.
ARG NODE_IMAGE=node:24-slim

# Build: compile TypeScript to dist/ with the project's own toolchain, then drop dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.mjs ./scripts/
# dist/ (tsc), then dist/bundle/ (esbuild: main.js and keystore-worker.js, every dependency in them), which the
# image runs: V8 holds the source text of every module it loads, so one tree-shaken file takes ~25 MB less
# memory than dist/ and node_modules' modules (README, "Measured figures").
RUN node_modules/.bin/tsc -p tsconfig.build.json && node scripts/bundle.mjs && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# The runtime's root filesystem: the node binary and exactly the shared libraries it links (found with ldd, the
# dynamic loader included, copied to the paths ldd names), /etc/passwd and /etc/group with the non-root user
# 65532, an empty /tmp. No CA certificates: the operator only talks to the API server, which it verifies with
# the ServiceAccount's ca.crt (and Node carries its own root store for anything else).
FROM ${NODE_IMAGE} AS rootfs
RUN set -eu; \
    node=$(command -v node); \
    mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp /rootfs/app; \
    cp "$node" /rootfs/usr/local/bin/node; \
    libs=$(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }'); \
    test -n "$libs"; \
    for lib in $libs; do cp --parents -L "$lib" /rootfs/; done; \
    printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >/rootfs/etc/passwd; \
    printf 'nonroot:x:65532:\n' >/rootfs/etc/group; \
    chmod 1777 /rootfs/tmp; \
    echo "runtime: $node and" $libs

# Run: no shell, no npm, no package manager: node, its libraries, dist/ and the production node_modules (the bundle
# needs only `yaml` from them, loaded when a name-policy file is YAML).
# Numeric non-root user (runAsNonRoot can verify it), nothing written to the filesystem (readOnlyRootFilesystem
# works). node is PID 1 and the operator handles SIGTERM itself (src/ops/run.ts). Every command in a pod spec must
# be exec form (["node", ...]): there is no /bin/sh to run a `sh -c` string.
FROM scratch
COPY --from=rootfs /rootfs/ /
ENV PATH=/usr/local/bin NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 9402
ENTRYPOINT ["/usr/local/bin/node", "dist/bundle/main.js"]
