#!/bin/bash
# Builds the appliance disk image from scratch: a Debian minbase root file system with the
# compiled recorder, on one GPT disk that boots under BIOS (GRUB in the MBR and a BIOS
# boot partition) and UEFI (GRUB as the removable-media loader on the ESP).
#
# No loop devices or mounts: each file system is made from a folder (mkfs.ext4 -d,
# mkfs.vfat -C + mtools) and placed into the disk file with dd.
#
# usage: image/build.sh PROGRAM_DIR OUTPUT_DIR WORK_DIR
#   PROGRAM_DIR  Nuitka's standalone folder of the recorder (recorder.bin and its libraries)
set -euo pipefail

PROGRAM_DIR=$(realpath "$1")
OUT=$(realpath -m "$2")
WORK=$(realpath -m "$3")
HERE=$(dirname "$(realpath "$0")")
REPO=$(dirname "$HERE")
ROOT=$WORK/root

# Fixed identities, so the boot loader, fstab and repart find the partitions.
ROOT_PARTUUID=6a1c3b0e-5f2d-4e8a-9b71-2c4d8e0f1a01
DATA_TYPE=b8a2c1f2-6a0e-4c31-9d5e-5d3b7f2a9e41
CONFIG_TYPE=3c9e1d5a-7b24-4f6e-8a13-9d0c2b7e4f52
BIOS_BOOT_TYPE=21686148-6449-6E6F-744E-656564454649
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
ROOT_TYPE=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
MIB=2048  # 512-byte sectors per MiB

log() { printf '== %s: %s\n' "$(date +%T)" "$*" >&2; }

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"

# --- root file system --------------------------------------------------------------------
. /etc/os-release
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -f "$SOURCES" ] || SOURCES=/etc/apt/sources.list  # this machine's own apt sources
log "mmdebstrap $VERSION_CODENAME (minbase) from $SOURCES"
mmdebstrap --variant=minbase --mode=root --quiet \
  --include=systemd,systemd-sysv,udev,dbus,kmod,linux-image-amd64,initramfs-tools,qemu-guest-agent,openssh-server,systemd-timesyncd,zstd,e2fsprogs,fdisk,iproute2,ca-certificates,less,procps,snmp,keepalived \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  "$VERSION_CODENAME" "$ROOT" "$SOURCES"

log "trimming kernel modules a headless recording server never loads"
KDIR=$(echo "$ROOT"/usr/lib/modules/*)
for d in sound drivers/gpu drivers/media drivers/net/wireless net/wireless net/mac80211 \
  drivers/bluetooth net/bluetooth drivers/infiniband drivers/iio drivers/staging drivers/comedi \
  drivers/isdn drivers/nfc net/nfc drivers/net/can net/can drivers/input/touchscreen \
  drivers/input/joystick; do
  rm -rf "$KDIR/kernel/$d"
done
chroot "$ROOT" depmod -a "$(basename "$KDIR")"
chroot "$ROOT" update-initramfs -u -k all >/dev/null

log "installing the recorder"
install -d "$ROOT/usr/lib/recorder"
cp -a "$PROGRAM_DIR/." "$ROOT/usr/lib/recorder/"
ln -sf ../lib/recorder/recorder.bin "$ROOT/usr/bin/recorder"
install -m 0644 "$REPO"/systemd/*.service "$REPO"/systemd/*.target "$ROOT/usr/lib/systemd/system/"
install -m 0644 "$REPO/systemd/recorder.sysusers" "$ROOT/usr/lib/sysusers.d/recorder.conf"
install -m 0644 "$REPO/systemd/recorder.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/recorder.conf"
install -D -m 0644 "$REPO/README.md" "$ROOT/usr/share/doc/recorder/README.md"
# Our MIB and the SMIv2 base modules it imports (Debian ships none of them), where net-snmp's
# tools look; snmpget and snmpwalk are in the image for diagnosing the agent on the box.
install -D -m 0644 -t "$ROOT/usr/share/snmp/mibs" "$REPO"/mibs/*.txt
cp -a "$HERE/files/." "$ROOT/"
systemd-sysusers --root="$ROOT" "$ROOT/usr/lib/sysusers.d/recorder.conf"
RECORDER_UID=$(awk -F: '$1=="recorder"{print $3}' "$ROOT/etc/passwd")
RECORDER_GID=$(awk -F: '$1=="recorder"{print $3}' "$ROOT/etc/group")

rm -f "$ROOT"/etc/ssh/ssh_host_*  # made per machine at first boot
echo recorder > "$ROOT/etc/hostname"
printf '127.0.1.1\trecorder\n' >> "$ROOT/etc/hosts"
# An empty machine-id: systemd makes the host's identity on first boot.
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
cat > "$ROOT/etc/fstab" <<EOF
# The system partition is replaced on upgrade; configuration and data are not.
PARTUUID=$ROOT_PARTUUID / ext4 defaults,errors=remount-ro 0 1
LABEL=recorder-config /etc/recorder ext4 nodev,nosuid,noexec 0 2
LABEL=recorder-data /var/lib/recorder ext4 nodev,nosuid,noexec,x-systemd.growfs 0 2
tmpfs /tmp tmpfs nodev,nosuid,size=25% 0 0
EOF
chroot "$ROOT" systemctl enable recorder.target recorder-init.service systemd-networkd.service >/dev/null
chroot "$ROOT" systemctl set-default multi-user.target >/dev/null
# The root account has no password: the console is the way in. Recovery is the boot
# menu's "maintenance shell" entry, which needs hands on the machine.
chroot "$ROOT" passwd --lock root >/dev/null

# --- boot loader ---------------------------------------------------------------------------
log "GRUB for BIOS and UEFI"
install -d "$ROOT/boot/grub"
cp -a /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi "$ROOT/boot/grub/"
rm -f "$ROOT"/boot/grub/*/*.module "$ROOT"/boot/grub/*/*.image
cat > "$ROOT/boot/grub/grub.cfg" <<EOF
set timeout=2
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
insmod all_video
menuentry "Call recorder appliance" {
  linux /vmlinuz root=PARTUUID=$ROOT_PARTUUID ro console=tty0 console=ttyS0,115200 quiet
  initrd /initrd.img
}
menuentry "Call recorder appliance: maintenance shell" {
  linux /vmlinuz root=PARTUUID=$ROOT_PARTUUID ro console=tty0 console=ttyS0,115200 systemd.unit=emergency.target systemd.setenv=SYSTEMD_SULOGIN_FORCE=1
  initrd /initrd.img
}
EOF
# Both loaders find the system partition by its label and read grub.cfg from it.
cat > "$WORK/early.cfg" <<'EOF'
search --no-floppy --label --set=root recorder-root
set prefix=($root)/boot/grub
configfile ($root)/boot/grub/grub.cfg
EOF
GRUB_MODULES="part_gpt part_msdos ext2 search search_label normal linux configfile echo test gzio serial terminal"
grub-mkimage -O i386-pc -o "$WORK/core.img" -p /boot/grub -c "$WORK/early.cfg" \
  biosdisk $GRUB_MODULES
grub-mkimage -O x86_64-efi -o "$WORK/BOOTX64.EFI" -p /boot/grub -c "$WORK/early.cfg" \
  fat efi_gop efi_uga all_video $GRUB_MODULES

# --- file systems ----------------------------------------------------------------------------
log "file systems"
ROOT_MIB=$(( $(du -sm "$ROOT" | cut -f1) * 125 / 100 + 64 ))
mkfs.ext4 -q -F -L recorder-root -d "$ROOT" "$WORK/root.ext4" "${ROOT_MIB}M"

mkdir -p "$WORK/config"
install -m 0640 "$HERE/config/recorder.toml" "$WORK/config/recorder.toml"
chown -R 0:"$RECORDER_GID" "$WORK/config" && chmod 0750 "$WORK/config"
CONFIG_MIB=64
mkfs.ext4 -q -F -L recorder-config -d "$WORK/config" "$WORK/config.ext4" "${CONFIG_MIB}M"

mkdir -p "$WORK/data/recordings"
chown -R "$RECORDER_UID:$RECORDER_GID" "$WORK/data" && chmod -R 0750 "$WORK/data"
DATA_MIB=512
mkfs.ext4 -q -F -L recorder-data -d "$WORK/data" "$WORK/data.ext4" "${DATA_MIB}M"

ESP_MIB=32
mkfs.vfat -n ESP -C "$WORK/esp.vfat" $(( ESP_MIB * 1024 )) >/dev/null
mmd -i "$WORK/esp.vfat" ::/EFI ::/EFI/BOOT
mcopy -i "$WORK/esp.vfat" "$WORK/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

# --- the disk ------------------------------------------------------------------------------------
log "GPT disk"
BIOS_START=$MIB
ESP_START=$(( 2 * MIB ))
ROOT_START=$(( ESP_START + ESP_MIB * MIB ))
CONFIG_START=$(( ROOT_START + ROOT_MIB * MIB ))
DATA_START=$(( CONFIG_START + CONFIG_MIB * MIB ))
DISK_MIB=$(( DATA_START / MIB + DATA_MIB + 1 ))
RAW=$WORK/recorder-appliance.raw
truncate -s "${DISK_MIB}M" "$RAW"
sfdisk --quiet "$RAW" <<EOF
label: gpt
first-lba: 2048
start=$BIOS_START, size=$MIB, type=$BIOS_BOOT_TYPE, name="bios-boot"
start=$ESP_START, size=$(( ESP_MIB * MIB )), type=$ESP_TYPE, name="esp"
start=$ROOT_START, size=$(( ROOT_MIB * MIB )), type=$ROOT_TYPE, uuid=$ROOT_PARTUUID, name="recorder-root"
start=$CONFIG_START, size=$(( CONFIG_MIB * MIB )), type=$CONFIG_TYPE, name="recorder-config"
start=$DATA_START, size=$(( DATA_MIB * MIB )), type=$DATA_TYPE, name="recorder-data"
EOF
place() { dd if="$1" of="$RAW" bs=1M seek=$(( $2 / MIB )) conv=notrunc,sparse status=none; }
place "$WORK/esp.vfat" "$ESP_START"
place "$WORK/root.ext4" "$ROOT_START"
place "$WORK/config.ext4" "$CONFIG_START"
place "$WORK/data.ext4" "$DATA_START"
python3 "$HERE/grub_bios.py" "$RAW" /usr/lib/grub/i386-pc/boot.img "$WORK/core.img" "$BIOS_START"

log "qcow2"
mv "$RAW" "$OUT/recorder-appliance.raw"
qemu-img convert -c -O qcow2 "$OUT/recorder-appliance.raw" "$OUT/recorder-appliance.qcow2"
rm -rf "$WORK"  # a few GB of intermediate file systems
log "done: $(du -h --apparent-size "$OUT/recorder-appliance.raw" | cut -f1) raw, $(du -h "$OUT/recorder-appliance.qcow2" | cut -f1) qcow2"
