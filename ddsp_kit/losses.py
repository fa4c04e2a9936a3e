r"""Differentiable training losses for audio-effect models.

Every loss compares a prediction with a target, both ``(batch, channels,
samples)`` of the same shape, and returns the mean over the batch
(``reduction="mean"``, a scalar) or one value per item (``reduction="none"``,
``(batch,)``). Channels and samples of an item are pooled.

* :func:`esr`: error-to-signal ratio :math:`\sum (t - p)^2 / \sum t^2`,
  optionally after a first-order pre-emphasis :math:`H(z) = 1 - a z^{-1}` of
  both signals (Wright & Välimäki, "Perceptual loss function for neural
  modelling of audio systems", 2020). 0 for a perfect prediction, 1 for
  silence, 4 for a polarity-inverted prediction.
* :func:`dc_loss`: the DC error of the same paper,
  :math:`|\overline{t - p}|^2 / \overline{t^2}`.
* :func:`l1`: mean absolute error.
* :func:`mrstft`: multi-resolution STFT loss (spectral convergence plus log
  magnitude L1), through :class:`auraloss.freq.MultiResolutionSTFTLoss`
  (``pip install auraloss``; imported only when this loss is used).

:class:`CompositeLoss` builds a weighted sum from a config dict such as
``{"esr": 1.0, "mrstft": 0.1}`` and returns the per-term values for logging.
"""

import math
import numbers
from typing import Dict, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import nn

from .processors.base import check_audio

Tensor = torch.Tensor

REDUCTIONS = ("mean", "none")

# Default MR-STFT resolutions: FFT sizes of 512, 1024 and 2048 samples (about
# 12, 23 and 46 ms at 44.1 kHz), Hann windows as long as the FFT, hops of a
# quarter window. Short frames resolve transients, long ones low notes.
FFT_SIZES = (512, 1024, 2048)
HOP_SIZES = (128, 256, 512)
WIN_LENGTHS = (512, 1024, 2048)


def check_pair(pred, target) -> None:
    """Raise unless ``pred`` and ``target`` are finite float audio of one shape."""
    check_audio(pred, "pred")
    check_audio(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")


def _reduce(per_item: Tensor, reduction: str) -> Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return per_item.mean() if reduction == "mean" else per_item


def _check_eps(eps) -> float:
    if not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


def _check_coefficient(coefficient) -> float:
    if isinstance(coefficient, bool) or not isinstance(coefficient, numbers.Real) or not math.isfinite(coefficient):
        raise ValueError(f"pre-emphasis coefficient must be a finite number, got {coefficient!r}")
    return float(coefficient)


def pre_emphasis(x: Tensor, coefficient: float) -> Tensor:
    r"""First-order pre-emphasis :math:`y[n] = x[n] - a\,x[n-1]` (zero initial state).

    The FIR filter :math:`H(z) = 1 - a z^{-1}`, as ``scipy.signal.lfilter([1, -a], 1, x)``:
    ``a = 0.95`` lifts high frequencies (a +26 dB tilt from DC to Nyquist),
    which is what a loss weights when high-frequency errors matter.

    Args:
        x: audio, any shape, time last.
        coefficient: ``a``, a finite number (typically 0.85 to 0.95).

    Shape:
        ``(..., samples) -> (..., samples)``

    Example:
        >>> pre_emphasis(torch.tensor([1.0, 1.0, 1.0]), 0.5)
        tensor([1.0000, 0.5000, 0.5000])
    """
    coefficient = _check_coefficient(coefficient)
    return torch.cat([x[..., :1], x[..., 1:] - coefficient * x[..., :-1]], dim=-1)


_pre_emphasis = pre_emphasis  # esr's argument shadows the function's name


def esr(
    pred: Tensor,
    target: Tensor,
    pre_emphasis: Optional[float] = None,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    r"""Error-to-signal ratio :math:`\sum (t - p)^2 / (\sum t^2 + \epsilon)` per item.

    Args:
        pred: predicted audio.
        target: target audio.
        pre_emphasis: coefficient ``a`` of a pre-emphasis filter
            :math:`1 - a z^{-1}` applied to both signals first (see
            :func:`ddsp_kit.losses.pre_emphasis`); None for none.
        eps: added to the denominator (a silent target gives a finite loss).
        reduction: ``"mean"`` over the batch or ``"none"`` (one value per item).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)``

    Example:
        >>> t = torch.tensor([[[1.0, -2.0, 3.0]]])
        >>> esr(t, t).item(), round(esr(-t, t).item(), 6), round(esr(0 * t, t).item(), 6)
        (0.0, 4.0, 1.0)
    """
    check_pair(pred, target)
    eps = _check_eps(eps)
    if pre_emphasis is not None:
        pred, target = _pre_emphasis(pred, pre_emphasis), _pre_emphasis(target, pre_emphasis)
    error = (target - pred).square().sum(dim=(1, 2))
    energy = target.square().sum(dim=(1, 2))
    return _reduce(error / (energy + eps), reduction)


def l1(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""Mean absolute error :math:`\overline{|t - p|}` per item.

    Args:
        pred: predicted audio.
        target: target audio.
        reduction: ``"mean"`` over the batch or ``"none"`` (one value per item).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)``

    Example:
        >>> l1(torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]]), torch.zeros(2, 1, 2), reduction="none")
        tensor([0.5000, 2.0000])
    """
    check_pair(pred, target)
    return _reduce((target - pred).abs().mean(dim=(1, 2)), reduction)


def dc_loss(pred: Tensor, target: Tensor, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    r"""DC error :math:`|\overline{t - p}|^2 / (\overline{t^2} + \epsilon)` per item.

    The squared mean error (over samples, per channel, then averaged over
    channels) relative to the target's mean square, as in Wright & Välimäki
    (2020): it penalises an offset that :func:`esr` barely sees.

    Args:
        pred: predicted audio.
        target: target audio.
        eps: added to the denominator (a silent target gives a finite loss).
        reduction: ``"mean"`` over the batch or ``"none"`` (one value per item).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)``

    Example:
        >>> t = torch.tensor([[[1.0, -1.0, 1.0, -1.0]]])
        >>> dc_loss(t + 0.5, t).item()
        0.25
    """
    check_pair(pred, target)
    eps = _check_eps(eps)
    offset = (target - pred).mean(dim=-1).square().mean(dim=-1)
    power = target.square().mean(dim=(1, 2))
    return _reduce(offset / (power + eps), reduction)


def _auraloss_freq():
    try:
        import auraloss.freq
    except ImportError as error:
        raise ImportError("the MR-STFT loss needs auraloss: pip install auraloss") from error
    return auraloss.freq


class MRSTFTLoss(nn.Module):
    r"""Multi-resolution STFT loss, a thin wrapper of :class:`auraloss.freq.MultiResolutionSTFTLoss`.

    At each resolution, the spectral convergence
    :math:`\|\,|T| - |P|\,\|_F / \|\,|T|\,\|_F` plus the mean absolute difference
    of log magnitudes; the loss is the mean over resolutions. Each item of the
    batch is compared on its own (auraloss pools the batch in the spectral
    convergence), so that per-item values exist; its channels are pooled.

    Args:
        fft_sizes: FFT sizes in samples; default 512, 1024, 2048.
        hop_sizes: hops in samples, one per FFT size; default 128, 256, 512.
        win_lengths: window lengths in samples, one per FFT size; default
            512, 1024, 2048 (as long as the FFT).
        window: a ``torch`` window function's name (``"hann_window"``, ...).
        **options: further :class:`auraloss.freq.MultiResolutionSTFTLoss`
            arguments (``w_sc``, ``w_log_mag``, ``w_lin_mag``, ...).

    Signals need more than ``max(fft_sizes) // 2`` samples (the STFT pads
    each end by half a frame, by reflection).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)``
        (``reduction`` of :meth:`forward`)

    Example:
        >>> loss = MRSTFTLoss()
        >>> x = torch.randn(2, 1, 4096)
        >>> loss(x, x).item() < 1e-6, loss(x, x, reduction="none").shape
        (True, torch.Size([2]))
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = FFT_SIZES,
        hop_sizes: Sequence[int] = HOP_SIZES,
        win_lengths: Sequence[int] = WIN_LENGTHS,
        window: str = "hann_window",
        **options,
    ):
        super().__init__()
        sizes = [list(fft_sizes), list(hop_sizes), list(win_lengths)]
        if not sizes[0] or len({len(s) for s in sizes}) != 1:
            raise ValueError(
                "fft_sizes, hop_sizes and win_lengths must be non-empty and of one length, got "
                f"{len(sizes[0])}, {len(sizes[1])} and {len(sizes[2])}"
            )
        for name, values in zip(("fft_sizes", "hop_sizes", "win_lengths"), sizes):
            if not all(isinstance(v, numbers.Integral) and v > 0 for v in values):
                raise ValueError(f"{name} must be positive integers, got {values}")
        if any(w > n for w, n in zip(sizes[2], sizes[0])):
            raise ValueError(f"each window length must be at most its FFT size, got {sizes[2]} for {sizes[0]}")
        if not isinstance(window, str) or not callable(getattr(torch, window, None)):
            raise ValueError(f"window must name a torch window function such as 'hann_window', got {window!r}")
        self.min_samples = max(sizes[0]) // 2 + 1
        self.loss = _auraloss_freq().MultiResolutionSTFTLoss(*sizes, window=window, **options)

    def forward(self, pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        check_pair(pred, target)
        if pred.shape[-1] < self.min_samples:
            raise ValueError(
                f"the MR-STFT loss needs at least {self.min_samples} samples (half the largest FFT size, "
                f"plus one), got {pred.shape[-1]}"
            )
        per_item = torch.stack([self.loss(p[None], t[None]) for p, t in zip(pred, target)])
        return _reduce(per_item, reduction)


def mrstft(pred: Tensor, target: Tensor, reduction: str = "mean", **options) -> Tensor:
    r"""Multi-resolution STFT loss (see :class:`MRSTFTLoss` for the resolutions).

    Builds the loss on each call: in a training loop, hold one :class:`MRSTFTLoss`.

    Args:
        pred: predicted audio.
        target: target audio.
        reduction: ``"mean"`` over the batch or ``"none"`` (one value per item).
        **options: :class:`MRSTFTLoss` arguments (``fft_sizes``, ``hop_sizes``, ...).

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)``

    Example:
        >>> x = torch.randn(1, 2, 4096)
        >>> bool(mrstft(0.5 * x, x) > mrstft(0.9 * x, x))
        True
    """
    return MRSTFTLoss(**options)(pred, target, reduction)


class ESRLoss(nn.Module):
    """:func:`esr` as a module. Args: ``pre_emphasis`` and ``eps``, as there, and ``pooled``.

    ``pooled`` (default True): with ``reduction="mean"`` the batch's total error over its total energy
    (the ESR of the batch as one signal, as Wright et al. and Neural Amp Modeler compute it), so that a
    crop of near silence does not dominate the loss with a huge ratio of its own; False: the mean of the
    per-item ratios. ``reduction="none"`` always gives the per-item ratios.

    Example:
        >>> ESRLoss(pre_emphasis=0.95)(torch.zeros(1, 1, 8), torch.ones(1, 1, 8)).item() > 0.99
        True
        >>> t = torch.tensor([[[1.0, 1.0]], [[0.01, 0.01]]])   # a loud crop and a quiet one
        >>> p = t + 0.01
        >>> round(ESRLoss()(p, t).item(), 4), round(ESRLoss(pooled=False)(p, t).item(), 4)
        (0.0002, 0.5)
    """

    def __init__(self, pre_emphasis: Optional[float] = None, eps: float = 1e-8, pooled: bool = True):
        super().__init__()
        self.pre_emphasis = None if pre_emphasis is None else _check_coefficient(pre_emphasis)
        self.eps = _check_eps(eps)
        if not isinstance(pooled, bool):
            raise TypeError(f"pooled must be a bool, got {type(pooled).__name__}")
        self.pooled = pooled

    def forward(self, pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        if self.pooled and reduction == "mean":
            check_pair(pred, target)
            if self.pre_emphasis is not None:
                pred, target = _pre_emphasis(pred, self.pre_emphasis), _pre_emphasis(target, self.pre_emphasis)
            return (target - pred).square().sum() / (target.square().sum() + self.eps)
        return esr(pred, target, self.pre_emphasis, self.eps, reduction)


class L1Loss(nn.Module):
    """:func:`l1` as a module.

    Example:
        >>> L1Loss()(torch.zeros(1, 1, 4), torch.ones(1, 1, 4)).item()
        1.0
    """

    def forward(self, pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        return l1(pred, target, reduction)


class DCLoss(nn.Module):
    """:func:`dc_loss` as a module. Args: ``eps``, as there.

    Example:
        >>> DCLoss()(torch.zeros(1, 1, 4), torch.ones(1, 1, 4)).item() > 0.99
        True
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = _check_eps(eps)

    def forward(self, pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        return dc_loss(pred, target, self.eps, reduction)


# Loss modules by the name a config uses.
LOSSES = {"esr": ESRLoss, "l1": L1Loss, "dc": DCLoss, "mrstft": MRSTFTLoss}


class LossResult(NamedTuple):
    """What :class:`CompositeLoss` returns: the weighted ``total`` and each term's
    unweighted value by name (same reduction as the total; for logging)."""

    total: Tensor
    terms: Dict[str, Tensor]


class CompositeLoss(nn.Module):
    r"""A weighted sum of losses, built from a config dict.

    Args:
        terms: weight by loss name, e.g. ``{"esr": 1.0, "mrstft": 0.1}``;
            names are those of ``LOSSES``: ``esr``, ``l1``, ``dc``, ``mrstft``;
            weights are finite numbers >= 0.
        **options: constructor arguments by term name, e.g.
            ``esr={"pre_emphasis": 0.95}``, ``mrstft={"fft_sizes": [256, 1024]}``.

    ``forward(pred, target, reduction="mean")`` returns a :class:`LossResult`:
    ``total`` = :math:`\sum_k w_k L_k` and ``terms`` = ``{name: L_k}``.

    Shape:
        ``(batch, channels, samples)`` twice ``->`` ``()`` or ``(batch,)`` each

    Example:
        >>> loss = CompositeLoss({"esr": 1.0, "l1": 0.5}, esr={"pre_emphasis": 0.95})
        >>> t = torch.ones(1, 1, 8)
        >>> result = loss(0 * t, t)
        >>> sorted(result.terms), round(result.terms["l1"].item(), 4), round(result.total.item(), 4)
        (['esr', 'l1'], 1.0, 1.5)
    """

    def __init__(self, terms: Mapping[str, float], **options: Mapping):
        super().__init__()
        if not isinstance(terms, Mapping) or not terms:
            raise ValueError(f"terms must be a non-empty dict of loss name -> weight, got {terms!r}")
        unknown = sorted(set(terms) - set(LOSSES))
        if unknown:
            raise ValueError(f"unknown loss name(s) {unknown}; known: {sorted(LOSSES)}")
        stray = sorted(set(options) - set(terms))
        if stray:
            raise ValueError(f"options given for loss(es) {stray} that are not among the terms {sorted(terms)}")
        for name, weight in terms.items():
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {weight!r}")
        for name, option in options.items():
            if not isinstance(option, Mapping):
                raise TypeError(f"options for {name!r} must be a dict of constructor arguments, got {type(option).__name__}")
        self.weights = {name: float(weight) for name, weight in terms.items()}
        self.terms = nn.ModuleDict({name: LOSSES[name](**options.get(name, {})) for name in terms})

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())

    def forward(self, pred: Tensor, target: Tensor, reduction: str = "mean") -> LossResult:
        values = {name: term(pred, target, reduction) for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        return LossResult(total, values)
