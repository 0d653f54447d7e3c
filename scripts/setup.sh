#!/bin/sh
# Sets up a fresh Debian machine for tsrun, as root: the apt packages tsrun,
# its tests, demos and benchmarks use; npm ci (the pinned Node 24 comes with
# it); the build; a busybox rootfs for examples/busybox. Then runs that example.
#   sudo scripts/setup.sh            (set TSRUN_SETUP_NO_RUN=1 to skip the example)
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "setup: run as root (tsrun creates namespaces, mounts and cgroups)" >&2; exit 1; fi
packages="busybox-static musl-tools gcc libc6-dev libseccomp-dev iproute2 iptables util-linux procps runc crun tini dumb-init catatonit iperf3 sockperf hyperfine containerd podman conmon e2fsprogs xfsprogs chromium uidmap"
missing=""
for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
examples/busybox/make-rootfs.sh examples/busybox/rootfs
if [ "${TSRUN_SETUP_NO_RUN:-}" != 1 ]; then
  echo "setup: running examples/busybox with tsrun"
  bin/tsrun run --bundle examples/busybox "example-$$"
fi
