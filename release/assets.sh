#!/usr/bin/env bash
# Builds the release assets of one version into OUT (the release workflow calls it; it runs here
# too, for a check before tagging):
#   mtls-operator.yaml            one-file install: the CRD + deploy/, the image pinned by digest
#   mtls-operator-VERSION.tgz     the Helm chart (version and appVersion = VERSION)
#   kubectl-mtls-VERSION.tar.gz   the plugin, built, with its production dependencies
#   mtls.yaml                     the krew manifest for that archive
#   SHA256SUMS
# Usage: release/assets.sh OUT VERSION [IMAGE_DIGEST]   (PARTS="manifest chart plugin" by default)
# Without IMAGE_DIGEST the manifest uses the tag VERSION (for local checks only).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1" version="$2" digest="${3:-}"
parts="${PARTS:-manifest chart plugin}"
image="${IMAGE:-ghcr.io/mtls-dev/mtls-operator}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "error: VERSION must be semver without v (got '$version')" >&2; exit 2; }
[[ -z "$digest" || "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "error: IMAGE_DIGEST must be sha256:<64 hex> (got '$digest')" >&2; exit 2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mtls-release.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [[ " $parts " == *" manifest "* ]]; then
  # An overlay over deploy/ (which already includes ../crds): kubectl's built-in kustomize,
  # no standalone kustomize needed.
  overlay="release/.overlay"
  rm -rf "$overlay" && mkdir -p "$overlay"
  trap 'rm -rf "$work" "$overlay"' EXIT
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources: [../../deploy]"
    echo "images:"
    echo "  - name: ghcr.io/mtls-dev/mtls-operator"
    echo "    newName: $image"
    if [[ -n "$digest" ]]; then echo "    digest: $digest"; else echo "    newTag: \"$version\""; fi
  } > "$overlay/kustomization.yaml"
  {
    echo "# mtls-operator $version: kubectl apply --server-side -f mtls-operator.yaml"
    echo "# The CRD, namespace mtls-system, RBAC, the operator (image ${image}${digest:+@$digest}), its Service, PDB and admission policy."
    kubectl kustomize "$overlay"
  } > "$out/mtls-operator.yaml"
  echo "wrote $out/mtls-operator.yaml" >&2
fi

if [[ " $parts " == *" chart "* ]]; then
  helm="$(test/tools/helm.sh --path)"
  "$helm" lint charts/mtls-operator >&2
  "$helm" package charts/mtls-operator --version "$version" --app-version "$version" --destination "$out" >&2
fi

if [[ " $parts " == *" plugin "* ]]; then
  stage="$work/kubectl-mtls"
  mkdir -p "$stage"
  [[ -f dist/cli/main.js ]] || npm run build >&2
  cp -R bin dist package.json package-lock.json README.md "$stage/"
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >&2 && rm package-lock.json)
  tar -C "$work" -czf "$out/kubectl-mtls-$version.tar.gz" kubectl-mtls
  sha="$(sha256sum "$out/kubectl-mtls-$version.tar.gz" | cut -d' ' -f1)"
  sed -e "s/\${VERSION}/$version/g" -e "s/\${SHA256}/$sha/g" release/krew-mtls.yaml.tmpl > "$out/mtls.yaml"
  echo "wrote $out/kubectl-mtls-$version.tar.gz and $out/mtls.yaml" >&2
fi

(cd "$out" && sha256sum -- * | grep -v ' SHA256SUMS$' > SHA256SUMS)
