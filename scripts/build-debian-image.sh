#!/usr/bin/env bash
# Builds a Debian 12 cloud image from the Debian package mirror only (no other download): what the
# qemu driver's cloud-init test boots, and a stand-in for Debian's own "genericcloud" images.
#   - mmdebstrap (bookworm, the mirror apt uses) with linux-image-cloud-amd64, cloud-init,
#     openssh-server, ifupdown + isc-dhcp-client, sudo, curl; no SSH host keys (each VM makes its
#     own at first boot), no machine-id, cloud-init left at its defaults (it finds Shoal through the
#     NoCloud-net seed the driver puts in the SMBIOS serial);
#   - a raw disk with an MBR (syslinux's mbr.bin), partition 1 FAT (bootable: syslinux, the kernel
#     and the initramfs), partition 2 ext4 labelled `debian-root`: the image boots with its own
#     bootloader, as a stock cloud image does (no -kernel needed). Made without loop mounts.
#   - converted to qcow2.
# Output: $SHOAL_DEBIAN_IMAGE_DIR (default /var/cache/shoal-test/debian-12)/<key>/ with
#   debian-12.qcow2  vmlinuz  initrd.img  image.env (paths + sha256 sums)
# where <key> hashes this script (which holds the package list): a second run is a no-op, a changed
# script builds a new image and removes the old one. Prints the image.env path on stdout. Needs root (mmdebstrap).
# Safe to call from several processes at once (flock).
set -euo pipefail

PACKAGES=systemd-sysv,udev,dbus,linux-image-cloud-amd64,cloud-init,openssh-server,ifupdown,isc-dhcp-client,iproute2,curl,sudo,netbase
SUITE=bookworm
BOOT_MIB=128
DISK_MIB=3072

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-debian-image: '$1' is missing (run scripts/setup-host.sh; package $2)" >&2; exit 1; }; }
need mmdebstrap mmdebstrap
need mkfs.ext4 e2fsprogs
need mkfs.vfat dosfstools
need mcopy mtools
need syslinux syslinux
need sfdisk fdisk
need qemu-img qemu-utils
MBR=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$MBR" ] && [ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || { echo "build-debian-image: syslinux-common is missing" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "build-debian-image: needs root (mmdebstrap)" >&2; exit 1; }

BASE=${SHOAL_DEBIAN_IMAGE_DIR:-/var/cache/shoal-test/debian-12}
KEY=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
OUT="$BASE/$KEY"
mkdir -p "$BASE"
exec 9>"$BASE/.lock"
flock -w 900 9 || { echo "build-debian-image: could not lock $BASE/.lock" >&2; exit 1; }
if [ -f "$OUT/image.env" ]; then
  echo "$OUT/image.env"
  exit 0
fi

# the mirror apt uses on this host (deb822 or one-line sources), else deb.debian.org
MIRROR=$(
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -1
) || true
MIRROR=${MIRROR:-http://deb.debian.org/debian}

WORK=$(mktemp -d "$BASE/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
started=$(date +%s)
echo "build-debian-image: mmdebstrap $SUITE from $MIRROR" >&2
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook=': > "$1"/etc/machine-id; rm -f "$1"/var/lib/dbus/machine-id' \
  --customize-hook='echo debian > "$1"/etc/hostname' \
  --customize-hook='printf "LABEL=debian-root / ext4 defaults,errors=remount-ro 0 1\n" > "$1"/etc/fstab' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  "$SUITE" "$ROOTFS" "$MIRROR" >&2

VMLINUZ=$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)
INITRD=$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -1)
cp "$VMLINUZ" "$WORK/vmlinuz"
cp "$INITRD" "$WORK/initrd.img"

# --- the disk: MBR + FAT boot partition (syslinux) + ext4 root, no loop mounts ---------------------
RAW="$WORK/disk.raw"
truncate -s "${DISK_MIB}M" "$RAW"
BOOT_START=2048
BOOT_SECTORS=$((BOOT_MIB * 2048))
ROOT_START=$((BOOT_START + BOOT_SECTORS))
ROOT_SECTORS=$((DISK_MIB * 2048 - ROOT_START))
sfdisk --quiet "$RAW" <<EOF
label: dos
start=$BOOT_START, size=$BOOT_SECTORS, type=e, bootable
start=$ROOT_START, size=$ROOT_SECTORS, type=83
EOF
dd if="$MBR" of="$RAW" bs=440 count=1 conv=notrunc status=none
mkfs.vfat -F 16 -n DEBBOOT --offset=$BOOT_START "$RAW" $((BOOT_SECTORS / 2)) >/dev/null
cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND root=LABEL=debian-root ro console=tty0 console=ttyS0,115200 net.ifnames=0
EOF
export MTOOLS_SKIP_CHECK=1
for f in vmlinuz initrd.img syslinux.cfg; do mcopy -i "$RAW@@$((BOOT_START * 512))" "$WORK/$f" "::/$f"; done
syslinux --offset $((BOOT_START * 512)) --install "$RAW"
mkfs.ext4 -q -L debian-root -E offset=$((ROOT_START * 512)) -d "$ROOTFS" "$RAW" $((ROOT_SECTORS / 2))k >/dev/null
qemu-img convert -q -f raw -O qcow2 "$RAW" "$WORK/debian-12.qcow2"

# images of other script versions and builds cut short go (the cache holds one image)
for d in "$BASE"/* "$BASE"/.build.*; do
  [ -d "$d" ] && [ "$d" != "$OUT" ] && [ "$d" != "$WORK" ] || continue
  case "$(basename "$d")" in
    .build.* | [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) rm -rf "$d" ;;
  esac
done
mkdir -p "$OUT"
for f in debian-12.qcow2 vmlinuz initrd.img; do mv -f "$WORK/$f" "$OUT/$f"; done
{
  echo "SHOAL_DEBIAN_KERNEL_VERSION=$(basename "$VMLINUZ" | sed 's/^vmlinuz-//')"
  for f in debian-12.qcow2 vmlinuz initrd.img; do
    key=$(echo "$f" | tr 'a-z.-' 'A-Z__')
    echo "SHOAL_DEBIAN_${key}=$OUT/$f"
    echo "SHOAL_DEBIAN_${key}_SUM=sha256:$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
} >"$OUT/image.env.tmp"
mv -f "$OUT/image.env.tmp" "$OUT/image.env"
echo "build-debian-image: built $OUT in $(($(date +%s) - started)) s" >&2
echo "$OUT/image.env"
