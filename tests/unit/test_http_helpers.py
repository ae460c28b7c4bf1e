from __future__ import annotations

import io
import zipfile

import pytest

from appliance.api.http.captcha import CaptchaStore
from appliance.api.http.ranges import RangeNotSatisfiable, parse_range
from appliance.api.http.spreadsheet import safe_cell
from appliance.api.http.zipstream import stream_zip
from appliance.config import load_config
from appliance.errors import CaptchaFailed, ConfigError


def test_ranges():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-", 100) == (0, 99)
    assert parse_range("bytes=10-20", 100) == (10, 20)
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=5-6, 10-20", 100) == (5, 6)
    assert parse_range("items=1-2", 100) is None
    for bad in ("bytes=100-", "bytes=20-10", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 100)


def test_formula_cells_are_neutralised():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("+8613800000000") == "+8613800000000"
    assert safe_cell("201") == "201"
    assert safe_cell(5) == 5


def test_stream_zip_is_a_valid_archive():
    entries = [("a.mp3", lambda: [b"x" * 70000, b"y"]), ("b.wav", lambda: [b"RIFF" + b"\x00" * 1000])]
    blob = b"".join(stream_zip(entries))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.namelist() == ["a.mp3", "b.wav"]
        assert zf.read("a.mp3") == b"x" * 70000 + b"y"
        assert zf.getinfo("b.wav").compress_type == zipfile.ZIP_DEFLATED


def test_captcha_is_single_use():
    store = CaptchaStore(enabled=True)
    captcha_id, _ = store.new()
    answer = store._pending[captcha_id][0]
    store.verify(captcha_id, answer.lower())
    with pytest.raises(CaptchaFailed):
        store.verify(captcha_id, answer)
    CaptchaStore(enabled=False).verify(None, None)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="RECORDER_HTTP_PORT"):
        load_config({"RECORDER_HTTP_PORT": "eighty"})
    with pytest.raises(ConfigError, match="RECORDER_LOGIN_CAPTCHA"):
        load_config({"RECORDER_LOGIN_CAPTCHA": "maybe"})
    with pytest.raises(ConfigError, match="RECORDER_DATABASE_URL"):
        load_config({"RECORDER_DATABASE_URL": "mysql://x"})
    toml = tmp_path / "recorder.toml"
    toml.write_text('http_port = 9090\ndata_dir = "/srv/rec"\n')
    conf = load_config({"RECORDER_CONFIG": str(toml), "RECORDER_HTTP_PORT": "9191"})
    assert conf.http_port == 9191  # environment wins over the file
    assert str(conf.data_dir) == "/srv/rec"
    assert conf.key_file == tmp_path / "master.key"
    bad = tmp_path / "bad.toml"
    bad.write_text("http_port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({"RECORDER_CONFIG": str(bad)})
