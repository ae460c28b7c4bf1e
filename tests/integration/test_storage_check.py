"""`recorder admin check-storage` finds missing and corrupt files; keys stay apart from data."""

from __future__ import annotations

from tests.support.audio import tone_pcm, wav_bytes


def test_check_storage_reports_missing_and_corrupt_files(fresh_server):
    import httpx

    from tests.support.server import create_device, prepare_admin

    admin, _ = prepare_admin(fresh_server)
    device = create_device(admin)
    ids = []
    for n in range(3):
        r = httpx.post(
            fresh_server.url + "/api/v1/recordings",
            data={"call_id": f"c{n}", "caller": "1001", "callee": "2002", "started_at": "2024-05-01T09:30:00+00:00"},
            files={"audio": ("a.wav", wav_bytes(tone_pcm(1.0), 8000))},
            auth=(device["alias"], device["secret"]),
        )
        ids.append(r.json())
    clean = fresh_server.cli("admin", "check-storage", check=False)
    assert clean.returncode == 0
    assert "checked 3 recordings: 0 missing or corrupt" in clean.stdout

    files = sorted((fresh_server.data_dir / "recordings").rglob("*.enc"))
    files[0].unlink()
    blob = bytearray(files[1].read_bytes())
    blob[200] ^= 0xFF
    files[1].write_bytes(bytes(blob))
    out = fresh_server.cli("admin", "check-storage", check=False)
    assert out.returncode == 1
    assert "checked 3 recordings: 2 missing or corrupt" in out.stdout
    assert out.stdout.count("missing: recording") == 1
    assert out.stdout.count("corrupt (checksum mismatch): recording") == 1


def test_master_key_lives_outside_the_data_directory(fresh_server):
    key = fresh_server.root / "etc" / "master.key"
    assert key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert not any(p.name == "master.key" for p in fresh_server.data_dir.rglob("*"))
