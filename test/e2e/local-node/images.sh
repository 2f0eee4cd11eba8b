# Sourced by test/e2e/local-node.sh: the images of the local node, built here (no registry can be reached).
#   node:24-slim   A STAND-IN for the official image, which cannot be pulled here: a debootstrap --variant=minbase
#                  Debian with the Node 24 binary of the npm package `node` (node_modules/node/bin/node) and the
#                  host's npm. Same name as the Dockerfile's FROM, so the real Dockerfile builds unchanged.
#   mtls-pause     the sandbox (pause) image: a static Go program that waits for SIGTERM/SIGINT.
#   mtls-operator:e2e  built from the real Dockerfile by podman.
# Every image goes into a podman store under $WORK (removed at the end), then into containerd (ctr images import).
# Needs: WORK, ROOT, log, die, ctr_ (ctr bound to the node's containerd).

PAUSE_IMAGE=docker.io/library/mtls-pause:local
BASE_IMAGE=docker.io/library/node:24-slim
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}

podman_() {
  CONTAINERS_CONF=$WORK/podman/containers.conf CONTAINERS_REGISTRIES_CONF=$WORK/podman/registries.conf \
    podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver "$PODMAN_DRIVER" \
    --cgroup-manager cgroupfs --events-backend file "$@"
}

podman_setup() {
  mkdir -p "$WORK/podman"
  # default_ulimits = []: podman's default nofile/nproc limits cannot be set in this sandbox.
  cat >"$WORK/podman/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  # no registry at all: every FROM must be found locally
  printf 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n' >"$WORK/podman/registries.conf"
  PODMAN_DRIVER=${PODMAN_DRIVER:-vfs}
}

# The stand-in for node:24-slim.
build_base_image() {
  local rootfs=$WORK/rootfs node_bin npm_dir
  node_bin=$(readlink -f "$ROOT/node_modules/node/bin/node")
  [[ -x $node_bin ]] || die "no Node binary at $ROOT/node_modules/node/bin/node (run npm ci)"
  "$node_bin" --version | grep -q '^v24\.' || die "$node_bin is not Node 24"
  # npm's own directory, from where its command lives (npm root -g would follow the Node 24 that the driver puts
  # first on PATH, and that one ships no npm)
  npm_dir=$(readlink -f "$(command -v npm)")
  npm_dir=${npm_dir%/bin/npm-cli.js}
  [[ -f $npm_dir/bin/npm-cli.js ]] || die "no npm at $npm_dir (from $(command -v npm))"
  log "stand-in node:24-slim: debootstrap --variant=minbase $DEBIAN_SUITE + Node $("$node_bin" --version) + npm $(node "$npm_dir/bin/npm-cli.js" --version 2>/dev/null)"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The host's registry and the CAs the host trusts (this environment's egress goes through a TLS proxy with its
  # own CA): npm ci in the Dockerfile's build stage reaches the registry as the host does (--network=host).
  # The official image has neither; nothing of it reaches the final stage but node_modules.
  mkdir -p "$rootfs/usr/local/etc" "$rootfs/etc/ssl/certs"
  local cafile
  cafile=$(npm config get cafile 2>/dev/null || true)
  [[ -f $cafile ]] || cafile=/etc/ssl/certs/ca-certificates.crt
  if [[ -f $cafile ]]; then
    cp "$cafile" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/usr/local/etc/npmrc"
  fi
  printf 'registry=%s\nfund=false\naudit=false\nupdate-notifier=false\n' "$(npm config get registry)" >>"$rootfs/usr/local/etc/npmrc"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman_ import --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

build_pause_image() {
  local d=$WORK/pause
  mkdir -p "$d/src" "$d/rootfs"
  cat >"$d/src/main.go" <<'GO'
// pause: the sandbox's first process; waits until told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
GO
  printf 'module pause\n\ngo 1.21\n' >"$d/src/go.mod"
  (cd "$d/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$d/rootfs/pause" .) ||
    die "building the pause binary failed"
  tar -C "$d/rootfs" -c . | podman_ import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' - "$PAUSE_IMAGE" >/dev/null
}

build_operator_image() {
  # --network=host: the build stage's npm ci reaches the npm registry as the host does (no podman network made)
  podman_ build --pull=never --network=host -t "docker.io/library/$IMAGE" \
    -f "$ROOT/Dockerfile" "$ROOT" >"$WORK/podman-build.log" 2>&1 ||
    die "podman build of the Dockerfile failed: $(tail -20 "$WORK/podman-build.log")"
}

# save_images DIR: podman → docker-archives DIR/pause.tar, DIR/operator.tar
save_images() {
  mkdir -p "$1"
  podman_ save --format docker-archive -o "$1/pause.tar" "$PAUSE_IMAGE" >/dev/null
  podman_ save --format docker-archive -o "$1/operator.tar" "docker.io/library/$IMAGE" >/dev/null
}

# import_images DIR: the archives into containerd's k8s.io namespace (the CRI's).
import_images() {
  local f
  for f in pause operator; do
    ctr_ -n k8s.io images import --snapshotter "$SNAPSHOTTER" "$1/$f.tar" >/dev/null ||
      die "ctr images import of $1/$f.tar failed"
  done
}
