r"""Data-quality report of a paired dataset, to read before training.

For every pair of a :class:`~ddsp_kit.data.PairedAudioDataset` split, and for
its input and its target separately:

* ``peak_db`` and ``rms_db``: level in dBFS (full scale 1);
* ``clipped``: samples at or above ``CLIP`` (0.999) in magnitude — a clipped
  recording teaches a model the recorder's limit, not the effect;
* ``dc``: mean sample value;
* ``noise_floor_db``: the 10th percentile of the RMS of 50 ms frames (the
  level of the quietest passages, an upper bound on the noise);
* ``silent``: fraction of 50 ms frames below ``SILENCE_DB`` (-60 dBFS);

and for the pair: ``lag`` (samples the target lags its input, from the
dataset's cross-correlation), ``inverted`` (the target's polarity), the length
in seconds and the knob values. :func:`format_report` renders it as a table.
"""

import math
from typing import Dict, List

import numpy as np

CLIP = 0.999
SILENCE_DB = -60.0
FRAME_SECONDS = 0.05
_FLOOR_DB = -200.0


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else _FLOOR_DB


def signal_quality(audio: np.ndarray, sample_rate: float) -> Dict[str, float]:
    """Level, clipping, DC, noise floor and silence of one ``(channels, samples)`` signal.

    Example:
        >>> stats = signal_quality(np.full((1, 4800), 0.5, dtype=np.float32), 48000)
        >>> round(stats["peak_db"], 2), stats["clipped"], round(stats["dc"], 3)
        (-6.02, 0, 0.5)
    """
    audio = np.asarray(audio, dtype=np.float64)
    frame = max(1, int(FRAME_SECONDS * sample_rate))
    usable = audio.shape[-1] // frame * frame
    mono_power = np.mean(audio**2, axis=0)
    frames = mono_power[:usable].reshape(-1, frame).mean(-1) if usable else mono_power.mean(keepdims=True)
    frame_db = np.array([_db(math.sqrt(p)) for p in frames])
    return {
        "peak_db": _db(float(np.abs(audio).max())),
        "rms_db": _db(math.sqrt(float(mono_power.mean()))),
        "clipped": int(np.count_nonzero(np.abs(audio) >= CLIP)),
        "dc": float(audio.mean()),
        "noise_floor_db": float(np.percentile(frame_db, 10)),
        "silent": float(np.mean(frame_db < SILENCE_DB)),
    }


def quality_report(dataset) -> List[Dict[str, object]]:
    """One row per pair of ``dataset`` (a :class:`~ddsp_kit.data.PairedAudioDataset`): see the module docstring."""
    rows = []
    for index, pair in enumerate(dataset.pairs):
        x, y = dataset.pair_audio(index)
        row = {
            "target": str(pair.target_path),
            "seconds": x.shape[-1] / dataset.sample_rate,
            "lag": int(dataset.lags[index]),
            "inverted": dataset.polarities[index] < 0,
            "knobs": dict(pair.knobs),
        }
        for side, audio in (("input", x), ("target", y)):
            row.update({f"{side}_{key}": value for key, value in signal_quality(audio, dataset.sample_rate).items()})
        rows.append(row)
    return rows


def format_report(rows: List[Dict[str, object]]) -> str:
    """A fixed-width table of :func:`quality_report` rows, with a line of warnings per problem found."""
    columns = [
        ("target", "{}"), ("seconds", "{:.1f}"), ("lag", "{:d}"), ("inverted", "{}"),
        ("input_peak_db", "{:.1f}"), ("target_peak_db", "{:.1f}"), ("target_rms_db", "{:.1f}"),
        ("target_clipped", "{:d}"), ("target_noise_floor_db", "{:.1f}"), ("target_silent", "{:.0%}"),
    ]
    cells = [[name for name, _ in columns]] + [[fmt.format(row[name]) for name, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    for row in rows:
        for side in ("input", "target"):
            if row[f"{side}_clipped"]:
                lines.append(f"warning: {row['target']}: {side} has {row[f'{side}_clipped']} clipped samples")
            if row[f"{side}_silent"] > 0.5:
                lines.append(f"warning: {row['target']}: {side} is silent over {row[f'{side}_silent']:.0%} of it")
            if abs(row[f"{side}_dc"]) > 0.01:
                lines.append(f"warning: {row['target']}: {side} has a DC offset of {row[f'{side}_dc']:.3f}")
        if row["inverted"]:
            lines.append(f"warning: {row['target']}: polarity inverted relative to the input")
        if row["lag"]:
            lines.append(f"note: {row['target']}: target lags its input by {row['lag']} samples")
    return "\n".join(lines)
