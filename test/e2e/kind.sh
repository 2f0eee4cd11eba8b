#!/usr/bin/env bash
# End-to-end tests on a kind cluster, with the operator image built from this checkout. This file is the kind
# driver; the steps are test/e2e/scenario.sh, shared with the local-node driver (test/e2e/local-node.sh):
#
#   0. cluster (create, or reuse one of the same name), image built and loaded
#   then the scenario: the README's install section word for word (kubectl mtls init-root, kubectl apply -k deploy/),
#      examples/, mutual TLS, refusals, forced renewal under traffic, leader failover, root rotation under traffic
#      through Retired, workload restart
#   last: the cluster is deleted (unless KEEP_CLUSTER=1)
#
# Run: npm run test:e2e   (or: bash test/e2e/kind.sh)
# Needs docker (with a running engine), kind, kubectl, openssl and a Node 24 (npm ci: the npm package `node`) for
# the kubectl-mtls plugin the README's install uses; Kubernetes >= 1.31 in the cluster. When one is missing it prints one line saying what and exits 0 (skipped), unless
# E2E_REQUIRED=1 (CI), where that is a failure.
#
# Environment:
#   KIND_CLUSTER     cluster name (default mtls-e2e); an existing cluster of that name is reused
#   KIND_NODE_IMAGE  node image for a new cluster (default: the kind release's own)
#   KEEP_CLUSTER=1   keep the cluster when done (default: delete it, pass or fail)
#   E2E_REQUIRED=1   missing tools fail the run instead of skipping it
#   E2E_TIMEOUT      seconds to wait for each condition (default 180)
#   KIND_LOGS_DIR    on failure, `kind export logs` there before the cluster is deleted (CI)
#
# kubectl talks to the test cluster only, through a kubeconfig of its own (never your current
# context). A failure prints what was checked, what was seen, and the cluster's state (pods,
# identities, events, operator and demo logs).
set -Eeuo pipefail

CLUSTER=${KIND_CLUSTER:-mtls-e2e}
IMAGE=mtls-operator:e2e
TIMEOUT=${E2E_TIMEOUT:-180}
NS=demo
TRUST_DOMAIN=cluster.local
SERVER_ID=spiffe://$TRUST_DOMAIN/ns/$NS/sa/server
CLIENT_ID=spiffe://$TRUST_DOMAIN/ns/$NS/sa/client

# --- skip when the tools are not there (builtins only up to here: PATH may hold nothing) -------
skip() {
  if [[ ${E2E_REQUIRED:-0} == 1 ]]; then
    echo "e2e: FAILED: $1 (E2E_REQUIRED=1)" >&2
    exit 1
  fi
  echo "e2e: SKIPPED: $1"
  exit 0
}
missing=()
for tool in docker kind kubectl openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  skip "kind tests need docker, kind, kubectl and openssl; not found on PATH: ${missing[*]}"
fi
if ! docker info >/dev/null 2>&1; then
  skip "kind tests need a running Docker engine: 'docker info' failed"
fi

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
ROOT=$(cd "$here/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-e2e.XXXXXX")
export KUBECONFIG=$WORK/kubeconfig
CLUSTER_UP=0
STEP=setup
CHECKS=0
STARTED=$SECONDS


CLUSTER_DESC="kind cluster $CLUSTER"
REUSED=0
# the operator image is loaded under the name deploy/ gives it too: the README's `kubectl apply -k deploy/` runs it as is
DEPLOY_IMAGE=$(kubectl kustomize "$ROOT/deploy" | awk '$1 == "image:" { print $2; exit }')
# kubectl-mtls on PATH (the README's `kubectl mtls init-root`), with the Node 24 of the npm package `node`
NODE24=$(readlink -f "$ROOT/node_modules/node/bin/node" || true)
"$NODE24" --version 2>/dev/null | grep -q '^v2[4-9]\.' || skip "no Node 24 at $ROOT/node_modules/node/bin/node (run npm ci)"
mkdir -p "$WORK/bin"
ln -s "$NODE24" "$WORK/bin/node"
ln -s "$ROOT/bin/kubectl-mtls.js" "$WORK/bin/kubectl-mtls"
export PATH=$WORK/bin:$PATH
DRIVER_DIAGNOSE=()
# kind has cluster DNS and Services: nothing to add
pod_spec_extras() { :; }
with_pod_spec_extras() { cat; }
server_name_routed() { :; }
# shellcheck source=test/e2e/scenario.sh
source "$ROOT/test/e2e/scenario.sh"

cleanup() {
  local code=$?
  if [[ $CLUSTER_UP == 1 ]]; then
    if [[ $code != 0 && -n ${KIND_LOGS_DIR:-} ]]; then
      echo "e2e: exporting the cluster's logs to $KIND_LOGS_DIR"
      kind export logs "$KIND_LOGS_DIR" --name "$CLUSTER" >/dev/null 2>&1 || echo "e2e: warning: kind export logs failed" >&2
    fi
    if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
      echo "e2e: keeping kind cluster $CLUSTER (KEEP_CLUSTER=1): kind export kubeconfig --name $CLUSTER"
    else
      echo "e2e: deleting kind cluster $CLUSTER (KEEP_CLUSTER=1 keeps it)"
      kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null 2>&1 ||
        echo "e2e: warning: could not delete kind cluster $CLUSTER" >&2
    fi
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT

step "0: kind cluster $CLUSTER, operator image, deploy/"
clusters=$(kind get clusters 2>/dev/null || true)
if grep -Fxq -- "$CLUSTER" <<<"$clusters"; then
  echo "    reusing kind cluster $CLUSTER"
  REUSED=1
  CLUSTER_UP=1
  kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"
else
  REUSED=0
  CLUSTER_UP=1
  kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 180s \
    ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
fi
kubectl cluster-info | indent

check "Kubernetes >= 1.31 (the CRD's CEL rules and the admission policy need it)"
minor=$(kubectl get --raw /version | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p')
[[ -n $minor && $minor -ge 31 ]] ||
  fail "the cluster runs Kubernetes 1.${minor:-?}: 1.31 or later is needed (set KIND_NODE_IMAGE, e.g. kindest/node:v1.32.2)" \
    "kubectl version"
ok "Kubernetes 1.$minor"

if ((REUSED)); then
  echo "    removing what an earlier run left in namespace $NS"
  kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout="${TIMEOUT}s" | indent
fi

echo "    docker build -t $IMAGE -t $DEPLOY_IMAGE $ROOT"
docker build -t "$IMAGE" -t "$DEPLOY_IMAGE" "$ROOT"
if ! kind load docker-image "$IMAGE" "$DEPLOY_IMAGE" --name "$CLUSTER"; then
  echo "    kind load docker-image failed: loading a saved archive instead"
  docker save "$IMAGE" "$DEPLOY_IMAGE" -o "$WORK/image.tar"
  kind load image-archive "$WORK/image.tar" --name "$CLUSTER"
fi


run_scenario
