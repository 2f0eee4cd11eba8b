#!/usr/bin/env bash
# Part of `npm test`: makes the real control plane's binaries available to test/real (test/support/controlplane.ts).
# KUBEBUILDER_ASSETS wins; else they are built from Go modules by build.sh (or found in its cache); without Go the
# real-apiserver tests are skipped with one line, except where they are required (CI=true or
# MTLS_REQUIRE_CONTROLPLANE=1), where that is a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${KUBEBUILDER_ASSETS:-}" ] || command -v go >/dev/null 2>&1; then
  s=$SECONDS
  bash "$here/build.sh" "$@" >/dev/null
  echo "[controlplane] binaries ready ($((SECONDS - s)) s)" >&2
  exit 0
fi
if [ "${CI:-}" = "true" ] || [ "${MTLS_REQUIRE_CONTROLPLANE:-}" = "1" ]; then
  echo "[controlplane] no Go and no KUBEBUILDER_ASSETS: the real-apiserver tests cannot run (install Go 1.26, or set KUBEBUILDER_ASSETS to envtest binaries)" >&2
  exit 1
fi
echo "[controlplane] real-apiserver tests will be skipped: no Go to build the control plane and no KUBEBUILDER_ASSETS (install Go 1.26, or: setup-envtest use 1.37 -p path)" >&2
