r"""Memoryless waveshapers and the oversampling that keeps their aliasing down.

Waveshapers are pure, differentiable functions of a tensor; their parameters
broadcast against it (scalars, or per-sample tensors). Each is 0 at 0, so
silence stays silent (the shapers that would add a static offset subtract it):

===================  ================================================================
:func:`soft_clip`    :math:`\tanh(d\,x)`
:func:`hard_clip`    clip at :math:`\pm t` with a quadratic knee of width :math:`w`
:func:`biased_tanh`  :math:`\tanh(x + b) - \tanh(b)` (even harmonics)
:func:`chebyshev`    :math:`\sum_k c_k\,(T_k(x) - T_k(0))`, :math:`x` clamped to [-1, 1]
:func:`rational`     :math:`P(x) / \sqrt{1 + S(x)^2}`, a denominator >= 1 (no poles)
===================  ================================================================

A nonlinearity creates harmonics above Nyquist that fold back (alias) to
non-harmonic frequencies. :func:`oversample` runs a shaper at 2, 4 or 8 times
the sample rate between cascades of 2x stages (:func:`upsample2`,
:func:`downsample2`) whose filters are linear-phase half-band Kaiser windowed
sincs (:func:`halfband_fir`). With the base rate :math:`f_s`, every stage keeps
:math:`[0, 0.4 f_s]` (ripple below 0.0001 dB) and attenuates by at least
100 dB everything that would land there, so aliases and images only reach the
band :math:`[0.4 f_s, 0.5 f_s]` (above 19.2 kHz at 48 kHz). Stage ``s`` runs
at :math:`2^s f_s` with a transition band :math:`0.5 - 0.8 / 2^s` of its rate
wide (75, 27 and 23 taps). The total delay is a whole number of base-rate
samples (:func:`oversampling_latency`: 37, 44 and 47 samples for factors 2, 4
and 8; the top stage's filter is padded with a few zero taps to round it up),
so a dry path can be aligned with an integer delay.

The filters are causal FIRs whose histories are carried in a state dict, so
that processing a stream in blocks of any size equals one pass.
"""

import functools
import math
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

Tensor = torch.Tensor
State = Dict[str, Tensor]

OVERSAMPLING_FACTORS = (1, 2, 4, 8)
# Band every oversampling stage keeps intact, as a fraction of the base rate,
# and the attenuation of all that would alias or image into it.
_PASSBAND = 0.4
_STOPBAND_DB = 100.0


def soft_clip(x: Tensor, drive=1.0) -> Tensor:
    r"""Hyperbolic-tangent soft clipper :math:`\tanh(d\,x)`.

    Args:
        x: signal, any shape (full scale is 1).
        drive: linear gain :math:`d` before the clipper, broadcastable against ``x``.

    Example:
        >>> soft_clip(torch.tensor([0.0, 10.0]), drive=2.0)
        tensor([0., 1.])
    """
    return torch.tanh(x * drive)


def hard_clip(x: Tensor, knee=0.1, threshold=1.0) -> Tensor:
    r"""Clipper at :math:`\pm t` with a quadratic knee of width :math:`w`, differentiable everywhere.

    The identity below :math:`t - w/2`, the constant :math:`\pm t` above
    :math:`t + w/2`, and in between the parabola that joins them with a
    continuous slope: :math:`y = x - (x - t + w/2)^2 / (2w)` (odd symmetric).
    It is exactly the hard clipper outside the knee and tends to it as
    :math:`w \to 0`.

    Args:
        x: signal, any shape.
        knee: knee width :math:`w`, amplitude, in (0, 2t]; broadcastable against ``x``.
        threshold: clipping level :math:`t` > 0, amplitude; broadcastable against ``x``.

    Example:
        >>> hard_clip(torch.tensor([0.5, 1.0, 2.0]), knee=0.2)
        tensor([0.5000, 0.9750, 1.0000])
    """
    knee = torch.as_tensor(knee, dtype=x.dtype, device=x.device)
    threshold = torch.as_tensor(threshold, dtype=x.dtype, device=x.device)
    if not bool((threshold > 0).all()) or not bool(((knee > 0) & (knee <= 2 * threshold)).all()):
        raise ValueError("hard_clip needs threshold > 0 and 0 < knee <= 2 * threshold")
    start = threshold - knee / 2

    def excess(u):  # how far above the clipped curve u is: 0 below the knee, u - t above it
        inside = torch.clamp(torch.relu(u - start), max=knee)
        return inside * inside / (2 * knee) + torch.relu(u - start - knee)

    return x - excess(x) + excess(-x)


def biased_tanh(x: Tensor, bias) -> Tensor:
    r"""Asymmetric shaper :math:`\tanh(x + b) - \tanh(b)`.

    Biasing the operating point breaks the odd symmetry, so the shaper
    produces even harmonics; subtracting :math:`\tanh(b)` removes the static
    offset (silence stays silent). A signal still gets the signal-dependent
    DC of a real asymmetric stage (its even-order rectification).

    Args:
        x: signal, any shape.
        bias: operating point :math:`b`, amplitude, broadcastable against ``x``.

    Example:
        >>> biased_tanh(torch.tensor([-10.0, 0.0, 10.0]), 0.5)
        tensor([-1.4621,  0.0000,  0.5379])
    """
    return torch.tanh(x + bias) - torch.tanh(torch.as_tensor(bias, dtype=x.dtype))


def chebyshev(x: Tensor, coefficients: Tensor, remove_offset: bool = True) -> Tensor:
    r"""Chebyshev polynomial shaper :math:`\sum_{k=1}^{N} c_k\,T_k(x)`.

    Since :math:`T_k(\cos\theta) = \cos k\theta`, a full-scale sinusoid comes
    out as the sum of its harmonics ``k`` with amplitudes :math:`c_k`. The
    polynomials come from the three-term recurrence
    :math:`T_{k+1} = 2x\,T_k - T_{k-1}`, whose rounding errors stay bounded
    for :math:`|x| \le 1`; ``x`` is clamped to [-1, 1] first (beyond it
    :math:`T_k` grows like :math:`x^k`), so the shaper holds :math:`T_k(\pm 1)`
    above full scale.

    Args:
        x: signal, any shape.
        coefficients: ``(N, ...)``: ``coefficients[k - 1]`` is :math:`c_k`
            (the amplitude of harmonic ``k``), broadcastable against ``x``.
        remove_offset: subtract :math:`\sum_k c_k T_k(0)`, the static output
            of even orders (:math:`T_k(0) = \cos(k\pi/2)`), so that 0 maps to 0.

    Example:
        >>> x = torch.cos(torch.tensor([0.0, 1.0]))
        >>> chebyshev(x, torch.tensor([0.0, 0.0, 1.0]))  # T_3(cos t) = cos(3 t)
        tensor([ 1.0000, -0.9900])
    """
    coefficients = torch.as_tensor(coefficients, dtype=x.dtype, device=x.device)
    if coefficients.dim() == 0 or coefficients.shape[0] == 0:
        raise ValueError(f"coefficients must be (N, ...) with N >= 1, got shape {tuple(coefficients.shape)}")
    x = x.clamp(-1, 1)
    previous, current = torch.ones_like(x), x
    y = coefficients[0] * current
    for k in range(2, coefficients.shape[0] + 1):
        previous, current = current, 2 * x * current - previous
        at_zero = 0 if k % 2 or not remove_offset else (-1) ** (k // 2)
        y = y + coefficients[k - 1] * (current - at_zero)
    return y


def rational(x: Tensor, numerator: Tensor, denominator: Tensor) -> Tensor:
    r"""Rational shaper :math:`P(x) / \sqrt{1 + S(x)^2}` without poles.

    :math:`P(x) = \sum_{k=0}^{n} a_k x^k` and :math:`S(x) = \sum_{k=1}^{m} b_k x^k`.
    Like the "safe" Padé activation unit, whose denominator is
    :math:`1 + |S(x)|`, the denominator is at least 1 for any coefficients,
    so the shaper has no poles; the square root makes it smooth everywhere
    and behaves as :math:`|S(x)|` for large :math:`|x|`, so ``n = m``
    saturates (``x / sqrt(1 + x^2)`` for :math:`a_1 = b_1 = 1`).

    Args:
        x: signal, any shape.
        numerator: ``(n + 1, ...)``: :math:`a_0 \dots a_n`, ascending powers,
            each broadcastable against ``x``.
        denominator: ``(m, ...)``: :math:`b_1 \dots b_m`, ascending powers.

    Example:
        >>> rational(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0]))
        tensor([0.0000, 0.7071])
    """
    numerator = torch.as_tensor(numerator, dtype=x.dtype, device=x.device)
    denominator = torch.as_tensor(denominator, dtype=x.dtype, device=x.device)
    if numerator.dim() == 0 or denominator.dim() == 0 or numerator.shape[0] == 0 or denominator.shape[0] == 0:
        raise ValueError(
            f"numerator (n + 1, ...) and denominator (m, ...) need n >= 0, m >= 1; got shapes "
            f"{tuple(numerator.shape)} and {tuple(denominator.shape)}"
        )
    p = _horner(x, numerator)
    s = x * _horner(x, denominator)
    return p / torch.sqrt(1 + s * s)


def _horner(x: Tensor, coefficients: Tensor) -> Tensor:
    """:math:`\\sum_k c_k x^k` for ascending coefficients ``(K, ...)``."""
    y = coefficients[-1]
    for c in coefficients.flip(0)[1:]:
        y = y * x + c
    return y * torch.ones_like(x)


def _kaiser_beta(attenuation_db: float) -> float:
    if attenuation_db > 50:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db > 21:
        return 0.5842 * (attenuation_db - 21) ** 0.4 + 0.07886 * (attenuation_db - 21)
    return 0.0


def _halfband_taps(half: int, beta: float) -> np.ndarray:
    """The ``4 half - 1`` taps, exactly half-band: centre 1/2, zeros at even
    offsets, odd taps summing to 1/2 (unit DC gain), so that upsampling passes
    the input samples unchanged."""
    length = 4 * half - 1
    offset = np.arange(length) - (length - 1) // 2
    taps = np.sinc(offset / 2) / 2 * np.kaiser(length, beta)
    odd = offset % 2 == 1
    taps[~odd] = 0.0
    taps[odd] *= 0.5 / taps[odd].sum()
    taps[offset == 0] = 0.5
    return taps


@functools.lru_cache(maxsize=None)
def _kaiser_halfband(transition: float, attenuation_db: float) -> np.ndarray:
    width = 2 * math.pi * transition
    estimate = math.ceil((attenuation_db - 7.95) / (2.285 * width)) + 1  # Kaiser's length formula
    half = math.ceil((estimate + 1) / 4)
    beta = _kaiser_beta(attenuation_db)
    # Kaiser's estimate falls a few dB short for short filters: lengthen until
    # the response, sampled densely, meets the attenuation.
    grid = 1 << 15
    stop = np.arange(grid // 2 + 1) / grid >= 0.25 + transition / 2
    while True:
        taps = _halfband_taps(half, beta)
        if np.abs(np.fft.rfft(taps, grid)[stop]).max() <= 10 ** (-attenuation_db / 20):
            break
        half += 1
    taps.setflags(write=False)
    return taps


def halfband_fir(transition: float, attenuation_db: float = _STOPBAND_DB) -> Tensor:
    r"""Linear-phase half-band lowpass: a Kaiser-windowed sinc with cut-off at a quarter of the rate.

    The window follows Kaiser's formula for the attenuation, and the length
    (``4K - 1`` taps) is the shortest that meets it (checked on a dense
    frequency grid; Kaiser's length estimate can fall short); the taps are exactly half-band (centre 1/2, zeros at even
    offsets from it), so the response is symmetric about a quarter of the rate.

    Args:
        transition: width of the transition band, a fraction of the sample
            rate in (0, 0.5), centred on 0.25.
        attenuation_db: stop-band attenuation, dB > 0 (also the pass-band
            ripple: :math:`10^{-A/20}`).

    Returns:
        float64 taps ``(L,)``, delay ``(L - 1) / 2`` samples, unit DC gain.

    Example:
        >>> taps = halfband_fir(0.1)
        >>> len(taps), round(float(taps.sum()), 12)
        (75, 1.0)
    """
    if not 0 < transition < 0.5:
        raise ValueError(f"transition must be a fraction of the sample rate in (0, 0.5), got {transition!r}")
    if not 0 < attenuation_db < math.inf:
        raise ValueError(f"attenuation_db must be a positive number of dB, got {attenuation_db!r}")
    return torch.from_numpy(_kaiser_halfband(float(transition), float(attenuation_db)).copy())


def _history(name: str, x: Tensor, history: Optional[Tensor], length: int) -> Tensor:
    """The FIR history ``(..., length)`` for ``x`` (zeros to start), checked against it."""
    if history is None:
        return x.new_zeros(*x.shape[:-1], length)
    if history.shape != (*x.shape[:-1], length):
        raise ValueError(f"{name} must have shape {(*x.shape[:-1], length)} for x {tuple(x.shape)}, got {tuple(history.shape)}")
    return history.to(x.dtype)


def upsample2(x: Tensor, taps: Tensor, history: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Upsample by 2: insert a zero after each sample and filter with ``2 * taps``, streaming.

    Computed in polyphase form (each output phase is a FIR of the input), as
    ``scipy.signal.upfirdn(2 * taps, x, up=2)`` truncated to ``2 * time``.

    Args:
        x: ``(..., time)`` signal.
        taps: ``(L,)`` lowpass at the doubled rate with unit DC gain (:func:`halfband_fir`).
        history: ``(..., ceil(L / 2) - 1)`` last input samples of the previous
            block (the returned history); None starts from silence.

    Returns:
        ``(y, history)``: ``(..., 2 * time)`` and the history for the next block.

    Example:
        >>> y, _ = upsample2(torch.ones(1, 40), halfband_fir(0.3))
        >>> y[0, -4:].round(decimals=6)  # a constant passes at unit gain once the filter is full
        tensor([1., 1., 1., 1.])
    """
    phases = -(-taps.shape[-1] // 2)
    weight = F.pad(2 * taps.to(x), (0, 2 * phases - taps.shape[-1]))
    # weight[r, k] = 2 h[2 (P - 1 - k) + r]: phase r of the output, as a correlation.
    weight = weight.reshape(phases, 2).flip(0).T.unsqueeze(1)
    padded = torch.cat([_history("history", x, history, phases - 1), x], -1)
    flat = padded.reshape(-1, 1, padded.shape[-1])
    y = F.conv1d(flat, weight).transpose(1, 2).reshape(*x.shape[:-1], 2 * x.shape[-1])
    return y, padded[..., padded.shape[-1] - (phases - 1) :]


def downsample2(x: Tensor, taps: Tensor, history: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Filter with ``taps`` and keep every other sample, streaming.

    Only the kept outputs are computed (a strided correlation), as
    ``scipy.signal.upfirdn(taps, x, down=2)`` truncated to ``time / 2``.

    Args:
        x: ``(..., time)`` signal, ``time`` even (so that blocks keep the phase).
        taps: ``(L,)`` lowpass with unit DC gain (:func:`halfband_fir`).
        history: ``(..., L - 1)`` last input samples of the previous block;
            None starts from silence.

    Returns:
        ``(y, history)``: ``(..., time / 2)`` and the history for the next block.

    Example:
        >>> y, _ = downsample2(torch.ones(1, 80), halfband_fir(0.3))
        >>> y[0, -2:].round(decimals=6)
        tensor([1., 1.])
    """
    if x.shape[-1] % 2:
        raise ValueError(f"downsample2 needs an even number of samples per block, got {x.shape[-1]}")
    length = taps.shape[-1]
    padded = torch.cat([_history("history", x, history, length - 1), x], -1)
    flat = padded.reshape(-1, 1, padded.shape[-1])
    y = F.conv1d(flat, taps.to(x).flip(0).reshape(1, 1, -1), stride=2)
    return y.reshape(*x.shape[:-1], x.shape[-1] // 2), padded[..., padded.shape[-1] - (length - 1) :]


def _check_factor(factor) -> int:
    if factor not in OVERSAMPLING_FACTORS or isinstance(factor, bool):
        raise ValueError(f"oversampling factor must be one of {OVERSAMPLING_FACTORS}, got {factor!r}")
    return int(factor)


@functools.lru_cache(maxsize=None)
def _stages(factor: int) -> Tuple[Tuple[Tuple[Tensor, Tensor], ...], int]:
    """The (up, down) taps of each 2x stage, lowest rate first, and the latency in base samples."""
    count = int(math.log2(factor))
    if count == 0:
        return (), 0
    filters = [halfband_fir(0.5 - 2 * _PASSBAND / 2**s) for s in range(1, count + 1)]
    # Each stage delays by its filter's delay twice (up and down) at its own
    # rate; counted at the top rate, the chain's delay is rounded up to whole
    # base samples by padding the top stage's down filter with zero taps.
    delay = sum((len(h) - 1) * 2 ** (count - s) for s, h in enumerate(filters, 1))
    pad = -delay % factor
    down = filters[:-1] + [F.pad(filters[-1], (pad, 0))]
    return tuple(zip(filters, down)), (delay + pad) // factor


def oversampling_filters(factor: int) -> Tuple[Tuple[Tensor, Tensor], ...]:
    r"""The taps :func:`oversample` runs at ``factor``: an ``(up, down)`` pair per 2x stage, lowest rate first.

    Stage ``s`` runs at ``2**s`` times the base rate; its half-band filter
    (:func:`halfband_fir`) passes ``0.4`` of the base rate. The top stage's
    down filter is delayed by zero taps so that the total latency is a whole
    number of base samples (:func:`oversampling_latency`).

    Args:
        factor: one of ``OVERSAMPLING_FACTORS`` (1: no stages).

    Example:
        >>> [(len(up), len(down)) for up, down in oversampling_filters(4)]
        [(75, 75), (27, 29)]
    """
    return _stages(_check_factor(factor))[0]


def oversampling_latency(factor: int) -> int:
    r"""Delay of :func:`oversample` at ``factor``, in base-rate samples.

    Args:
        factor: one of ``OVERSAMPLING_FACTORS``.

    Example:
        >>> [oversampling_latency(f) for f in OVERSAMPLING_FACTORS]
        [0, 37, 44, 47]
    """
    return _stages(_check_factor(factor))[1]


def oversample(
    shaper: Callable[[Tensor], Tensor], x: Tensor, factor: int, state: Optional[State] = None
) -> Tuple[Tensor, State]:
    r"""Run a memoryless ``shaper`` at ``factor`` times the sample rate, streaming.

    The signal goes up through 2x stages (:func:`upsample2`), through
    ``shaper``, and back down (:func:`downsample2`); see the module docstring
    for the filters. The result is delayed by :func:`oversampling_latency`.

    Args:
        shaper: elementwise function applied at the high rate; it receives
            ``(..., factor * time)`` and must return the same shape.
        x: ``(..., time)`` signal.
        factor: one of ``OVERSAMPLING_FACTORS`` (1 calls ``shaper`` on ``x``).
        state: the returned state of the previous block (the filter
            histories); None starts from silence.

    Returns:
        ``(y, state)``: ``(..., time)`` and the state for the next block.

    Example:
        >>> x = torch.sin(torch.arange(200.0) / 10)
        >>> y, state = oversample(torch.tanh, x, 4)
        >>> bool(torch.allclose(y[44:], torch.tanh(x[:-44]), atol=1e-3))
        True
    """
    stages, _ = _stages(_check_factor(factor))
    state = dict(state or {})
    unknown = sorted(set(state) - {f"{d}.{s}" for d in ("up", "down") for s in range(1, len(stages) + 1)})
    if unknown:
        raise ValueError(f"state keys {unknown} are not oversampling histories at factor {factor}")
    new = {}
    for s, (up, _) in enumerate(stages, 1):
        x, new[f"up.{s}"] = upsample2(x, up, state.get(f"up.{s}"))
    y = shaper(x)
    if y.shape != x.shape:
        raise ValueError(f"shaper must keep the shape {tuple(x.shape)}, returned {tuple(y.shape)}")
    for s, (_, down) in reversed(list(enumerate(stages, 1))):
        y, new[f"down.{s}"] = downsample2(y, down, state.get(f"down.{s}"))
    return y, new
