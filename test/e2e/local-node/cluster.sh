# Sourced by test/e2e/local-node.sh: one node's cluster, every process started here and stopped by its PID.
#   etcd, kube-apiserver (Node,RBAC; NodeRestriction), kube-controller-manager, kube-scheduler  — from the control
#   plane's build cache (test/controlplane/build.sh --node), flags and certificates as test/support/controlplane.ts;
#   containerd (its own config, root, state and socket under $WORK) with runc; one kubelet, node $NODE_NAME.
# Network: pods sit on the CNI bridge $BRIDGE ($POD_SUBNET). The bridge's gateway address is the node's address
# (the kubelet refuses a loopback node IP) and where the kubelet and the apiserver listen: the one address both
# the host and the pods reach. No kube-proxy: one DNAT rule routes the `kubernetes` Service (10.0.0.1:443, what
# the kubelet gives pods as KUBERNETES_SERVICE_HOST/PORT) to the apiserver; no other Service IP routes.
# Etcd, the controller-manager and the scheduler stay on 127.0.0.1. Nothing else.
# Needs: WORK, BIN, log, die.

NODE_NAME=${NODE_NAME:-node1}
BRIDGE=${E2E_BRIDGE:-mtlse2e0}
POD_SUBNET=${E2E_POD_SUBNET:-10.244.93.0/24}
GATEWAY=${POD_SUBNET%.*}.1
PIDS=()

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# start NAME COMMAND...: in the background, log in $WORK/logs/NAME.log, PID remembered.
start() {
  local name=$1
  shift
  "$@" >"$WORK/logs/$name.log" 2>&1 9>&- &
  PIDS+=("$!:$name")
  log "started $name (pid $!)"
}

# stop_all: SIGTERM each process in reverse order, SIGKILL after 15 s.
stop_all() {
  local i entry pid name
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    entry=${PIDS[i]}
    pid=${entry%%:*} name=${entry#*:}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) still running after 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

alive_or_die() {
  local entry
  for entry in "${PIDS[@]}"; do
    kill -0 "${entry%%:*}" 2>/dev/null ||
      die "${entry#*:} exited; the end of its log:"$'\n'"$(tail -25 "$WORK/logs/${entry#*:}.log")"
  done
}

# until_ok SECONDS WHAT COMMAND...
until_ok() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive_or_die
    ((SECONDS < deadline)) || die "$what: not within $(( $1 )) s"
    sleep 1
  done
}

make_certs() {
  local d=$WORK/pki
  mkdir -p "$d"
  (
    cd "$d"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=local-node-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
    leaf() { # NAME SUBJECT EXTENSIONS
      openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%b' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out "$1.crt" -extfile "$1.ext" 2>/dev/null
    }
    local client='extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n'
    leaf apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:$GATEWAY,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
    leaf admin /O=system:masters/CN=admin "$client"
    leaf controller-manager /CN=system:kube-controller-manager "$client"
    leaf scheduler /CN=system:kube-scheduler "$client"
    # the kubelet: a client certificate in system:nodes (the Node authorizer and NodeRestriction know it by its
    # name), and a serving certificate for the apiserver's logs/exec calls to the node address
    leaf kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
    leaf kubelet-serving "/CN=$NODE_NAME" "subjectAltName=IP:$GATEWAY,IP:127.0.0.1,DNS:$NODE_NAME\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
    leaf apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client "$client"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub
  )
}

kubeconfig_for() { # NAME → $WORK/NAME.kubeconfig
  local n=$1
  cat >"$WORK/$n.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local-node
  cluster: {server: "$SERVER", certificate-authority: "$WORK/pki/ca.crt"}
users:
- name: $n
  user: {client-certificate: "$WORK/pki/$n.crt", client-key: "$WORK/pki/$n.key"}
contexts:
- name: local-node
  context: {cluster: local-node, user: $n}
current-context: local-node
KC
  chmod 600 "$WORK/$n.kubeconfig"
}

# One run per bridge at a time: a second run waits for the first (E2E_LOCK_WAIT seconds, default 5400) instead of
# failing on its bridge. The lock is an flock on fd 9, held until this shell exits (however it exits: the kernel
# releases it); the processes started here do not inherit it (start closes fd 9). Lock file in E2E_LOCK_DIR,
# default /run/lock (else $TMPDIR).
LOCK_WAIT=${E2E_LOCK_WAIT:-5400}
lock_node() {
  local dir=${E2E_LOCK_DIR:-/run/lock}
  [[ -d $dir && -w $dir ]] || dir=${TMPDIR:-/tmp}
  LOCK_FILE=$dir/mtls-e2e-$BRIDGE.lock
  exec 9>>"$LOCK_FILE"
  if ! flock -n 9; then
    log "another local-node run holds $LOCK_FILE (bridge $BRIDGE): waiting up to $LOCK_WAIT s"
    flock -w "$LOCK_WAIT" 9 ||
      die "another local-node run held $LOCK_FILE (bridge $BRIDGE) for more than $LOCK_WAIT s (E2E_LOCK_WAIT)"
  fi
}

# What a run that was killed (no teardown) left: its bridge and its DNAT rules on that bridge. Only called with
# the lock held, so no live run owns them.
remove_stale() {
  local line
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "bridge $BRIDGE is left from a run that did not tear down: removing it"
    ip link del "$BRIDGE" || die "could not remove the stale bridge $BRIDGE (ip link del $BRIDGE)"
  fi
  while read -r line; do
    [[ $line == "-A PREROUTING -i $BRIDGE "*'mtls-e2e '* ]] || continue
    log "removing a stale DNAT rule: $line"
    eval "iptables -t nat -D ${line#-A }" || die "could not remove the stale rule: $line"
  done < <(iptables -t nat -S PREROUTING 2>/dev/null)
}

# The bridge exists before the apiserver binds its gateway address; the CNI bridge plugin adopts it.
make_bridge() {
  lock_node
  remove_stale
  ip link add "$BRIDGE" type bridge
  BRIDGE_MADE=1
  ip addr add "$GATEWAY/${POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

remove_bridge() {
  unroute_kubernetes_service
  if [[ ${BRIDGE_MADE:-0} == 1 ]]; then ip link del "$BRIDGE" 2>/dev/null || true; fi
}

# What kube-proxy would do for the one Service the operator needs: pods on the bridge reach the apiserver at
# the `kubernetes` Service's address. The rule names the bridge and carries a comment with $WORK, so removing it
# (by that exact spec) never touches another run's.
SERVICE_IP=10.0.0.1
service_rule() {
  printf '%s\n' PREROUTING -i "$BRIDGE" -d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "mtls-e2e $WORK" \
    -j DNAT --to-destination "$GATEWAY:$API_PORT"
}
route_kubernetes_service() {
  local rule ip
  mapfile -t rule < <(service_rule)
  iptables -t nat -A "${rule[@]}" || die "iptables could not add the DNAT rule for the kubernetes Service"
  SERVICE_ROUTED=1
  ip=$(kubectl --kubeconfig "$WORK/admin.kubeconfig" -n default get service kubernetes -o 'jsonpath={.spec.clusterIP}')
  [[ $ip == "$SERVICE_IP" ]] || die "the kubernetes Service has address '$ip', not $SERVICE_IP"
  log "kubernetes Service $SERVICE_IP:443 -> apiserver $GATEWAY:$API_PORT (iptables DNAT on $BRIDGE)"
}
unroute_kubernetes_service() {
  [[ ${SERVICE_ROUTED:-0} == 1 ]] || return 0
  local rule
  mapfile -t rule < <(service_rule)
  iptables -t nat -D "${rule[@]}" 2>/dev/null || true
  SERVICE_ROUTED=0
}

# overlayfs where the filesystem takes it, else containerd's native snapshotter
pick_snapshotter() {
  local t=$WORK/ovl
  mkdir -p "$t"/{l,u,w,m}
  if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
    umount "$t/m"
    SNAPSHOTTER=overlayfs
  else
    SNAPSHOTTER=native
  fi
  rm -rf "$t"
}

start_containerd() {
  local c=$WORK/containerd
  mkdir -p "$c" "$WORK/cni/net.d" "$WORK/cni/ipam"
  cat >"$WORK/cni/net.d/10-mtls-e2e.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "mtls-e2e", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "isDefaultGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$GATEWAY"}]], "dataDir": "$WORK/cni/ipam"}}
]}
CNI
  # isDefaultGateway: pods route everything through the bridge's gateway, so the kubernetes Service's address
  # (DNAT'ed there, route_kubernetes_service) is reachable; nothing is masqueraded, nothing goes past the host.
  # restrict_oom_score_adj: without it every sandbox fails here with "can't get final child's PID from pipe";
  # SystemdCgroup = false: the cgroupfs driver (no systemd), as the kubelet's.
  cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$SNAPSHOTTER"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$WORK/cni/net.d"
TOML
  start containerd containerd --config "$c/config.toml"
  CONTAINERD_SOCK=$c/containerd.sock
  until_ok 60 containerd ctr_ version
}

ctr_() { ctr --address "$CONTAINERD_SOCK" "$@"; }

start_control_plane() {
  local etcd_port peer_port kcm_port sched_port
  etcd_port=$(free_port) peer_port=$(free_port) API_PORT=$(free_port) kcm_port=$(free_port) sched_port=$(free_port)
  KUBELET_PORT=$(free_port)
  SERVER=https://$GATEWAY:$API_PORT
  for n in admin controller-manager scheduler kubelet; do kubeconfig_for "$n"; done
  mkdir -p "$WORK/etcd" "$WORK/logs"
  start etcd "$BIN/etcd" --data-dir "$WORK/etcd" --name local-node \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "local-node=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
  local p=$WORK/pki
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$GATEWAY" --advertise-address "$GATEWAY" --secure-port "$API_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$p/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true --cert-dir "$WORK/apiserver-certs" --v 1
  until_ok 180 "kube-apiserver /readyz" kubectl --kubeconfig "$WORK/admin.kubeconfig" get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$WORK/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$WORK/controller-manager.kubeconfig" --authorization-kubeconfig "$WORK/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --leader-elect=false --use-service-account-credentials=true \
    --root-ca-file "$p/ca.crt" --service-account-private-key-file "$p/sa.key" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" --controllers '*' --v 1
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$WORK/scheduler.kubeconfig" \
    --authentication-kubeconfig "$WORK/scheduler.kubeconfig" --authorization-kubeconfig "$WORK/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false --v 1
}

start_kubelet() {
  local k=$WORK/kubelet
  mkdir -p "$k/root"
  cat >"$k/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
cgroupDriver: cgroupfs
# these machines run cgroup v1 (hybrid); 1.37's kubelet refuses it unless told not to
failCgroupV1: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $WORK/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $WORK/pki/kubelet-serving.crt
tlsPrivateKeyFile: $WORK/pki/kubelet-serving.key
failSwapOn: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# a loaded shared machine: no evictions for disk or memory pressure, no image GC
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
localStorageCapacityIsolation: false
syncFrequency: 10s
YAML
  start kubelet "$BIN/kubelet" --config "$k/config.yaml" --kubeconfig "$WORK/kubelet.kubeconfig" \
    --root-dir "$k/root" --cert-dir "$k/pki" --hostname-override "$NODE_NAME" --node-ip "$GATEWAY" --v 1
  until_ok 180 "node $NODE_NAME registered" kubectl --kubeconfig "$WORK/admin.kubeconfig" get node "$NODE_NAME"
  until_ok 180 "node $NODE_NAME Ready" kubectl --kubeconfig "$WORK/admin.kubeconfig" wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
}

# Pods left by the kubelet: stop them through containerd before containerd goes, unmount the kubelet's volumes.
stop_node() {
  if [[ -n ${CONTAINERD_SOCK:-} && -S $CONTAINERD_SOCK ]] && command -v crictl >/dev/null 2>&1; then
    crictl --runtime-endpoint "unix://$CONTAINERD_SOCK" rmp -fa >/dev/null 2>&1 || true
  fi
  if [[ -n ${CONTAINERD_SOCK:-} && -S $CONTAINERD_SOCK ]]; then
    local t
    for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do ctr_ -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop_all
  # the kubelet's secret/configmap tmpfs mounts and containerd's sandbox mounts
  local m
  for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  remove_bridge
}
