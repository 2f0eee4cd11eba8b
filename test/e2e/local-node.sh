#!/usr/bin/env bash
# End-to-end tests on a local node: the project's own control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler of the release pinned in test/controlplane/VERSION, built by test/controlplane/build.sh --node)
# plus one kubelet on containerd and runc, all on this machine, then the same scenario as kind.sh
# (test/e2e/scenario.sh). Where kind needs Docker, this needs root and a kernel that runs containers.
#
# Phases (each one's time is printed, and all of them at the end):
#   packages   containerd, runc, the CNI plugins, podman, debootstrap, iproute2, iptables from Debian's packages
#              (apt-get, when missing: a fresh CI machine may have none of them)
#   binaries   test/controlplane/build.sh --node (a cache hit after the first build)
#   images     the pause image; a STAND-IN for node:24-slim (debootstrap --variant=minbase + the Node 24 binary of
#              the npm package `node` + npm: node:24-slim cannot be pulled here); the operator image from the real
#              Dockerfile with podman; both imported into containerd (no registry anywhere), the operator image
#              under mtls-operator:e2e and under the name deploy/ gives it (ghcr.io/mtls-dev/mtls-operator:<tag>)
#   cluster    bridge, certificates, containerd, control plane, kubelet; node Ready
#   scenario   test/e2e/scenario.sh (the README's install section word for word, steps 1-8)
#   teardown   pods stopped, every process stopped by its PID, mounts and the bridge removed, $WORK deleted
#
# Network: loopback and the CNI bridge only. Pods live on the bridge ($E2E_POD_SUBNET, default 10.244.93.0/24); the
# node's address is the bridge's gateway, where the kubelet and the apiserver listen. No kube-proxy: one iptables
# DNAT rule (the only Service that routes) sends the `kubernetes` Service's address 10.0.0.1:443, which the kubelet
# gives pods as KUBERNETES_SERVICE_HOST/PORT, to the apiserver, so deploy/ runs unchanged. There is no cluster DNS:
# the test's clients get a hostAliases entry server.demo.svc -> the server pod's IP, so they dial the pod IP while TLS
# still verifies the DNS name.
#
# Run: sudo bash test/e2e/local-node.sh   (or: npm run test:e2e:local)
# Where the host cannot run containers (not root, no namespaces) it prints one line and exits 0 (skipped), unless
# CI=true or E2E_REQUIRED=1, where that is a failure.
# Environment: E2E_TIMEOUT (s per condition, default 240), KEEP_WORK=1 (keep $WORK and its logs), DEBIAN_MIRROR,
#   E2E_IMAGE_CACHE=DIR (developers: save the built images there, and import them instead of building next time),
#   E2E_ROOT_MINUTES (the e2e root CA's lifetime, default 15: step 7 reaches Retired at its expiry), E2E_POD_SUBNET,
#   E2E_BRIDGE, E2E_PODCERT=0 (skip step 9, pod certificates: ~12 min).
set -Eeuo pipefail

skip() {
  if [[ ${E2E_REQUIRED:-0} == 1 || ${CI:-} == true ]]; then
    echo "local-node e2e: FAILED: $1 (CI=true or E2E_REQUIRED=1: no skipping)" >&2
    exit 1
  fi
  echo "local-node e2e: SKIPPED: $1"
  exit 0
}
# (builtins only up to the tool check: PATH may hold nothing)
[[ $OSTYPE == linux* ]] || skip "needs Linux (this is $OSTYPE)"
((EUID == 0)) || skip "needs root (containerd, the kubelet, a bridge)"
missing=()
for tool in kubectl openssl node npm go unshare mount realpath; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
((${#missing[@]} == 0)) || skip "needs on PATH: ${missing[*]}"
unshare --mount --net --pid --fork true 2>/dev/null ||
  skip "this host cannot run containers: 'unshare --mount --net --pid --fork true' failed"

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
ROOT=$(cd "$here/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mtls-node.XXXXXX")
mkdir -p "$WORK/logs"
export KUBECONFIG=$WORK/admin.kubeconfig
IMAGE=mtls-operator:e2e
TIMEOUT=${E2E_TIMEOUT:-240}
NS=demo
TRUST_DOMAIN=cluster.local
SERVER_ID=spiffe://$TRUST_DOMAIN/ns/$NS/sa/server
CLIENT_ID=spiffe://$TRUST_DOMAIN/ns/$NS/sa/client
CLUSTER_UP=0
REUSED=0
STARTED=$SECONDS

log() { printf '[local-node] %s\n' "$*"; }
die() {
  printf '\nlocal-node e2e: FAILED in phase %s: %s\n' "${PHASE:-setup}" "$*" >&2
  exit 1
}

PHASE=
PHASE_AT=$SECONDS
TIMES=()
phase() {
  [[ -n $PHASE ]] && TIMES+=("$PHASE $((SECONDS - PHASE_AT))") && log "phase $PHASE: $((SECONDS - PHASE_AT)) s"
  PHASE=$1
  PHASE_AT=$SECONDS
  [[ $PHASE == end ]] || printf '\n##### local-node phase: %s (%s s)\n' "$PHASE" "$((SECONDS - STARTED))"
}

# shellcheck source=test/e2e/local-node/cluster.sh
source "$ROOT/test/e2e/local-node/cluster.sh"
# shellcheck source=test/e2e/local-node/images.sh
source "$ROOT/test/e2e/local-node/images.sh"

# --- the scenario's driver hooks ---------------------------------------------------------------
CLUSTER_DESC="local node $NODE_NAME"
# the operator image under the name deploy/ gives it: the README's `kubectl apply -k deploy/` runs it as is
DEPLOY_IMAGE=$(kubectl kustomize "$ROOT/deploy" | awk '$1 == "image:" { print $2; exit }')
[[ $DEPLOY_IMAGE == */*:* ]] || die "no image found in kubectl kustomize deploy/ (got '$DEPLOY_IMAGE')"
# kubectl-mtls on PATH (the README's `kubectl mtls init-root`), with the Node 24 of the npm package `node`
NODE24=$(readlink -f "$ROOT/node_modules/node/bin/node")
"$NODE24" --version 2>/dev/null | grep -q '^v2[4-9]\.' || die "no Node 24 at $ROOT/node_modules/node/bin/node (run npm ci)"
mkdir -p "$WORK/bin"
ln -s "$NODE24" "$WORK/bin/node"
ln -s "$ROOT/bin/kubectl-mtls.js" "$WORK/bin/kubectl-mtls"
export PATH=$WORK/bin:$PATH
DRIVER_DIAGNOSE=("tail -n 40 $WORK/logs/kubelet.log" "tail -n 20 $WORK/logs/containerd.log")
SERVER_IP=
pod_spec_extras() {
  [[ -n $SERVER_IP ]] || return 0
  printf '      hostAliases:\n        - ip: "%s"\n          hostnames: [server.demo.svc]\n' "$SERVER_IP"
}
with_pod_spec_extras() {
  if [[ -z $SERVER_IP ]]; then cat; return; fi
  kubectl patch --local -f - --type=merge -o yaml \
    -p "{\"spec\":{\"template\":{\"spec\":{\"hostAliases\":[{\"ip\":\"$SERVER_IP\",\"hostnames\":[\"server.demo.svc\"]}]}}}}"
}
server_name_routed() {
  local ip
  ip=$(kubectl -n "$NS" get pods -l app.kubernetes.io/name=server --field-selector=status.phase=Running \
    -o 'jsonpath={.items[0].status.podIP}')
  [[ -n $ip ]] || fail "the server pod has no IP"
  [[ $ip == "$SERVER_IP" ]] && return 0
  SERVER_IP=$ip
  echo "    no cluster DNS on the local node: server.demo.svc -> $SERVER_IP (hostAliases) in the clients"
  kubectl -n "$NS" patch deployment client --type=merge \
    -p "{\"spec\":{\"template\":{\"spec\":{\"hostAliases\":[{\"ip\":\"$SERVER_IP\",\"hostnames\":[\"server.demo.svc\"]}]}}}}" | indent
  kubectl -n "$NS" rollout status deployment/client --timeout="${TIMEOUT}s" | indent
}

teardown() {
  local code=$?
  trap - ERR
  phase teardown
  if [[ ${CLUSTER_UP:-0} == 1 ]]; then
    # pods first, through the kubelet (sandboxes and their network torn down properly), while it runs
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
    kubectl delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && [[ -n $(ctr_ -n k8s.io tasks ls -q 2>/dev/null) ]]; do sleep 2; done
  fi
  stop_node
  phase end
  printf '\nlocal-node phases:'
  local t
  for t in "${TIMES[@]}"; do printf ' %s=%ss' "${t% *}" "${t#* }"; done
  printf ' (total %s s)\n' "$((SECONDS - STARTED))"
  if [[ ${KEEP_WORK:-0} == 1 || $code != 0 && ${KEEP_WORK:-0} == failed ]]; then
    echo "local-node: keeping $WORK (logs in $WORK/logs)"
  else
    rm -rf "$WORK"
  fi
  exit "$code"
}
trap teardown EXIT

# ==============================================================================================
phase packages
need=()
for t in containerd ctr runc podman debootstrap ip iptables; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
CNI_BIN=/usr/lib/cni
[[ -x $CNI_BIN/bridge && -x $CNI_BIN/host-local ]] || need+=(cni)
if ((${#need[@]} > 0)); then
  log "installing from Debian: containerd runc containernetworking-plugins podman debootstrap iproute2 iptables (missing: ${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >"$WORK/logs/apt.log" 2>&1 || die "apt-get update failed: $(tail -5 "$WORK/logs/apt.log")"
  apt-get install -y --no-install-recommends containerd runc containernetworking-plugins podman debootstrap \
    iproute2 iptables >>"$WORK/logs/apt.log" 2>&1 || die "apt-get install failed: $(tail -5 "$WORK/logs/apt.log")"
fi
log "$(containerd --version | cut -d' ' -f1,3), $(runc --version | head -1), $(podman --version)"

phase binaries
BIN=$(bash "$ROOT/test/controlplane/build.sh" --node | tail -1)
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  [[ -x $BIN/$b ]] || die "no $b in $BIN"
done
log "Kubernetes $("$BIN/kubelet" --version | cut -d' ' -f2) in $BIN"

phase cluster
make_bridge
make_certs
pick_snapshotter
log "containerd snapshotter: $SNAPSHOTTER"
start_containerd
start_control_plane
CLUSTER_UP=1
start_kubelet
route_kubernetes_service
kubectl get nodes -o wide | sed 's/^/    /'

phase images
if [[ -n ${E2E_IMAGE_CACHE:-} && -f $E2E_IMAGE_CACHE/operator.tar && -f $E2E_IMAGE_CACHE/pause.tar ]]; then
  # developers only: the images of an earlier run (CI never sets it; it would not test this checkout's Dockerfile)
  log "E2E_IMAGE_CACHE: importing the images of an earlier run from $E2E_IMAGE_CACHE (not built)"
  import_images "$E2E_IMAGE_CACHE"
else
  podman_setup
  s=$SECONDS; build_pause_image; log "pause image: $((SECONDS - s)) s"
  s=$SECONDS; build_base_image; log "node:24-slim stand-in: $((SECONDS - s)) s"
  s=$SECONDS; build_operator_image; log "operator image from the Dockerfile: $((SECONDS - s)) s"
  save_images "${E2E_IMAGE_CACHE:-$WORK/images}"
  import_images "${E2E_IMAGE_CACHE:-$WORK/images}"
  rm -rf "$WORK/podman" "$WORK/images" # the podman store: the images are in containerd now
fi
ctr_ -n k8s.io images tag --force "docker.io/library/$IMAGE" "$DEPLOY_IMAGE" >/dev/null ||
  die "ctr images tag docker.io/library/$IMAGE $DEPLOY_IMAGE failed"
ctr_ -n k8s.io images ls -q | grep -v '^sha256:' | sed 's/^/    /'

phase scenario
# step 9 (pod certificates, test/e2e/scenario-podcert.sh): this node runs 1.37.2, which serves the API; E2E_PODCERT=0 skips it
export E2E_PODCERT=${E2E_PODCERT:-1}
# shellcheck source=test/e2e/scenario.sh
source "$ROOT/test/e2e/scenario.sh"
run_scenario
