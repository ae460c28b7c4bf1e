"""Real audio for the tests: speech from espeak-ng, tones, and ways to compare sound."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import warnings
import wave

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def speech_wav(text: str = "Thank you for calling. Your recording starts now. One two three four five.") -> bytes:
    """espeak-ng speaking English to a 22.05 kHz mono PCM16 WAV."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (make test installs it)")
    return subprocess.run([exe, "--stdout", "-s", "160", text], check=True, capture_output=True).stdout


def pcm_of_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
        if w.getnchannels() == 2:
            samples = samples.reshape(-1, 2).mean(axis=1)
        return samples, w.getframerate()


def tone_pcm(seconds: float, rate: int = 8000, freq: float = 440.0) -> bytes:
    n = int(seconds * rate)
    return b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))


def wav_bytes(pcm: bytes, rate: int, channels: int = 1, fmt: str = "pcm") -> bytes:
    """A WAV with PCM16, μ-law or A-law samples (the formats gateways send)."""
    if fmt == "pcm":
        body, tag, bits = pcm, 1, 16
    elif fmt == "ulaw":
        body, tag, bits = audioop.lin2ulaw(pcm, 2), 7, 8
    else:
        body, tag, bits = audioop.lin2alaw(pcm, 2), 6, 8
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag != 1:
        fmt_chunk += b"\x00\x00"
    chunks = b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    if tag != 1:
        chunks += b"fact" + struct.pack("<II", 4, len(body) // block)
    chunks += b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def best_correlation(reference: np.ndarray, candidate: np.ndarray, max_lag: int) -> float:
    """Highest normalised correlation over lags 0..max_lag (codecs add a start delay)."""
    n = min(len(reference), len(candidate) - max_lag)
    ref = reference[:n] - reference[:n].mean()
    best = -1.0
    for lag in range(0, max_lag + 1, 1):
        seg = candidate[lag : lag + n]
        seg = seg - seg.mean()
        denom = math.sqrt(float(np.dot(ref, ref)) * float(np.dot(seg, seg))) or 1.0
        best = max(best, float(np.dot(ref, seg)) / denom)
    return best


def resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return samples
    positions = np.arange(0, len(samples) * dst // src) * (src / dst)
    return np.interp(positions, np.arange(len(samples)), samples)
