#!/usr/bin/env bash
# Makes this machine ready for Shoal's real drivers and tests: installs Debian packages that are
# missing, starts the Docker daemon and PostgreSQL when they do not answer, and creates the test
# database. Idempotent and quick when everything is already there. Needs root.
set -euo pipefail

PKGS=(docker.io qemu-system-x86 qemu-utils postgresql busybox-static iptables xfsprogs e2fsprogs zstd xz-utils iproute2 procps util-linux cpio curl socat syslinux syslinux-common mtools dosfstools openssh-client openssh-server faketime docker-registry apache2-utils openssl)
PKGS+=(bubblewrap) # the native driver (sandboxes)
# the Debian cloud image the qemu cloud-init test boots (scripts/build-debian-image.sh)
PKGS+=(mmdebstrap fdisk)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Docker daemon
if ! curl -sf --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1; then
  echo "setup-host: starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 100); do
    curl -sf --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -sf --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null || { echo "setup-host: dockerd did not answer"; tail -20 /var/log/dockerd.log; exit 1; }
fi

# PostgreSQL (loopback only) and the test database
PGVER=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  echo "setup-host: starting PostgreSQL $PGVER"
  pg_lsclusters -h | grep -q "^$PGVER main" || pg_createcluster "$PGVER" main >/dev/null
  pg_ctlcluster "$PGVER" main start
fi
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='shoal'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE shoal LOGIN SUPERUSER PASSWORD 'shoal'\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='shoal_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O shoal shoal_test"
echo "setup-host: ready (docker, qemu, postgresql)"
