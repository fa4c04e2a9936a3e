r"""Evaluation metrics for audio-effect models (Python numbers, no gradients).

Each metric compares a prediction with a target, both ``(batch, channels,
samples)`` of the same shape, and summarises the batch in one number (the
mean over items unless stated). :func:`evaluate` gathers them all in a dict
for a trainer's summary table.

* :func:`esr`, :func:`esr_db`: error-to-signal ratio (see :func:`ddsp_kit.losses.esr`).
* :func:`loudness_difference_lu`: integrated loudness (ITU-R BS.1770, through
  ``pyloudnorm``) of the prediction minus that of the target, in LU.
* :func:`polarity`: whether the prediction is polarity-inverted (a model
  trained on magnitude spectra alone can converge there: its ESR is near 4).
* :func:`lag`: the delay of the prediction behind the target, by cross-correlation.
"""

import math
import numbers
from typing import Dict, NamedTuple, Optional, Union

import torch

from . import losses
from .functional.design import check_sample_rate

Tensor = torch.Tensor

# ITU-R BS.1770 gating block: integrated loudness needs at least one.
LOUDNESS_BLOCK_S = 0.4
# pyloudnorm weights channels L, R, C, Ls, Rs: at most five.
LOUDNESS_MAX_CHANNELS = 5


def _pair(pred, target):
    """Checked ``pred``, ``target`` in float64, detached."""
    losses.check_pair(pred, target)
    return pred.detach().double(), target.detach().double()


def esr(pred: Tensor, target: Tensor, pre_emphasis: Optional[float] = None) -> float:
    r"""Error-to-signal ratio, the mean over the batch (:func:`ddsp_kit.losses.esr`, in float64).

    Args:
        pred: predicted audio.
        target: target audio.
        pre_emphasis: coefficient of a :math:`1 - a z^{-1}` filter applied to both first; None for none.

    Shape:
        ``(batch, channels, samples)`` twice ``->`` a float

    Example:
        >>> t = torch.tensor([[[1.0, -2.0, 3.0]]])
        >>> round(esr(0.5 * t, t), 6)
        0.25
    """
    pred, target = _pair(pred, target)
    return float(losses.esr(pred, target, pre_emphasis))


def esr_db(pred: Tensor, target: Tensor, pre_emphasis: Optional[float] = None) -> float:
    r""":func:`esr` in dB, :math:`10 \log_{10} \mathrm{ESR}` (-inf for a perfect prediction).

    Example:
        >>> t = torch.tensor([[[1.0, -2.0, 3.0]]])
        >>> round(esr_db(0.9 * t, t), 3)
        -20.0
    """
    value = esr(pred, target, pre_emphasis)
    return 10 * math.log10(value) if value > 0 else -math.inf


def _pyloudnorm():
    try:
        import pyloudnorm
    except ImportError as error:
        raise ImportError("loudness metrics need pyloudnorm: pip install pyloudnorm") from error
    return pyloudnorm


def loudness_difference_lu(pred: Tensor, target: Tensor, sample_rate: float) -> float:
    r"""Integrated loudness of ``pred`` minus that of ``target``, in LU, the mean over the batch.

    ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks with 75 %
    overlap, absolute gate at -70 LUFS and relative gate at -10 LU), computed
    by ``pyloudnorm`` for each item over its channels (up to five: L, R, C,
    Ls, Rs). A prediction 6 dB louder than the target gives +6 LU.

    Args:
        pred: predicted audio.
        target: target audio, not silent (its loudness must be defined).
        sample_rate: Hz.

    Raises ValueError for signals shorter than one 400 ms gating block, more
    than five channels, or a target item quieter than the -70 LUFS absolute
    gate. A silent prediction gives -inf.

    Shape:
        ``(batch, channels, samples)`` twice ``->`` a float

    Example:
        >>> t = torch.sin(2 * torch.pi * 1000 * torch.arange(48000) / 48000).reshape(1, 1, -1)
        >>> round(loudness_difference_lu(0.5 * t, t, 48000), 2)
        -6.02
    """
    pred, target = _pair(pred, target)
    sample_rate = check_sample_rate(sample_rate)
    block = math.ceil(LOUDNESS_BLOCK_S * sample_rate)
    if pred.shape[-1] < block:
        raise ValueError(
            f"integrated loudness needs at least one 400 ms gating block ({block} samples at {sample_rate:g} Hz), "
            f"got {pred.shape[-1]} samples"
        )
    if pred.shape[1] > LOUDNESS_MAX_CHANNELS:
        raise ValueError(f"loudness is defined for at most {LOUDNESS_MAX_CHANNELS} channels, got {pred.shape[1]}")
    meter = _pyloudnorm().Meter(sample_rate)
    pred, target = pred.cpu(), target.cpu()
    differences = []
    for index, (p, t) in enumerate(zip(pred, target)):
        reference = meter.integrated_loudness(t.T.numpy())
        if not math.isfinite(reference):
            raise ValueError(f"target item {index} is silent (below the -70 LUFS gate): its loudness is undefined")
        differences.append(meter.integrated_loudness(p.T.numpy()) - reference)
    return float(sum(differences) / len(differences))


def polarity(pred: Tensor, target: Tensor) -> Dict[str, Union[bool, float]]:
    r"""Detect a polarity-inverted prediction.

    Compares the ESR of ``pred`` with that of ``-pred`` (batch means): the
    prediction is ``inverted`` when ``-pred`` is the closer, i.e. when the
    zero-lag correlation of ``pred`` and ``target`` is negative. An inverted
    copy of the target has ESR 4 and inverted ESR 0.

    Shape:
        ``(batch, channels, samples)`` twice ``->``
        ``{"inverted": bool, "esr": float, "esr_inverted": float}``

    Example:
        >>> t = torch.tensor([[[1.0, -2.0, 3.0]]])
        >>> report = polarity(-t, t)
        >>> report["inverted"], round(report["esr"], 6), report["esr_inverted"]
        (True, 4.0, 0.0)
    """
    pred, target = _pair(pred, target)
    straight, flipped = esr(pred, target), esr(-pred, target)
    return {"inverted": flipped < straight, "esr": straight, "esr_inverted": flipped}


class Lag(NamedTuple):
    """What :func:`lag` returns: the delay ``samples`` and the normalised correlation ``peak``."""

    samples: int
    peak: float


def lag(pred: Tensor, target: Tensor, max_lag: int) -> Lag:
    r"""The delay of ``pred`` behind ``target``, by cross-correlation (FFT).

    The cross-correlation :math:`r[k] = \sum_n p[n + k]\, t[n]`, summed over
    the batch and the channels, is searched for its largest magnitude at
    :math:`|k| \le` ``max_lag``. ``samples`` is that ``k`` (positive: ``pred``
    is late); ``peak`` is :math:`r[k] / \sqrt{\sum p^2 \sum t^2}`, near 1 for
    a delayed copy and near -1 for a delayed inverted one (0 when either
    signal is silent, with ``samples`` 0).

    Args:
        pred: predicted audio.
        target: target audio.
        max_lag: largest delay searched, in samples, ``0 <= max_lag < samples``.

    Shape:
        ``(batch, channels, samples)`` twice ``->`` :class:`Lag` ``(samples, peak)``

    Example:
        >>> t = torch.randn(1, 1, 1000)
        >>> late = torch.nn.functional.pad(t, (3, 0))[..., :1000]
        >>> lag(late, t, 10).samples
        3
    """
    pred, target = _pair(pred, target)
    count = pred.shape[-1]
    if isinstance(max_lag, bool) or not isinstance(max_lag, numbers.Integral) or not 0 <= max_lag < count:
        raise ValueError(f"max_lag must be an integer in [0, {count}) samples, got {max_lag!r}")
    max_lag = int(max_lag)
    size = 1 << (count + max_lag - 1).bit_length()  # >= count + max_lag: no circular wrap within +-max_lag
    spectrum = torch.fft.rfft(pred, size) * torch.fft.rfft(target, size).conj()
    correlation = torch.fft.irfft(spectrum.sum(dim=(0, 1)), size)
    lags = torch.arange(-max_lag, max_lag + 1, device=correlation.device)
    values = correlation[lags % size]
    norm = math.sqrt(float(pred.square().sum()) * float(target.square().sum()))
    if norm == 0:
        return Lag(0, 0.0)
    best = int(values.abs().argmax())
    return Lag(int(lags[best]), float(values[best]) / norm)


def evaluate(
    pred: Tensor, target: Tensor, sample_rate: float, max_lag: Optional[int] = None
) -> Dict[str, Union[float, int, bool]]:
    r"""All metrics in one flat dict, for a trainer's summary table.

    Keys: ``esr``, ``esr_db``, ``mrstft`` (:func:`ddsp_kit.losses.mrstft`,
    default resolutions), ``l1``, ``dc`` (:func:`ddsp_kit.losses.dc_loss`),
    ``loudness_difference_lu``, ``inverted``, ``esr_inverted``
    (:func:`polarity`), ``lag_samples``, ``lag_peak`` (:func:`lag`).

    Args:
        pred: predicted audio, at least 400 ms long (one loudness gating block).
        target: target audio, not silent.
        sample_rate: Hz.
        max_lag: largest delay searched, in samples; default 50 ms (at most
            ``samples - 1``).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` a dict

    Example:
        >>> t = torch.randn(2, 1, 24000)
        >>> report = evaluate(-t, t, 48000)
        >>> report["inverted"], round(report["esr"], 6), report["lag_samples"]
        (True, 4.0, 0)
    """
    pred, target = _pair(pred, target)
    sample_rate = check_sample_rate(sample_rate)
    if max_lag is None:
        max_lag = min(pred.shape[-1] - 1, round(0.05 * sample_rate))
    loudness = loudness_difference_lu(pred, target, sample_rate)
    flipped = polarity(pred, target)
    delay = lag(pred, target, max_lag)
    return {
        "esr": flipped["esr"],
        "esr_db": esr_db(pred, target),
        "mrstft": float(losses.mrstft(pred, target)),
        "l1": float(losses.l1(pred, target)),
        "dc": float(losses.dc_loss(pred, target)),
        "loudness_difference_lu": loudness,
        "inverted": flipped["inverted"],
        "esr_inverted": flipped["esr_inverted"],
        "lag_samples": delay.samples,
        "lag_peak": delay.peak,
    }
