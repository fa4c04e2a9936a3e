r"""A torch Dataset of cropped (input, target, knobs) segments from recording pairs.

:class:`PairedAudioDataset` reads every pair up front with soundfile (float32,
channels kept), checks it, and holds the audio of its split in memory (an input
shared by several targets is held once). Every check failing raises a
ValueError naming the file:

* the file cannot be read, or holds no samples;
* NaN or Inf samples;
* input and target differ in sample rate or in channel count, or their rate is
  not ``sample_rate`` (with ``resample=True`` they are resampled to
  ``sample_rate`` with :func:`scipy.signal.resample_poly`, logged);
* input and target differ in length (with ``trim=True`` both are trimmed to the
  shorter, logged);
* the target is silent (all zeros);
* a split range is shorter than one crop.

It also estimates each pair's constant lag and polarity
(:mod:`ddsp_kit.data.alignment`): a lag is logged and, with
``compensate_lag=True``, removed by shifting the target earlier (both signals
lose the ``|lag|`` samples they no longer share); an inverted polarity is
logged and left as recorded (it may be what the effect does).

An item is a crop of ``warmup_samples + segment_samples`` samples. The first
``warmup_samples`` let a stateful model settle from its zero initial state: the
loss must ignore them (compare ``output[..., warmup:]`` with
``target[..., warmup:]``).

Splits. ``split_by="time"`` cuts every pair into its first ``fractions[0]``
(train), next ``fractions[1]`` (validation) and last ``fractions[2]`` (test) of
samples. ``split_by="file"`` shuffles the distinct input files with ``seed``
and gives whole input files (with all their targets, so no input audio is
shared across splits) to train, validation and test in those fractions.

Crops. A split range of ``L`` samples holds ``L // crop`` slots, and the
dataset's length is the total over its pairs. In ``"validation"`` and
``"test"`` slot ``s`` is the ``s``-th consecutive, non-overlapping crop from the
start of the range. In ``"train"`` slot ``s`` of a pair is a crop at a uniformly
random offset inside that pair's range (so pairs are drawn in proportion to
their length), drawn from ``(seed, epoch, index)``: call :meth:`set_epoch` to
get new crops each epoch. Every item is deterministic given the seed.
"""

import logging
from fractions import Fraction
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..functional.design import check_sample_rate
from .alignment import check_polarity, estimate_lag
from .pairs import Pair

__all__ = ["PairedAudioDataset", "SPLITS"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def _whole(name: str, value, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be a whole number of samples >= {low}, got {value!r}")
    return int(value)


class PairedAudioDataset(torch.utils.data.Dataset):
    """Crops of paired recordings for training a model of an effect (see the module documentation).

    Args:
        pairs: the recording pairs (from :func:`ddsp_kit.data.plain_pairs` and the like).
        sample_rate: the rate every file must have (or is resampled to), in Hz.
        segment_samples: samples of each crop that the loss sees.
        warmup_samples: samples before them that the loss ignores.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        split_by: ``"time"`` (a span of every pair) or ``"file"`` (whole input files).
        fractions: the train, validation and test fractions (non-negative, sum 1).
        seed: seeds the file split and the training crops.
        compensate_lag: remove each pair's estimated constant lag.
        max_lag: the largest lag searched, in samples.
        resample: resample files whose rate is not ``sample_rate`` instead of failing.
        trim: trim pairs of unequal length to the shorter instead of failing.

    Attributes:
        pairs: the pairs of this split.
        knob_names: the knob names, sorted: the order of ``item["knobs"]``.
        lags: the estimated lag of each pair of this split, in samples (positive: target late).
        polarities: ``1`` or ``-1`` for each pair of this split.

    Shape:
        - ``item["input"]``, ``item["target"]``: ``(C, warmup_samples + segment_samples)`` float32.
        - ``item["knobs"]``: ``(K,)`` float32, values in ``[0, 1]``.
        - ``item["warmup"]``: ``warmup_samples`` (an int).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        sample_rate: float,
        segment_samples: int,
        warmup_samples: int = 0,
        split: str = "train",
        split_by: str = "time",
        fractions: Tuple[float, float, float] = (0.6, 0.2, 0.2),
        seed: int = 0,
        compensate_lag: bool = False,
        max_lag: int = 4096,
        resample: bool = False,
        trim: bool = False,
    ):
        self.sample_rate = check_sample_rate(sample_rate)
        self.segment_samples = _whole("segment_samples", segment_samples, low=1)
        self.warmup_samples = _whole("warmup_samples", warmup_samples)
        self.max_lag = _whole("max_lag", max_lag)
        self.seed = _whole("seed", seed)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if split_by not in ("time", "file"):
            raise ValueError(f"split_by must be 'time' or 'file', got {split_by!r}")
        fractions = tuple(float(f) for f in fractions)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
            raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions!r}")
        pairs = list(pairs)
        if not pairs:
            raise ValueError("pairs is empty")
        self.split, self.split_by, self.fractions = split, split_by, fractions
        self.compensate_lag, self.resample, self.trim = compensate_lag, resample, trim
        self.epoch = 0
        self.knob_names = sorted(set().union(*(p.knobs for p in pairs)))
        for pair in pairs:
            missing = [k for k in self.knob_names if k not in pair.knobs]
            if missing:
                raise ValueError(f"{pair.target_path}: no value for knob(s) {missing} set on other pairs")

        keep = self._split_files(pairs) if split_by == "file" else set(range(len(pairs)))
        self.pairs, self.lags, self.polarities = [], [], []
        self._audio: Dict[str, np.ndarray] = {}
        self._spans: List[Tuple[str, str, int, int, int]] = []  # input key, target key, offsets, length
        self._slots: List[Tuple[int, int]] = []  # (pair index, slot)
        self._ranges: List[Tuple[int, int]] = []
        for index, pair in enumerate(pairs):
            span, lag, polarity = self._check(pair)
            if index not in keep:
                continue
            self.pairs.append(pair)
            self.lags.append(lag)
            self.polarities.append(polarity)
            self._spans.append(span)
        for key in list(self._audio):  # audio of the pairs outside this split
            if not any(key in span[:2] for span in self._spans):
                del self._audio[key]
        crop = self.warmup_samples + self.segment_samples
        for index, (pair, span) in enumerate(zip(self.pairs, self._spans)):
            start, stop = self._split_range(span[4])
            if stop - start < crop:
                raise ValueError(
                    f"{pair.target_path}: the {split} range holds {stop - start} samples, fewer than one crop of {crop}"
                )
            self._ranges.append((start, stop))
            self._slots.extend((index, slot) for slot in range((stop - start) // crop))

    def _split_files(self, pairs: List[Pair]) -> set:
        """Indices of the pairs whose input file falls in this split."""
        inputs = sorted({str(p.input_path) for p in pairs})
        order = np.random.default_rng(self.seed).permutation(len(inputs))
        bounds = np.round(np.cumsum((0.0,) + self.fractions) * len(inputs)).astype(int)
        which = SPLITS.index(self.split)
        chosen = {inputs[i] for i in order[bounds[which] : bounds[which + 1]]}
        if not chosen:
            raise ValueError(
                f"no input file falls in the {self.split} split: {len(inputs)} input files with fractions {self.fractions}"
            )
        logger.info("split by file: %d of %d input files in %s", len(chosen), len(inputs), self.split)
        return {i for i, p in enumerate(pairs) if str(p.input_path) in chosen}

    def _split_range(self, length: int) -> Tuple[int, int]:
        """This split's ``[start, stop)`` samples of a pair ``length`` samples long."""
        if self.split_by == "file":
            return 0, length
        bounds = [int(length * f) for f in np.cumsum((0.0,) + self.fractions)]
        bounds[-1] = length
        which = SPLITS.index(self.split)
        return bounds[which], bounds[which + 1]

    def _read(self, path) -> np.ndarray:
        """The checked ``(C, T)`` float32 audio of ``path`` at ``sample_rate`` (cached)."""
        import soundfile

        key = str(path)
        if key in self._audio:
            return self._audio[key]
        try:
            audio, rate = soundfile.read(key, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
            raise ValueError(f"{path}: cannot read audio ({error})") from None
        if audio.shape[0] == 0:
            raise ValueError(f"{path}: empty file (no samples)")
        if not np.isfinite(audio).all():
            raise ValueError(f"{path}: holds NaN or Inf samples")
        if rate != self.sample_rate:
            if not self.resample:
                raise ValueError(
                    f"{path}: sample rate {rate} Hz, expected {self.sample_rate:g} Hz; pass resample=True to resample"
                )
            if self.sample_rate != int(self.sample_rate):
                raise ValueError(f"{path}: cannot resample to a non-integer rate of {self.sample_rate} Hz")
            from scipy.signal import resample_poly

            ratio = Fraction(int(self.sample_rate), int(rate))
            audio = resample_poly(audio, ratio.numerator, ratio.denominator, axis=0).astype(np.float32)
            logger.info("%s: resampled from %d Hz to %g Hz", path, rate, self.sample_rate)
        self._audio[key] = audio = np.ascontiguousarray(audio.T)
        return audio

    def _check(self, pair: Pair):
        """Reads and checks a pair: its span ``(input key, target key, input offset, target offset, length)``."""
        x, y = self._read(pair.input_path), self._read(pair.target_path)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{pair.target_path}: {y.shape[0]} channels, but its input {pair.input_path} has {x.shape[0]}")
        if not np.any(y):
            raise ValueError(f"{pair.target_path}: silent target (all samples are zero)")
        if x.shape[1] != y.shape[1]:
            if not self.trim:
                raise ValueError(
                    f"{pair.target_path}: {y.shape[1]} samples, but its input {pair.input_path} has {x.shape[1]};"
                    " pass trim=True to trim both to the shorter"
                )
            logger.info("%s: trimmed with its input to %d samples", pair.target_path, min(x.shape[1], y.shape[1]))
        length = min(x.shape[1], y.shape[1])
        xt, yt = torch.from_numpy(x[:, :length]), torch.from_numpy(y[:, :length])
        lag = estimate_lag(xt, yt, self.max_lag)
        polarity = check_polarity(xt, yt, self.max_lag)
        if polarity < 0:
            logger.warning("%s: polarity inverted relative to its input (left as recorded)", pair.target_path)
        x_offset = y_offset = 0
        if lag:
            if self.compensate_lag:
                x_offset, y_offset = max(-lag, 0), max(lag, 0)
                length -= abs(lag)
                logger.info("%s: target lags its input by %d samples; shifted earlier", pair.target_path, lag)
            else:
                logger.info("%s: target lags its input by %d samples (not compensated)", pair.target_path, lag)
        span = (str(pair.input_path), str(pair.target_path), x_offset, y_offset, length)
        return span, lag, polarity

    def pair_audio(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """The checked ``(C, T)`` input and target of pair ``index`` of this split, aligned as the crops are."""
        x_key, y_key, x_offset, y_offset, length = self._spans[index]
        return self._audio[x_key][:, x_offset:x_offset + length], self._audio[y_key][:, y_offset:y_offset + length]

    def set_epoch(self, epoch: int) -> None:
        """Draws new training crops: item ``i`` depends on ``(seed, epoch, i)`` only."""
        self.epoch = _whole("epoch", epoch)

    def __len__(self) -> int:
        return len(self._slots)

    def crop_start(self, index: int) -> Tuple[int, int]:
        """``(pair index, start)`` of item ``index``: the crop's first sample in the pair's (lag-compensated) time."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        pair, slot = self._slots[index]
        start, stop = self._ranges[pair]
        crop = self.warmup_samples + self.segment_samples
        if self.split != "train":
            return pair, start + slot * crop
        rng = np.random.default_rng([self.seed, self.epoch, index % len(self)])
        return pair, int(rng.integers(start, stop - crop + 1))

    def __getitem__(self, index: int) -> dict:
        pair, start = self.crop_start(index)
        x_key, y_key, x_offset, y_offset, _ = self._spans[pair]
        stop = start + self.warmup_samples + self.segment_samples
        knobs = self.pairs[pair].knobs
        return {
            "input": torch.from_numpy(self._audio[x_key][:, x_offset + start : x_offset + stop].copy()),
            "target": torch.from_numpy(self._audio[y_key][:, y_offset + start : y_offset + stop].copy()),
            "knobs": torch.tensor([knobs[k] for k in self.knob_names], dtype=torch.float32),
            "warmup": self.warmup_samples,
        }
