#!/usr/bin/env bash
# Builds a qemu test image for a real tc netem measurement (notes/netem-vm.md): Debian's cloud
# kernel (which has sch_netem as a module) and an initramfs holding busybox, the veth and
# sch_netem modules, tc and ip with their libraries, the agent under test, and /init.
#
#   build-initramfs.sh AGENT_BINARY CACHE_DIR OUT_DIR
#
# Packages are fetched with `apt-get download` into CACHE_DIR once. Writes OUT_DIR/vmlinuz and
# OUT_DIR/initramfs.cpio.gz. Fails loudly when a package cannot be downloaded.
set -euo pipefail
agent=$(realpath "$1") cache=$2 out=$(realpath -m "$3")
init_script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/init"
mkdir -p "$cache" "$out"
cd "$cache"

fail() { echo "build-initramfs: $*" >&2; exit 1; }

if ! ls linux-image-*-cloud-amd64_*.deb >/dev/null 2>&1 || ! ls busybox-static_*.deb >/dev/null 2>&1; then
  command -v apt-get >/dev/null || fail "apt-get is missing: the VM test needs a Debian-family host"
  apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt-get update -qq \
    || fail "apt-get update failed"
  kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
  [ -n "$kpkg" ] || fail "no linux-image-*-cloud-amd64 package in the apt sources (is this Debian?)"
  apt-get download "$kpkg" busybox-static >/dev/null 2>&1 \
    || fail "apt-get download $kpkg busybox-static failed (network or apt sources)"
fi
kdeb=$(ls -1 linux-image-*-cloud-amd64_*.deb | sort | tail -n1)
bdeb=$(ls -1 busybox-static_*.deb | sort | tail -n1)
[ -d kernel ] || { dpkg-deb -x "$kdeb" kernel.tmp && mv kernel.tmp kernel; }
[ -d busybox ] || { dpkg-deb -x "$bdeb" busybox.tmp && mv busybox.tmp busybox; }

vmlinuz=$(ls -1 kernel/boot/vmlinuz-* | head -n1)
# veth for the namespaces; htb, u32 and netem for the agent's qdisc tree. None has dependencies.
modules=()
for m in veth sch_htb cls_u32 sch_netem; do
  f=$(find kernel/lib/modules -name "$m.ko" | head -n1)
  [ -n "$f" ] || fail "the kernel package has no uncompressed $m.ko"
  modules+=("$f")
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib,proc,sys,dev,run,tmp,etc,usr/lib/x86_64-linux-gnu/tc}
cp busybox/bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
  case $app in tc|ip) continue ;; esac # the real iproute2 tools are used
  [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
cp "${modules[@]}" "$root/lib/"
copy_with_libs() { # binary destination
  install -D -m 0755 "$1" "$root$2"
  ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
  done
}
copy_with_libs /usr/sbin/tc /usr/sbin/tc
copy_with_libs /usr/sbin/ip /usr/sbin/ip
copy_with_libs "$agent" /usr/local/bin/faultline-agent
cp /usr/lib/x86_64-linux-gnu/tc/*.dist "$root/usr/lib/x86_64-linux-gnu/tc/" 2>/dev/null || true
cp "$init_script" "$root/init"
chmod 0755 "$root/init"

(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > "$out/initramfs.cpio.gz"
cp "$vmlinuz" "$out/vmlinuz"
echo "build-initramfs: $(basename "$vmlinuz"), $(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs" >&2
