#!/bin/sh
# Builds a tiny image from this machine's static busybox, for a first build
# on a machine that cannot reach an image registry (README, "First build").
# Needs busybox-static (apt-get install busybox-static) and Docker; prints
# the image's name.
#
#   scripts/busybox-image.sh [name]       (default: herald-local/busybox:latest)
set -eu
name=${1:-herald-local/busybox:latest}
busybox=$(command -v busybox || echo /bin/busybox)
if [ ! -x "$busybox" ]; then
	echo "busybox is missing: apt-get install busybox-static" >&2
	exit 1
fi
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
	echo "$busybox is not statically linked, so it cannot run alone in an image: apt-get install busybox-static" >&2
	exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/usr/bin"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -c . |
	docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$name" >/dev/null
echo "$name"
