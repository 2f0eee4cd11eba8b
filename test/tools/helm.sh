#!/usr/bin/env bash
# helm, built from the Go module proxy (helm.sh/helm/v3) into ~/.cache/mtls-operator/tools, then run
# with the given arguments. `test/tools/helm.sh --path` prints the binary's path only.
# HELM_VERSION overrides the pinned version.
set -euo pipefail
bin="$("$(dirname "$0")/go-tool.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-v3.22.0}")"
if [[ "${1:-}" == "--path" ]]; then echo "$bin"; exit 0; fi
exec "$bin" "$@"
