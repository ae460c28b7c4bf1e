"""Installs GRUB's BIOS stages into a GPT disk image file, as grub-bios-setup would.

grub-bios-setup refuses to work on a plain file, so this writes the two pieces itself:
boot.img's code into the protective MBR (keeping the partition table and signature),
pointed at core.img, which goes at the start of the BIOS boot partition with its
blocklist pointed at its own remaining sectors.

usage: grub_bios.py DISK BOOT_IMG CORE_IMG CORE_SECTOR
"""

import struct
import sys

SECTOR = 512
MBR_CODE_END = 440  # then the disk signature, the partition table and 0x55AA
KERNEL_SECTOR_AT = 0x5C  # boot.img: LBA of core.img's first sector (8 bytes)
BOOT_DRIVE_AT = 0x64  # boot.img: 0xFF = use the drive the BIOS booted from
BLOCKLIST_AT = SECTOR - 12  # diskboot.img: start (8), length (2), segment (2)


def install(disk: str, boot_img: str, core_img: str, core_sector: int, max_sectors: int) -> None:
    boot = bytearray(open(boot_img, "rb").read())
    core = bytearray(open(core_img, "rb").read())
    if len(boot) != SECTOR:
        raise SystemExit(f"{boot_img}: expected {SECTOR} bytes, got {len(boot)}")
    sectors = -(-len(core) // SECTOR)
    if sectors > max_sectors:
        raise SystemExit(f"core.img needs {sectors} sectors, the BIOS boot partition has {max_sectors}")
    core += b"\0" * (sectors * SECTOR - len(core))
    struct.pack_into("<Q", boot, KERNEL_SECTOR_AT, core_sector)
    boot[BOOT_DRIVE_AT] = 0xFF
    segment = struct.unpack_from("<H", core, BLOCKLIST_AT + 10)[0]
    struct.pack_into("<QHH", core, BLOCKLIST_AT, core_sector + 1, sectors - 1, segment)
    with open(disk, "r+b") as fh:
        mbr = bytearray(fh.read(SECTOR))
        if mbr[510:512] != b"\x55\xaa":
            raise SystemExit(f"{disk}: no protective MBR (partition the disk first)")
        mbr[:MBR_CODE_END] = boot[:MBR_CODE_END]
        fh.seek(0)
        fh.write(mbr)
        fh.seek(core_sector * SECTOR)
        fh.write(core)


if __name__ == "__main__":
    install(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), 2048)
