#!/bin/bash
# Packs the appliance image as a Vagrant box for the libvirt provider: the qcow2 disk,
# metadata.json and the box's own Vagrantfile. The box differs from the image in one
# file only: its config partition authorises Vagrant's well-known public key for root
# (taken from Debian's vagrant package), which a shipped appliance never does.
#
# usage: image/make-box.sh RAW_IMAGE BOX_VAGRANTFILE OUTPUT_BOX
set -euo pipefail
RAW=$(realpath "$1"); BOX_VAGRANTFILE=$(realpath "$2"); OUT=$(realpath -m "$3")
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

chmod 0755 "$WORK" && install -d -m 0777 "$WORK/deb"  # apt downloads as its own _apt user
(cd "$WORK/deb" && apt-get download vagrant >/dev/null && dpkg-deb -x vagrant_*.deb "$WORK/pkg")
KEY=$(find "$WORK/pkg" -path '*/keys/vagrant.pub' | head -n1)
[ -n "$KEY" ] || { echo "vagrant.pub not found in Debian's vagrant package" >&2; exit 1; }

cp --sparse=always "$RAW" "$WORK/box.raw"
read -r START SIZE < <(sfdisk -J "$WORK/box.raw" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == "recorder-config":
        print(p["start"], p["size"])')
dd if="$WORK/box.raw" of="$WORK/config.ext4" bs=512 skip="$START" count="$SIZE" status=none
# debugfs edits the file system in place, with no mount.
printf '%s\n' "$(cat "$KEY")" > "$WORK/authorized_keys"
debugfs -w "$WORK/config.ext4" -f - >/dev/null <<CMDS
mkdir ssh
set_inode_field ssh mode 040700
write $WORK/authorized_keys ssh/authorized_keys
set_inode_field ssh/authorized_keys mode 0100600
set_inode_field ssh/authorized_keys uid 0
set_inode_field ssh/authorized_keys gid 0
CMDS
dd if="$WORK/config.ext4" of="$WORK/box.raw" bs=512 seek="$START" conv=notrunc status=none

qemu-img convert -c -O qcow2 "$WORK/box.raw" "$WORK/box.img"
VIRTUAL_GB=$(( ($(stat -c %s "$RAW") + 2**30 - 1) / 2**30 ))
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$VIRTUAL_GB" > "$WORK/metadata.json"
cp "$BOX_VAGRANTFILE" "$WORK/Vagrantfile"
tar -C "$WORK" -czf "$OUT" metadata.json Vagrantfile box.img
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
