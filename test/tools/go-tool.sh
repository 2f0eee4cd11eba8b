#!/usr/bin/env bash
# Builds a Go command from the Go module proxy into a cache outside the clone, once per version,
# and prints the binary's path. Used by test/tools/helm.sh and test/tools/actionlint.sh.
#   go-tool.sh <name> <module/cmd path> <version>
# Cache: $MTLS_TOOLS_DIR (default ~/.cache/mtls-operator/tools)/<name>-<version>/<name>.
set -euo pipefail
name="$1" pkg="$2" version="$3"
root="${MTLS_TOOLS_DIR:-$HOME/.cache/mtls-operator/tools}"
dir="$root/$name-$version"
bin="$dir/$name"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || { echo "error: building $name $version needs Go (https://go.dev/dl/)" >&2; exit 1; }
  mkdir -p "$dir"
  echo "building $name $version from the Go module proxy into $dir (once)" >&2
  # GOFLAGS=-mod=mod: the tool's own go.mod decides; CGO off: a static binary.
  CGO_ENABLED=0 GOBIN="$dir" go install "$pkg@$version" >&2
fi
echo "$bin"
