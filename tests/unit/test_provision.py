"""First-boot provisioning leaves files the unprivileged service user can use."""

from __future__ import annotations

import os

import pytest

from appliance import provision

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="ownership changes need root")


@root_only
def test_files_root_made_in_the_data_dir_go_to_its_owner(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 4321, 4321)  # the service user, as the image's data partition is
    db = data / "recorder.db"
    db.write_bytes(b"x")
    (data / "lost+found").mkdir()  # the file system's own, left as it is
    provision.give_to_owner_of(data)
    assert (db.stat().st_uid, db.stat().st_gid) == (4321, 4321)
    assert (data / "lost+found").stat().st_uid == 0


@root_only
def test_certificate_is_readable_by_the_config_group_only(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o750)
    os.chown(etc, 0, 4321)
    cert, key = etc / "tls" / "cert.pem", etc / "tls" / "key.pem"
    assert provision.ensure_certificate(cert, key, "recorder.example")
    for path, mode in ((cert.parent, 0o750), (cert, 0o640), (key, 0o640)):
        st = path.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 4321, mode), path
    assert b"BEGIN CERTIFICATE" in cert.read_bytes()
    assert not provision.ensure_certificate(cert, key)  # kept: an administrator's own stays


def test_identity_is_made_once_and_kept(tmp_path):
    first = provision.ensure_identity(tmp_path)
    assert len(first) == 32 and provision.ensure_identity(tmp_path) == first
