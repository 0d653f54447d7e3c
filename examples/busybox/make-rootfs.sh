#!/bin/sh
# Builds a busybox rootfs from Debian's busybox-static: one static binary and
# a symlink per applet. Usage: make-rootfs.sh DIR   (default: ./rootfs beside this script)
set -eu
dest=${1:-$(dirname "$0")/rootfs}
busybox=$(command -v busybox)
case $(file -b "$busybox" 2>/dev/null || echo static) in
  *dynamic*) echo "make-rootfs: $busybox is dynamically linked: install busybox-static" >&2; exit 1 ;;
esac
mkdir -p "$dest/bin" "$dest/etc" "$dest/proc" "$dest/sys" "$dest/dev" "$dest/tmp" "$dest/root" "$dest/run" "$dest/var"
cp "$busybox" "$dest/bin/busybox"
for applet in $("$dest/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
ln -sfn bin "$dest/sbin"
mkdir -p "$dest/usr"
ln -sfn ../bin "$dest/usr/bin"
ln -sfn ../bin "$dest/usr/sbin"
chmod 1777 "$dest/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dest/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$dest/etc/group"
echo tsrun > "$dest/etc/hostname"
