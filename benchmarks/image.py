"""The appliance image: sizes, and the time from power-on to a serving console.

Boots the raw image in qemu under SeaBIOS and OVMF (software emulation, as CI can), a few
times each, and prints a table. usage: python benchmarks/image.py dist/recorder-appliance.raw
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine_info import machine

from tests.support.vm import BootedImage


def mib(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:,.0f} MiB" if path.exists() else "missing"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("image", type=Path)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    raw: Path = args.image
    qcow2 = raw.with_suffix(".qcow2")
    binary = raw.parent / "recorder"
    print(f"# appliance image, {datetime.now(UTC):%Y-%m-%d}, {machine()}")
    print("| item | size |\n|---|---|")
    print(f"| dist/recorder (onefile binary) | {mib(binary)} |")
    print(f"| {raw.name} (raw disk) | {mib(raw)} |")
    print(f"| {qcow2.name} (compressed) | {mib(qcow2)} |")
    print()
    print("| firmware | runs | power-on to serving console, median | min | max |")
    print("|---|---|---|---|---|")
    for firmware in ("bios", "uefi"):
        times = []
        for _ in range(args.runs):
            vm = BootedImage(raw, firmware)
            try:
                vm.start()
                times.append(vm.serving_after or 0.0)
            finally:
                vm.stop()
        print(f"| {firmware} (qemu TCG, 2 vCPU) | {len(times)} | {statistics.median(times):.1f} s "
              f"| {min(times):.1f} s | {max(times):.1f} s |")


if __name__ == "__main__":
    main()
