#!/usr/bin/env bash
# Builds the tiny Linux guest the qemu driver's tests and benchmark boot, without internet:
#   - the current Debian cloud kernel (apt-get download linux-image-*-cloud-amd64 + dpkg -x),
#   - a busybox (busybox-static) initramfs whose /init loads the virtio modules, brings up eth0 with
#     udhcpc, fetches its metadata from the Meta API, reports disks and prints marker lines on the
#     serial console (markers are for tests only; the driver never reads the console),
#   - a bootable raw disk (FAT + syslinux, kernel and initramfs inside) and its qcow2 copy, to test
#     booting from `options.images` with SeaBIOS.
# Output (default .shoal-test/guest/, override with SHOAL_TEST_GUEST_DIR):
#   vmlinuz  initrd.img  boot.raw  boot.qcow2  guest.env (paths + sha256 sums)
# Idempotent and cached: a second run with the same kernel package and script is a no-op.
# Safe to call from several test processes at once (flock). Needs root only for apt-get download.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${SHOAL_TEST_GUEST_DIR:-$ROOT/.shoal-test/guest}
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -w 600 9 || { echo "build-test-guest: could not lock $OUT/.lock" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-test-guest: '$1' is missing (run scripts/setup-host.sh; package $2)" >&2; exit 1; }; }
need busybox busybox-static
need cpio cpio
need mkfs.vfat dosfstools
need mcopy mtools
need syslinux syslinux
need qemu-img qemu-utils
need dpkg-deb dpkg
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || { echo "build-test-guest: syslinux-common is missing" >&2; exit 1; }
BUSYBOX=$(command -v busybox)
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || { echo "build-test-guest: $BUSYBOX is not static (install busybox-static)" >&2; exit 1; }

# The kernel package: the one the linux-image-cloud-amd64 meta-package points at, else the newest
# linux-image-<ver>-cloud-amd64 apt knows. Cached .deb files are reused without asking apt.
pick_kernel_pkg() {
  local p
  p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-.*-cloud-amd64$/ {print $2; exit}')
  if [ -z "$p" ]; then
    p=$(apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
  fi
  echo "$p"
}
DEB=$(ls "$OUT"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$DEB" ]; then
  PKG=$(pick_kernel_pkg)
  if [ -z "$PKG" ]; then apt-get update -qq >/dev/null 2>&1 || true; PKG=$(pick_kernel_pkg); fi
  [ -n "$PKG" ] || { echo "build-test-guest: apt knows no linux-image-*-cloud-amd64 package (apt-get update?)" >&2; exit 1; }
  echo "build-test-guest: downloading $PKG"
  (cd "$OUT" && apt-get download -qq "$PKG" 2>&1 | grep -v 'unsandboxed' || true)
  DEB=$(ls "$OUT"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$DEB" ]; then
    # stale package lists name a version the mirror no longer has: refresh once and retry
    apt-get update -qq >/dev/null 2>&1 || true
    PKG=$(pick_kernel_pkg)
    echo "build-test-guest: downloading $PKG (after apt-get update)"
    (cd "$OUT" && apt-get download -qq "$PKG" 2>&1 | grep -v 'unsandboxed' || true)
    DEB=$(ls "$OUT"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
  fi
  [ -n "$DEB" ] || { echo "build-test-guest: apt-get download $PKG produced no .deb" >&2; exit 1; }
fi

STAMP="$(basename "$DEB") $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16) $(sha256sum "$BUSYBOX" | cut -c1-16)"
if [ -f "$OUT/guest.env" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ] \
  && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] && [ -f "$OUT/boot.raw" ] && [ -f "$OUT/boot.qcow2" ]; then
  exit 0
fi

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$DEB" "$WORK/kernel"
KVER=$(ls "$WORK/kernel/lib/modules" | head -1)
VMLINUZ="$WORK/kernel/boot/vmlinuz-$KVER"
[ -f "$VMLINUZ" ] || { echo "build-test-guest: no vmlinuz in $DEB" >&2; exit 1; }

# --- initramfs -----------------------------------------------------------------------------------
IR="$WORK/initramfs"
mkdir -p "$IR"/{bin,dev,proc,sys,tmp,mnt,etc/acpi/PWRF,lib/modules,usr/share/udhcpc}
cp "$BUSYBOX" "$IR/bin/busybox"
for a in sh mount umount insmod ip udhcpc wget timeout cat echo sleep poweroff sync mkdir ls acpid nc printf \
  grep sed awk tr head tail wc date dd sha256sum blockdev route ifconfig hostname uname; do
  ln -sf busybox "$IR/bin/$a"
done
# module load order (dependencies first); a missing one is an error, built-in ones are skipped
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk button evdev"
: >"$IR/etc/modules"
for m in $MODS; do
  if grep -qE "/$m\.ko" "$WORK/kernel/lib/modules/$KVER/modules.builtin" 2>/dev/null; then continue; fi
  f=$(find "$WORK/kernel/lib/modules/$KVER" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "build-test-guest: module $m not found in $KVER" >&2; exit 1; }
  case "$f" in
    *.ko) cp "$f" "$IR/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$IR/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$IR/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$IR/lib/modules/$m.ko" ;;
    *) echo "build-test-guest: unknown module file $f" >&2; exit 1 ;;
  esac
  echo "$m" >>"$IR/etc/modules"
done

cat >"$IR/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure the interface from the lease
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "SHOAL-GUEST ip=$ip" ;;
esac
exit 0
EOF
chmod +x "$IR/usr/share/udhcpc/default.script"

# ACPI power button (QMP system_powerdown) -> flush disks and power off
cat >"$IR/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "SHOAL-GUEST powerdown"
sync
umount -a -r 2>/dev/null
poweroff -f
EOF
chmod +x "$IR/etc/acpi/PWRF/00000080"
echo "PWRF PWRF/00000080" >"$IR/etc/acpid.conf"

cat >"$IR/init" <<'EOF'
#!/bin/sh
# Shoal test guest. Kernel command line options (all optional):
#   shoal.meta=URL      metadata URL (default http://169.254.169.254/meta/v1/data)
#   shoal.mac=MAC       set eth0's MAC before fetching (tests: a guest impersonating another)
#   shoal.probe=IP:PORT[,IP:PORT…] after the metadata, try an HTTP GET at each and report ok/failed
#   shoal.hold=N        then open N connections to the Meta API that send half a request and stay open
#   shoal.poll=SECONDS  keep fetching the metadata every SECONDS, printing SHOAL-GUEST poll lines
#   shoal.scribble=1    write random bytes over the last 64 KiB of the boot disk (vda)
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo "SHOAL-GUEST init $(uname -r)"
for m in $(cat /etc/modules); do insmod "/lib/modules/$m.ko" || echo "SHOAL-GUEST insmod $m failed"; done
acpid -c /etc/acpi -a /etc/acpid.conf -l /tmp/acpid.log || echo "SHOAL-GUEST acpid failed"

arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}"; return;; esac; done; }
META=$(arg shoal.meta); [ -n "$META" ] || META=http://169.254.169.254/meta/v1/data
MAC=$(arg shoal.mac); PROBE=$(arg shoal.probe); POLL=$(arg shoal.poll); SCRIBBLE=$(arg shoal.scribble); HOLD=$(arg shoal.hold)

echo "SHOAL-GUEST cpus=$(grep -c ^processor /proc/cpuinfo) memkb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
if [ -n "$MAC" ]; then ip link set eth0 address "$MAC" && echo "SHOAL-GUEST mac-set $MAC"; fi
echo "SHOAL-GUEST mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"
ip link set eth0 up
udhcpc -i eth0 -q -n -t 10 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 || echo "SHOAL-GUEST dhcp failed"

fetch() { rm -f /tmp/meta; timeout 15 wget -q -O /tmp/meta "$META" 2>/dev/null && [ -s /tmp/meta ]; }
n=0
until fetch; do
  n=$((n+1)); [ $n -ge 20 ] && break
  sleep 1
done
if [ -s /tmp/meta ]; then
  echo "SHOAL-GUEST meta-begin"; cat /tmp/meta; echo; echo "SHOAL-GUEST meta-end"
  echo "SHOAL-GUEST meta-ok"
else
  echo "SHOAL-GUEST meta-failed"
fi

# disks: name (virtio serial), size, and for ext4 disks the previous content of shoal.txt
for d in /sys/block/vd*; do
  [ -e "$d" ] || continue
  dev=${d##*/}
  serial=$(cat "$d/serial" 2>/dev/null)
  bytes=$(( $(cat "$d/size") * 512 ))
  echo "SHOAL-GUEST disk serial=$serial dev=$dev bytes=$bytes"
  mkdir -p "/mnt/$serial"
  if mount -t ext4 "/dev/$dev" "/mnt/$serial" 2>/dev/null; then
    if [ -f "/mnt/$serial/shoal.txt" ]; then
      echo "SHOAL-GUEST disk-data serial=$serial $(cat "/mnt/$serial/shoal.txt")"
    else
      echo "SHOAL-GUEST disk-data serial=$serial <none>"
    fi
    tr -d '\n' </tmp/meta >"/mnt/$serial/shoal.txt" 2>/dev/null
    sync
    echo "SHOAL-GUEST disk-written serial=$serial"
  fi
done
if [ "$SCRIBBLE" = 1 ] && [ -e /dev/vda ]; then
  sectors=$(cat /sys/block/vda/size)
  dd if=/dev/urandom of=/dev/vda bs=512 seek=$((sectors-128)) count=128 conv=fsync 2>/dev/null && echo "SHOAL-GUEST scribbled"
fi
for target in $(echo "$PROBE" | tr ',' ' '); do
  rm -f /tmp/probe
  if timeout 8 wget -q -O /tmp/probe "http://$target/" 2>/dev/null; then
    echo "SHOAL-GUEST probe $target ok $(head -c 64 /tmp/probe)"
  else
    echo "SHOAL-GUEST probe $target failed"
  fi
done
if [ -n "$HOLD" ]; then
  hp=${META#http://}; hp=${hp%%/*}; hh=${hp%%:*}; hport=80
  case "$hp" in *:*) hport=${hp##*:};; esac
  k=0
  while [ $k -lt "$HOLD" ]; do
    (printf 'GET /meta/v1/data HTTP/1.1\r\nHost: meta\r\n'; sleep 600) | nc "$hh" "$hport" >/dev/null 2>&1 &
    k=$((k+1))
  done
  echo "SHOAL-GUEST holding $HOLD"
fi
echo "SHOAL-GUEST ready"

if [ -n "$POLL" ]; then
  k=0
  while true; do
    sleep "$POLL"; k=$((k+1))
    if fetch; then echo "SHOAL-GUEST poll $k ok $(tr -d '\n' </tmp/meta)"; else echo "SHOAL-GUEST poll $k failed"; fi
  done
fi
while true; do sleep 3600; done
EOF
chmod +x "$IR/init"
# the kernel opens /dev/console before /init runs (devtmpfs is mounted later)
mknod -m 600 "$IR/dev/console" c 5 1
mknod -m 666 "$IR/dev/null" c 1 3
(cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9) >"$WORK/initrd.img"

# --- bootable disk: FAT + syslinux with the same kernel and initramfs ----------------------------
RAW="$WORK/boot.raw"
truncate -s 64M "$RAW"
mkfs.vfat -n SHOALBOOT "$RAW" >/dev/null
cp "$VMLINUZ" "$WORK/vmlinuz"
cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT shoal
TIMEOUT 1
PROMPT 0
LABEL shoal
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0 quiet panic=-1 shoal.scribble=1
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$RAW" "$WORK/vmlinuz" ::/vmlinuz
mcopy -i "$RAW" "$WORK/initrd.img" ::/initrd.img
mcopy -i "$RAW" "$WORK/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$RAW"
qemu-img convert -q -f raw -O qcow2 "$RAW" "$WORK/boot.qcow2"

for f in vmlinuz initrd.img boot.raw boot.qcow2; do mv -f "$WORK/$f" "$OUT/$f"; done
{
  echo "SHOAL_GUEST_KERNEL_VERSION=$KVER"
  for f in vmlinuz initrd.img boot.raw boot.qcow2; do
    key=$(echo "$f" | tr 'a-z.' 'A-Z_')
    echo "SHOAL_GUEST_${key}=$OUT/$f"
    echo "SHOAL_GUEST_${key}_SUM=sha256:$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
} >"$OUT/guest.env.tmp"
mv -f "$OUT/guest.env.tmp" "$OUT/guest.env"
echo "$STAMP" >"$OUT/.stamp"
echo "build-test-guest: built $OUT (kernel $KVER)"
