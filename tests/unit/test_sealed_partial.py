"""A broken-off download kept sealed on disk, resumed from its last whole record."""

from __future__ import annotations

import os

from appliance.media.crypto import MasterKey
from appliance.media.partial import RECORD_PLAIN, SealedPartial

SAID = {"path": "monitor/a.wav", "size": 1, "mtime": 2}


def test_what_came_is_kept_sealed_and_resumed(tmp_path):
    master = MasterKey(os.urandom(32))
    data = os.urandom(RECORD_PLAIN * 2 + 1000)
    part = SealedPartial(tmp_path / "a.part", master, SAID)
    part.write(b"RIFF" + data[4 : RECORD_PLAIN + 500])
    part.flush()
    part.close()
    on_disk = (tmp_path / "a.part").read_bytes()
    assert b"RIFF" not in on_disk and data[100:200] not in on_disk
    again = SealedPartial(tmp_path / "a.part", master, SAID)
    assert again.size == RECORD_PLAIN + 500
    again.write(data[RECORD_PLAIN + 500 :])
    again.flush()
    assert b"".join(again.plain()) == b"RIFF" + data[4:]


def test_a_torn_record_is_cut_and_a_changed_file_starts_over(tmp_path):
    master = MasterKey(os.urandom(32))
    part = SealedPartial(tmp_path / "a.part", master, SAID)
    part.write(b"x" * (RECORD_PLAIN + 10))
    part.flush()
    part.close()
    path = tmp_path / "a.part"
    with open(path, "r+b") as fh:  # a crash in the middle of the second record
        fh.truncate(path.stat().st_size - 5)
    assert SealedPartial(path, master, SAID).size == RECORD_PLAIN
    assert SealedPartial(path, master, {**SAID, "size": 9}).size == 0  # the remote file changed
    assert SealedPartial(path, MasterKey(os.urandom(32)), SAID).size == 0  # another key: unreadable, restarted
