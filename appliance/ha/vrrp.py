"""A virtual IP that follows the primary, through Debian's keepalived (VRRP).

keepalived holds the address; the failover service steers it through two files in
`<data>/ha`: `role` (rewritten every second; a check script keeps the +100 of priority only
while it is fresh and says PRIMARY, so a dead failover service lets the address go) and
`vrrp-epoch` (the primary's promotion count, a tie-breaker: of two primaries the newer one
holds the address). keepalived's notify script writes its state to `vrrp-state`, which the
failover service reports. `recorder admin vrrp-config` writes the scripts and the
configuration for one side.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import InvalidInput

EPOCH_FILE = "vrrp-epoch"
STATE_FILE = "vrrp-state"
EPOCH_CAP = 50  # keepalived's priority stops at 254: 100 + 100 (primary) + 50

CHECK_SCRIPT = """#!/bin/sh
# keepalived's check: exit 0 while this appliance is the primary and its failover service is
# alive (it rewrites the role file every second).
role="$1/role"
[ -f "$role" ] || exit 1
age=$(( $(date +%s) - $(stat -c %Y "$role") ))
[ "$age" -le 5 ] && [ "$(cat "$role")" = PRIMARY ]
"""

NOTIFY_SCRIPT = """#!/bin/sh
# keepalived's notify: "$1" is our folder, then keepalived's type, name, state, priority.
printf '%s\\n' "$4" > "$1/vrrp-state.tmp" && mv "$1/vrrp-state.tmp" "$1/vrrp-state"
"""


@dataclass(frozen=True)
class VrrpSide:
    interface: str
    vip: str  # address/prefix
    router_id: int
    ha_dir: Path  # <data>/ha
    scripts: Path  # where the two scripts go (root's, not writable by others)
    peer: str = ""  # unicast to the other side's address (multicast when empty)
    source: str = ""


def _checked(side: VrrpSide) -> None:
    try:
        ipaddress.ip_interface(side.vip)
        for address in (side.peer, side.source):
            if address:
                ipaddress.ip_address(address)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="vip", code="invalid_format") from None
    if not 1 <= side.router_id <= 255:
        raise InvalidInput(
            "router_id", field="router_id", code="out_of_range", params={"min": 1, "max": 255}
        )
    if not side.interface.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("interface", field="interface", code="invalid_format")


def config_text(side: VrrpSide) -> str:
    _checked(side)
    unicast = ""
    if side.peer:
        unicast = (f"    unicast_src_ip {side.source}\n" if side.source else "") + (
            f"    unicast_peer {{\n        {side.peer}\n    }}\n"
        )
    return f"""# Written by `recorder admin vrrp-config`: the recorder's virtual IP follows its primary.
global_defs {{
    enable_script_security
    script_user root
}}

vrrp_script recorder_primary {{
    script "{side.scripts / "recorder-primary-check"} {side.ha_dir}"
    interval 1
    fall 1
    rise 1
    weight 100
}}

vrrp_track_file recorder_epoch {{
    file "{side.ha_dir / EPOCH_FILE}"
    weight 1
}}

vrrp_instance recorder {{
    state BACKUP
    interface {side.interface}
    virtual_router_id {side.router_id}
    priority 100
    advert_int 1
{unicast}    virtual_ipaddress {{
        {side.vip} dev {side.interface}
    }}
    track_script {{
        recorder_primary
    }}
    track_file {{
        recorder_epoch
    }}
    notify "{side.scripts / "recorder-vrrp-notify"} {side.ha_dir}"
}}
"""


def write_scripts(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("recorder-primary-check", CHECK_SCRIPT),
        ("recorder-vrrp-notify", NOTIFY_SCRIPT),
    ):
        path = directory / name
        path.write_text(text, encoding="ascii")
        os.chmod(path, 0o700)  # keepalived runs them as root


def epoch_value(primary: bool, epoch: int) -> int:
    return min(epoch, EPOCH_CAP) if primary else 0


def steer(ha_dir: Path, primary: bool, epoch: int) -> str:
    """Write the tie-breaker (only when it changes: keepalived reads it on every change)
    and read keepalived's state ("" before keepalived has said anything)."""
    value = str(epoch_value(primary, epoch))
    path = ha_dir / EPOCH_FILE
    try:
        current = path.read_text(encoding="ascii").strip()
    except OSError:
        current = None
    if current != value:
        tmp = path.with_name(".vrrp-epoch.tmp")
        tmp.write_text(value + "\n", encoding="ascii")
        os.replace(tmp, path)
    try:
        return (ha_dir / STATE_FILE).read_text(encoding="ascii").strip()[:16]
    except OSError:
        return ""
