r"""A built-in paired dataset that needs no download: synthetic music through a reference effect.

The input (:func:`synthetic_music`) is plucked-string notes, chords and bass
notes (additive partials, each decaying faster the higher it lies) with noise
hits, at the ToneTwist AFx levels: peak-normalised to -1 dBFS, then scaled by a
random gain in [0.1, 1] held for 5 s and smoothed over 10 ms. The reference
effects (:data:`SYNTHETIC_DEVICES`) are written with numpy and scipy only, so
a ddsp_kit model fitted to them is checked against code it does not share:

``overdrive``
    2nd-order Butterworth high-pass at 120 Hz -> +18 dB -> biased tanh
    ``tanh(x + 0.3) - tanh(0.3)`` -> 2nd-order Butterworth low-pass at 3.5 kHz
    -> -12 dB.
``compressor``
    RMS detector (one-pole on the square, time constant 15 ms) -> static
    curve, threshold -24 dBFS, ratio 4, hard knee -> gain applied to the input
    -> +6 dB make-up.

:func:`render_synthetic` writes a pair in the plain layout
(``<name>.input.wav`` / ``<name>.target.wav``, float32) with a JSON card
saying how it was made; an existing render with the same card is reused.
"""

import json
import math
import os
from pathlib import Path
from typing import Callable, Dict, Union

import numpy as np
import scipy.signal
import soundfile

from ..functional.design import check_sample_rate

__all__ = ["synthetic_music", "SYNTHETIC_DEVICES", "render_synthetic", "cache_dir"]

PathLike = Union[str, Path]


def cache_dir() -> Path:
    """Where renders are cached: ``$DDSP_KIT_CACHE``, else ``~/.cache/ddsp_kit``."""
    return Path(os.environ.get("DDSP_KIT_CACHE") or Path.home() / ".cache" / "ddsp_kit").expanduser()


def _pluck(rng: np.random.Generator, f0: float, seconds: float, sample_rate: float) -> np.ndarray:
    """One plucked note: partials k·f0 below 0.45·rate, amplitude ~ 1/k, decay time ~ 1/k."""
    note = np.zeros(int(seconds * sample_rate))
    decay = rng.uniform(0.3, 1.5)  # seconds, of the fundamental
    for k in range(1, 16):
        if k * f0 >= 0.45 * sample_rate:
            break
        span = min(note.size, int(9.3 * decay / k * sample_rate))  # until the partial is 80 dB down
        t = np.arange(span) / sample_rate
        phase = rng.uniform(0, 2 * math.pi)
        note[:span] += np.sin(2 * math.pi * k * f0 * t * (1 + 1e-4 * k * k) + phase) * np.exp(-t * k / decay) / k
    attack = np.minimum(1.0, np.arange(note.size) / (0.002 * sample_rate))
    return note * attack


def synthetic_music(sample_rate: float, seconds: float, seed: int = 0) -> np.ndarray:
    """Mono synthetic guitar/bass/percussion phrase at ToneTwist levels, float32 ``(samples,)``.

    Args:
        sample_rate: Hz.
        seconds: length.
        seed: seeds the notes, timings and levels (the same seed gives the same samples).

    Example:
        >>> x = synthetic_music(16000, 2.0)
        >>> x.shape, x.dtype, bool(np.abs(x).max() <= 10 ** (-1 / 20) + 1e-6)
        ((32000,), dtype('float32'), True)
    """
    sample_rate = check_sample_rate(sample_rate)
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    rng = np.random.default_rng(seed)
    length = int(round(seconds * sample_rate))
    out = np.zeros(length + int(2 * sample_rate))
    scale = 82.41 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10]) / 12)  # E natural minor from E2
    time = 0.0
    while time < seconds:
        start = int(time * sample_rate)
        kind = rng.choice(["note", "chord", "bass", "hit"], p=[0.45, 0.2, 0.25, 0.1])
        if kind == "hit":  # a noise burst, high-passed: the percussion
            burst = rng.standard_normal(int(0.15 * sample_rate)) * np.exp(-np.arange(int(0.15 * sample_rate)) / (0.02 * sample_rate))
            out[start:start + burst.size] += 0.5 * scipy.signal.lfilter([1, -0.95], [1], burst)
        else:
            octave = {"note": rng.integers(1, 4), "chord": rng.integers(1, 3), "bass": 0}[kind]
            degrees = rng.choice(7, size=3 if kind == "chord" else 1, replace=False)
            for degree in degrees:
                note = _pluck(rng, scale[degree] * 2.0 ** octave, 2.0, sample_rate)
                out[start:start + note.size] += rng.uniform(0.4, 1.0) * note
        time += rng.choice([0.125, 0.25, 0.375, 0.5, 0.75])
    out = out[:length]
    out *= 10 ** (-1 / 20) / max(np.abs(out).max(), 1e-12)
    # ToneTwist AFx levels: a gain in [0.1, 1] held 5 s, smoothed over 10 ms.
    holds = rng.uniform(0.1, 1.0, size=int(math.ceil(seconds / 5)) + 1)
    gain = np.repeat(holds, int(5 * sample_rate))[:length]
    smooth = max(1, int(0.01 * sample_rate))
    gain = np.convolve(np.concatenate([np.full(smooth - 1, gain[0]), gain]), np.ones(smooth) / smooth, mode="valid")
    return (out * gain).astype(np.float32)


def _overdrive(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Butterworth high-pass 120 Hz (2nd order) -> +18 dB -> tanh(x + 0.3) - tanh(0.3) -> Butterworth low-pass 3.5 kHz -> -12 dB."""
    high = scipy.signal.butter(2, 120, "highpass", fs=sample_rate, output="sos")
    low = scipy.signal.butter(2, 3500, "lowpass", fs=sample_rate, output="sos")
    driven = np.tanh(scipy.signal.sosfilt(high, x) * 10 ** (18 / 20) + 0.3) - math.tanh(0.3)
    return scipy.signal.sosfilt(low, driven) * 10 ** (-12 / 20)


def _compressor(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """RMS detector (one-pole on x^2, 15 ms) -> threshold -24 dBFS, ratio 4, hard knee -> +6 dB make-up."""
    pole = math.exp(-1 / (0.015 * sample_rate))
    power = scipy.signal.lfilter([1 - pole], [1, -pole], x.astype(np.float64) ** 2)
    level_db = 10 * np.log10(np.maximum(power, 1e-12))
    gain_db = np.minimum(0.0, (1 / 4 - 1) * (level_db + 24.0))
    return x * 10 ** ((gain_db + 6.0) / 20)


SYNTHETIC_DEVICES: Dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "overdrive": _overdrive,
    "compressor": _compressor,
}


def render_synthetic(root: PathLike, device: str = "overdrive", sample_rate: float = 48000, seconds: float = 60.0, seed: int = 0) -> Path:
    """Write ``<root>/<device>.input.wav`` and ``<device>.target.wav`` (plain layout); returns ``root``.

    Args:
        root: the folder (created when missing).
        device: a key of :data:`SYNTHETIC_DEVICES`.
        sample_rate: Hz.
        seconds: length of the pair.
        seed: seeds the input (:func:`synthetic_music`).

    A render whose card (``<device>.card.json``: device, rate, length, seed)
    matches is kept as it is, so repeated runs read the same files.

    Example:
        >>> import tempfile
        >>> folder = render_synthetic(tempfile.mkdtemp(), "compressor", 16000, 1.0)
        >>> sorted(p.name for p in folder.iterdir())
        ['compressor.card.json', 'compressor.input.wav', 'compressor.target.wav']
    """
    if device not in SYNTHETIC_DEVICES:
        raise ValueError(f"device must be one of {sorted(SYNTHETIC_DEVICES)}, got {device!r}")
    sample_rate = check_sample_rate(sample_rate)
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    card = {
        "dataset": "ddsp_kit synthetic", "device": device, "sample_rate": sample_rate, "seconds": seconds, "seed": seed,
        "input": "synthetic_music: plucked notes, chords, bass and noise hits at ToneTwist AFx levels",
        "effect": SYNTHETIC_DEVICES[device].__doc__,
    }
    card_path = root / f"{device}.card.json"
    paths = [root / f"{device}.input.wav", root / f"{device}.target.wav"]
    if card_path.is_file() and all(p.is_file() for p in paths) and json.loads(card_path.read_text()) == card:
        return root
    x = synthetic_music(sample_rate, seconds, seed)
    y = SYNTHETIC_DEVICES[device](x, sample_rate).astype(np.float32)
    rate = int(round(sample_rate))
    for path, audio in zip(paths, (x, y)):
        soundfile.write(path, audio, rate, subtype="FLOAT")
    card_path.write_text(json.dumps(card, indent=2))  # last: a card means the render is complete
    return root
