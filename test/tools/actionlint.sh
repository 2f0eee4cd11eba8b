#!/usr/bin/env bash
# Lints .github/workflows with actionlint built from the Go module proxy (github.com/rhysd/actionlint)
# into ~/.cache/mtls-operator/tools. Extra arguments go to actionlint. ACTIONLINT_VERSION overrides.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(test/tools/go-tool.sh actionlint github.com/rhysd/actionlint/cmd/actionlint "${ACTIONLINT_VERSION:-v1.7.12}")"
# shellcheck/pyflakes are not required: actionlint skips those checks when they are absent.
exec "$bin" -no-color "$@"
