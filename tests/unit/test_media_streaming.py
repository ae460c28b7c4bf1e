"""Audio and encryption in pieces give exactly what the whole-buffer code gives."""

from __future__ import annotations

import io
import os
import struct
import threading
import time
from pathlib import Path

import pytest

from appliance.domain.settings import FileFormat
from appliance.errors import AudioDecodeError, Busy, IntegrityError
from appliance.media import mp3, wav
from appliance.media.cache import TranscodeCache
from appliance.media.codec import encode_audio, encode_stream, open_audio_file
from appliance.media.crypto import EncryptedReader, EncryptedWriter, MasterKey
from appliance.media.pcm import Pcm, PcmStream
from appliance.media.store import FileStore
from tests.support.audio import tone_pcm, wav_bytes


@pytest.fixture()
def master() -> MasterKey:
    return MasterKey(os.urandom(32))


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 200_000])
def test_sealed_as_it_goes_reads_back_and_patches_the_head(master, size):
    plain = os.urandom(size)
    fh = io.BytesIO()
    writer = EncryptedWriter(master, fh)
    for i in range(0, size, 7000):
        writer.write(plain[i : i + 7000])
    if size >= 10:
        writer.patch(0, b"0123456789")
        plain = b"0123456789" + plain[10:]
    writer.close()
    reader = EncryptedReader(master, fh)
    reader.verify()
    assert reader.size == size
    assert reader.plain_file().read() == plain
    if size:
        assert b"".join(reader.read_range(size // 3, size - 1)) == plain[size // 3 :]


@pytest.mark.parametrize("delta", [-3, 3, -70_000])
def test_a_changed_size_in_the_header_fails(master, delta):
    fh = io.BytesIO()
    writer = EncryptedWriter(master, fh)
    writer.write(os.urandom(150_000))
    writer.close()
    raw = bytearray(fh.getvalue())
    struct.pack_into(">Q", raw, 9, 150_000 + delta)
    with pytest.raises(IntegrityError):
        EncryptedReader(master, io.BytesIO(bytes(raw))).verify()


@pytest.mark.parametrize("fmt", ["pcm", "ulaw", "alaw"])
def test_wav_in_pieces_matches_the_whole_decode(fmt):
    data = wav_bytes(tone_pcm(3.0) * 2, 8000, channels=2, fmt=fmt)
    whole = wav.read_wav(data)
    stream = wav.open_wav(io.BytesIO(data))
    assert stream.frames == whole.frames
    assert stream.read_all() == whole


def test_mp3_in_pieces_matches_the_whole_code():
    pcm = Pcm(tone_pcm(40.0), 8000, 1)
    encoded = encode_audio(pcm, FileFormat.MP3)
    out = io.BytesIO()
    frames = encode_stream(PcmStream.of(pcm), FileFormat.MP3, _Sink(out))
    assert frames == pcm.frames and out.getvalue() == encoded
    assert mp3.check_mp3_file(io.BytesIO(encoded)) == (mp3.check_mp3(encoded), 8000, 1)
    own = mp3.open_own_mp3(io.BytesIO(encoded), pcm.duration_ms).read_all()
    assert own == mp3.read_own_mp3(encoded, pcm.duration_ms)
    with pytest.raises(AudioDecodeError, match="truncated"):
        open_audio_file(io.BytesIO(encoded[:-7]))
    with pytest.raises(AudioDecodeError, match="no frame header"):
        open_audio_file(io.BytesIO(encoded[:200] + b"\0" * 300 + encoded[200:]))


def test_an_empty_recording_encodes_as_it_did_whole():
    """A 0-second upload is a valid recording: LAME must still be flushed cleanly."""
    out = io.BytesIO()
    frames = encode_stream(PcmStream.of(Pcm(b"", 8000, 1)), FileFormat.MP3, _Sink(out))
    assert frames == 0
    assert mp3.read_own_mp3(out.getvalue(), 0).samples == b""


def test_odd_rates_are_resampled_in_pieces_like_whole():
    pcm = Pcm(tone_pcm(30.0, rate=11000), 11000, 1)
    assert PcmStream.of(pcm).resampled(8000).read_all() == pcm.resampled(8000)


def test_wav_of_unknown_length_gets_its_header_patched():
    pcm = Pcm(tone_pcm(2.0), 8000, 1)
    stream = PcmStream(8000, 1, None, PcmStream.of(pcm).blocks)
    out = io.BytesIO()
    assert encode_stream(stream, FileFormat.WAV, _Sink(out)) == pcm.frames
    assert out.getvalue() == encode_audio(pcm, FileFormat.WAV)


class _Sink:
    def __init__(self, fh: io.BytesIO) -> None:
        self.fh = fh

    def write(self, data: bytes) -> None:
        self.fh.write(data)

    def patch_head(self, data: bytes) -> None:
        end = self.fh.tell()
        self.fh.seek(0)
        self.fh.write(data)
        self.fh.seek(end)


def test_transcodes_beyond_the_bound_wait_then_are_busy(tmp_path: Path, master):
    cache = TranscodeCache(FileStore(tmp_path, master), master, concurrent=1, wait_s=0.2)
    started, release = threading.Event(), threading.Event()

    def slow(writer: EncryptedWriter) -> None:
        started.set()
        release.wait(5)
        writer.write(b"a")

    worker = threading.Thread(target=cache.get, args=("a" * 64, "wav", slow))
    worker.start()
    assert started.wait(5)
    with pytest.raises(Busy):
        cache.get("b" * 64, "wav", lambda w: w.write(b"b"))
    release.set()
    worker.join()
    made = cache.made
    path = cache.get("a" * 64, "wav", lambda w: pytest.fail("made twice"))
    assert cache.made == made and b"".join(cache.read_range(path, 0, 0)) == b"a"
    cache.remove("a" * 64)
    assert not path.exists()


def test_the_cache_stays_within_its_bound(tmp_path: Path, master):
    cache = TranscodeCache(FileStore(tmp_path, master), master, max_bytes=300_000)
    paths = [cache.get(f"{i:064x}", "wav", lambda w: w.write(os.urandom(100_000))) for i in range(6)]
    kept = [p for p in paths if p.exists()]
    assert paths[-1] in kept and len(kept) <= 2


def test_past_a_few_waiters_a_conversion_is_busy_at_once(tmp_path: Path, master):
    """Each waiter holds a web worker thread: beyond `waiting` of them, no wait at all."""
    cache = TranscodeCache(FileStore(tmp_path, master), master, concurrent=1, waiting=1, wait_s=5)
    started, release = threading.Event(), threading.Event()

    def slow(writer: EncryptedWriter) -> None:
        started.set()
        release.wait(5)
        writer.write(b"a")

    workers = [threading.Thread(target=cache.get, args=(c * 64, "wav", slow)) for c in "ab"]
    workers[0].start()
    assert started.wait(5)
    workers[1].start()  # waits for the slot
    time.sleep(0.2)
    began = time.monotonic()
    with pytest.raises(Busy):
        cache.get("c" * 64, "wav", lambda w: w.write(b"c"))
    assert time.monotonic() - began < 1, "refused without waiting"
    release.set()
    for worker in workers:
        worker.join()


def test_a_copy_used_again_is_evicted_last(tmp_path: Path, master):
    from appliance.media.crypto import EncryptedReader

    cache = TranscodeCache(FileStore(tmp_path, master), master, max_bytes=250_000)
    first = cache.get("1" * 64, "wav", lambda w: w.write(os.urandom(100_000)))
    second = cache.get("2" * 64, "wav", lambda w: w.write(os.urandom(100_000)))
    os.utime(first, (time.time() - 60, time.time() - 60))
    os.utime(second, (time.time() - 30, time.time() - 30))
    checks = []
    real_verify = EncryptedReader.verify
    EncryptedReader.verify = lambda self: checks.append(1) or real_verify(self)
    try:
        for _ in range(3):  # used again, checked once: a hit must not undo the check's memo
            cache.get("1" * 64, "wav", lambda w: pytest.fail("made twice"))
    finally:
        EncryptedReader.verify = real_verify
    assert len(checks) <= 1
    cache.get("3" * 64, "wav", lambda w: w.write(os.urandom(100_000)))
    assert first.exists() and not second.exists()


def test_closing_a_plaintext_view_closes_the_encrypted_file(tmp_path: Path, master):
    from appliance.media.crypto import EncryptedReader, encrypt

    path = tmp_path / "f.enc"
    path.write_bytes(b"".join(encrypt(master, b"x" * 100_000)))
    reader = EncryptedReader(master, path)
    plain = reader.plain_file()
    assert plain.read(5) == b"xxxxx"
    plain.close()
    assert reader._fh.closed
