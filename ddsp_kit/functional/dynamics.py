r"""Dynamics: level detection, static gain curves and attack/release smoothing.

A dynamics processor derives a gain from the level of a detector signal (the
audio itself, or an external side-chain) and applies it to the audio:

1. **level** (linear amplitude): the peak :math:`|x|`, or the RMS
   :math:`\sqrt{m}` of a one-pole mean-square smoother
   :math:`m[t] = m[t-1] + \alpha (x[t]^2 - m[t-1])`; optionally linked over
   the channels (their maximum or mean), so that every channel gets one gain;
2. **static curve** (:func:`gain_curve`): the gain in dB for a level in dB;
3. **attack/release** (:func:`attack_release`): a one-pole whose coefficient
   switches on the direction of its input, on one of two topologies:

   ``smoothing="gain"`` (default)
       The static curve runs on the instantaneous level and its gain in dB is
       smoothed: the log-domain placement of D. Giannoulis, M. Massberg and
       J. D. Reiss, "Digital Dynamic Range Compressor Design -- A Tutorial and
       Analysis", JAES 60(6), 2012, with their "smooth branching" detector (one
       switching one-pole; not their "decoupled" cascade, whose release also
       shapes the attack). Attack applies while the gain moves the way a rising
       input drives it: while the gain reduction grows for the compressor and
       limiter, while the gain rises (the gate opens) for the expander and
       gate; release applies the other way.
   ``smoothing="level"``
       The detector level is smoothed (attack while it rises) and the static
       curve runs on the smoothed level. This is JUCE's ``dsp::Compressor``,
       hence pedalboard's ``Compressor``: a peak envelope, then the curve.

**Time constants.** A time ``time_ms`` gives the smoothing coefficient

.. math::
    \alpha = 1 - e^{-1 / (\tau f_s)}, \qquad \tau = \mathrm{time\_ms} / 1000\ \mathrm{s},

so the response to a step reaches :math:`1 - 1/e` (63.2 %) of the step
:math:`\tau` after its onset (after exactly :math:`\tau f_s` samples, counting
the onset sample). JUCE's ``BallisticsFilter`` uses
:math:`e^{-2\pi \cdot 1000 / (f_s\,\mathrm{time\_ms})}` as its pole: a JUCE
(pedalboard) time :math:`t` is our :math:`t / (2\pi)`.

**Static curves** (level :math:`x`, threshold :math:`T`, ratio :math:`R`, knee
width :math:`W`, all in dB; overshoot :math:`d = x - T`). With the quadratic
soft knee of Giannoulis et al. written as a ramp

.. math::
    k_W(d) = \begin{cases} 0 & 2d \le -W \\ (d + W/2)^2 / (2W) & |2d| < W \\ d & 2d \ge W \end{cases}

(:math:`\max(d, 0)` for :math:`W = 0`; value and slope are continuous at
:math:`d = \pm W/2`), the gains in dB are

==========  ======================================================
mode        gain (dB)
==========  ======================================================
compressor  :math:`(1/R - 1)\,k_W(d)` (slope :math:`1/R` above the knee)
limiter     :math:`-k_W(d)` (:math:`R \to \infty`: a ceiling at :math:`T`)
expander    :math:`-(R - 1)\,k_W(-d)` (slope :math:`R` below the knee)
gate        :math:`\max(-(R - 1)\,k_W(-d),\ -\mathrm{range\_db})`
==========  ======================================================

Levels and gains are floored at ``floor_db`` (-120 dB: silence at float32
precision), which also bounds the log-domain gain of an expander in silence so
that it reopens within a few attack times.

Signals are ``(batch, channels, samples)``; as in :mod:`ddsp_kit.kernels`, NaN
samples are not looked for here (they propagate), the processors reject them.
"""

import math
from typing import Dict, Optional, Tuple, Union

import torch

from ..kernels import ballistics, linear_recurrence
from .design import check_sample_rate

Tensor = torch.Tensor
Number = Union[float, Tensor]
State = Dict[str, Tensor]

MODES = ("compressor", "limiter", "expander", "gate")
DETECTORS = ("peak", "rms")
SMOOTHINGS = ("gain", "level")
LINKS = (None, "max", "mean")
FLOOR_DB = -120.0
_DB = 20 / math.log(10)  # dB per neper of amplitude


def _choice(name: str, value, options: tuple):
    if not any(value is option or (isinstance(value, str) and value == option) for option in options):
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _value(name: str, value, unit: str, low: float = -math.inf, *, strict: bool = False, dtype=torch.float64) -> Tensor:
    """``value`` as a floating tensor (numbers in ``dtype``), checked finite and above ``low``."""
    if isinstance(value, bool) or not isinstance(value, (Tensor, int, float)):
        raise TypeError(f"{name} must be a number or a tensor of {unit}, got {type(value).__name__}")
    t = value if isinstance(value, Tensor) else torch.tensor(float(value), dtype=dtype)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of {unit}, got dtype {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values")
    below = (t <= low) if strict else (t < low)
    if bool(below.any()):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be {bound} {unit}, got {float(t.detach().min()):g}")
    return t


def _check_signal(x, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (batch, channels, samples), got {type(x).__name__}")
    if x.dim() != 3 or x.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"{name} must be a float32/float64 (batch, channels, samples) tensor, got {x.dtype} {tuple(x.shape)}"
        )
    return x


def check_dynamics_options(detector: str, smoothing: str, link: Optional[str], rms_ms: float, lookahead: int) -> None:
    """Raise ValueError/TypeError unless the structural options of :func:`dynamics` are valid."""
    _choice("detector", detector, DETECTORS)
    _choice("smoothing", smoothing, SMOOTHINGS)
    _choice("link", link, LINKS)
    _value("rms_ms", rms_ms, "ms", 0.0, strict=True)
    if isinstance(lookahead, bool) or not isinstance(lookahead, int):
        raise TypeError(f"lookahead must be an int number of samples, got {type(lookahead).__name__}")
    if lookahead < 0:
        raise ValueError(f"lookahead must be >= 0 samples, got {lookahead}")


def smoothing_coefficient(time_ms: Number, *, sample_rate: float) -> Tensor:
    r"""One-pole coefficient :math:`\alpha = 1 - e^{-1/(\tau f_s)}` of a time constant.

    A step through :math:`y[t] = y[t-1] + \alpha (x[t] - y[t-1])` reaches
    :math:`1 - 1/e` of its height after :math:`\tau f_s` samples.

    Args:
        time_ms: time constant :math:`\tau`, ms, > 0 (number or tensor).
        sample_rate: Hz, > 0.

    Returns:
        :math:`\alpha` in (0, 1), shaped like ``time_ms`` (float64 for a number).

    Example:
        >>> round(float(smoothing_coefficient(1000.0, sample_rate=1.0)), 4)  # 1 - 1/e
        0.6321
    """
    sample_rate = check_sample_rate(sample_rate)
    time_ms = _value("time_ms", time_ms, "ms", 0.0, strict=True)
    return -torch.expm1(-1000.0 / (time_ms * sample_rate))


def _link(level: Tensor, link: Optional[str]) -> Tensor:
    _choice("link", link, LINKS)
    if link == "max":
        return level.amax(1, keepdim=True)
    if link == "mean":
        return level.mean(1, keepdim=True)
    return level


def peak_level(x: Tensor, link: Optional[str] = None) -> Tensor:
    r"""Peak level :math:`|x|`, optionally linked over the channels.

    Args:
        x: audio.
        link: None (one level per channel), ``"max"`` or ``"mean"`` over the channels.

    Shape:
        ``x``: ``(batch, channels, samples)``; result: the same, or
        ``(batch, 1, samples)`` when linked.

    Example:
        >>> peak_level(torch.tensor([[[0.5, -1.0], [-0.25, 0.5]]]), link="max")
        tensor([[[0.5000, 1.0000]]])
    """
    return _link(_check_signal(x).abs(), link)


def rms_level(
    x: Tensor,
    window_ms: Number,
    *,
    sample_rate: float,
    link: Optional[str] = None,
    initial: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    r"""RMS level :math:`\sqrt{m}` of the one-pole mean square :math:`m[t] = m[t-1] + \alpha (x[t]^2 - m[t-1])`.

    Args:
        x: audio.
        window_ms: time constant of the mean-square smoother, ms, > 0
            (:func:`smoothing_coefficient`).
        sample_rate: Hz, > 0.
        link: None, ``"max"`` or ``"mean"``: combine the channels' RMS levels.
        initial: mean square before the first sample, ``(batch, channels)``; zero if None.

    Returns:
        ``(level, mean_square)``: the RMS level, and the last mean square per
        channel (the ``initial`` of the next block).

    Shape:
        ``x``: ``(batch, channels, samples)``; ``level``: the same, or
        ``(batch, 1, samples)`` when linked; ``mean_square``: ``(batch, channels)``.

    Example:
        >>> level, _ = rms_level(torch.ones(1, 1, 3), 1000.0, sample_rate=1.0)
        >>> level  # sqrt(1 - e^-(t+1))
        tensor([[[0.7951, 0.9299, 0.9748]]])
    """
    _check_signal(x)
    window_ms = _value("window_ms", window_ms, "ms", 0.0, strict=True, dtype=x.dtype)
    alpha = torch.atleast_1d(smoothing_coefficient(window_ms, sample_rate=sample_rate))
    power = linear_recurrence(alpha * x.square(), 1 - alpha, initial)
    # sqrt has an infinite slope at 0: exact silence gets a zero gradient instead.
    level = torch.sqrt(power.clamp_min(torch.finfo(power.dtype).tiny))
    return _link(level, link), power[..., -1]


def amplitude_to_db(amplitude: Tensor, floor_db: float = FLOOR_DB) -> Tensor:
    r"""Level in dB, :math:`20 \log_{10} \max(a, 10^{\mathrm{floor\_db}/20})`.

    Args:
        amplitude: linear amplitude, >= 0.
        floor_db: dB value of silence (gradient zero below it).

    Example:
        >>> amplitude_to_db(torch.tensor([1.0, 0.1, 0.0]))
        tensor([   0.,  -20., -120.])
    """
    return _DB * torch.log(amplitude.clamp_min(10 ** (floor_db / 20)))


def _knee_ramp(d: Tensor, knee: Tensor) -> Tensor:
    """The soft ramp k_W(d) of the module docstring."""
    half = knee / 2
    inside = (d > -half) & (d < half)
    # Inside the knee W > 0; elsewhere the quadratic is discarded, so divide by 1
    # there to keep its (unused) gradient finite at W = 0.
    quadratic = (d + half) ** 2 / (2 * torch.where(inside, knee, torch.ones_like(knee)))
    return torch.where(d >= half, d, torch.where(inside, quadratic, torch.zeros_like(quadratic)))


def gain_curve(
    level_db: Tensor,
    mode: str,
    threshold_db: Number,
    ratio: Optional[Number] = None,
    knee_db: Number = 0.0,
    range_db: Optional[Number] = None,
) -> Tensor:
    r"""Static gain curve in dB with the quadratic soft knee (see the module docstring).

    Args:
        level_db: detector level, dB.
        mode: one of ``MODES``: ``"compressor"``, ``"limiter"``, ``"expander"``, ``"gate"``.
        threshold_db: threshold, dB.
        ratio: >= 1 (compressor, expander, gate); None for the limiter (infinite).
        knee_db: knee width, dB, >= 0 (0: hard knee).
        range_db: gate only: largest attenuation, dB, >= 0.

    Returns:
        gain in dB (<= 0), the broadcast shape of the arguments.

    Example:
        >>> gain_curve(torch.tensor([-10.0, 0.0]), "compressor", -20.0, ratio=4.0)  # (1/4 - 1) (x - T)
        tensor([ -7.5000, -15.0000])
    """
    _choice("mode", mode, MODES)
    if not isinstance(level_db, Tensor) or not level_db.is_floating_point():
        raise TypeError(f"level_db must be a floating-point tensor of dB, got {type(level_db).__name__}")
    if (ratio is None) != (mode == "limiter"):
        raise ValueError(f"a {mode} needs a ratio" if ratio is None else "the limiter takes no ratio (it is infinite)")
    if (range_db is None) != (mode != "gate"):
        raise ValueError("a gate needs range_db" if mode == "gate" else f"range_db is for the gate, not a {mode}")
    dtype = level_db.dtype
    overshoot = level_db - _value("threshold_db", threshold_db, "dB", dtype=dtype)
    knee = _value("knee_db", knee_db, "dB", 0.0, dtype=dtype)
    if mode == "limiter":
        return -_knee_ramp(overshoot, knee)
    ratio = _value("ratio", ratio, "", 1.0, dtype=dtype)
    if mode == "compressor":
        return (1 / ratio - 1) * _knee_ramp(overshoot, knee)
    gain = (1 - ratio) * _knee_ramp(-overshoot, knee)
    if mode == "expander":
        return gain
    return torch.maximum(gain, -_value("range_db", range_db, "dB", 0.0, dtype=dtype))


def attack_release(
    x: Tensor,
    attack_ms: Number,
    release_ms: Number,
    *,
    sample_rate: float,
    initial: Optional[Tensor] = None,
) -> Tensor:
    r"""Attack/release smoother: :math:`y[t] = y[t-1] + \alpha[t] (x[t] - y[t-1])`, with the
    attack coefficient where :math:`x[t] > y[t-1]` and the release coefficient elsewhere.

    Runs on :func:`ddsp_kit.kernels.ballistics` (differentiable in every
    argument; the branch pattern is recorded). Coefficients follow
    :func:`smoothing_coefficient`.

    Args:
        x: signal to smooth (a level, or a gain in dB).
        attack_ms: time constant while rising, ms, > 0.
        release_ms: time constant while falling, ms, > 0.
        sample_rate: Hz, > 0.
        initial: ``y[-1]``, broadcastable to ``x.shape[:-1]``; zero if None.

    Shape:
        ``x``: ``(..., samples)``; times broadcast against it (``(..., 1)`` or
        ``(..., samples)``); the result has the broadcast shape.

    Example:
        >>> attack_release(torch.tensor([1.0, 1.0, 0.0]), 1000.0, 2000.0, sample_rate=1.0)
        tensor([0.6321, 0.8647, 0.5244])
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    up, down = (
        torch.atleast_1d(
            smoothing_coefficient(_value(name, value, "ms", 0.0, strict=True, dtype=x.dtype), sample_rate=sample_rate)
        )
        for name, value in (("attack_ms", attack_ms), ("release_ms", release_ms))
    )
    # Broadcast the signal to the coefficients' batch first: ballistics takes its batch from x.
    shape = torch.broadcast_shapes(x.shape, up.shape, down.shape)
    return ballistics(x.expand(shape), up, down, initial)


def _check_sidechain(sidechain, x: Tensor) -> Tensor:
    _check_signal(sidechain, "sidechain")
    batch, channels, samples = x.shape
    fits = sidechain.shape[0] in (1, batch) and sidechain.shape[1] in (1, channels) and sidechain.shape[-1] == samples
    if not fits:
        raise ValueError(
            f"sidechain of shape {tuple(sidechain.shape)} does not fit x {tuple(x.shape)}: "
            "use (batch or 1, channels or 1, the same number of samples)"
        )
    return sidechain


def dynamics(
    x: Tensor,
    mode: str,
    *,
    threshold_db: Number,
    attack_ms: Number,
    release_ms: Number,
    sample_rate: float,
    ratio: Optional[Number] = None,
    knee_db: Number = 0.0,
    makeup_db: Number = 0.0,
    range_db: Optional[Number] = None,
    detector: str = "peak",
    rms_ms: float = 10.0,
    smoothing: str = "gain",
    link: Optional[str] = None,
    lookahead: int = 0,
    sidechain: Optional[Tensor] = None,
    state: Optional[State] = None,
    floor_db: float = FLOOR_DB,
) -> Tuple[Tensor, State]:
    r"""Compressor, limiter, expander or gate: detector, static curve, smoothing, gain.

    Args:
        x: audio at ``sample_rate``.
        mode: one of ``MODES`` (see :func:`gain_curve`).
        threshold_db, ratio, knee_db, range_db: the static curve (:func:`gain_curve`).
        attack_ms, release_ms: smoothing time constants, ms, > 0 (:func:`smoothing_coefficient`).
        sample_rate: Hz, > 0.
        makeup_db: gain added after the smoothing, dB.
        detector: ``"peak"`` or ``"rms"``.
        rms_ms: time constant of the RMS detector's mean square, ms.
        smoothing: ``"gain"`` (smooth the gain in dB after the curve) or
            ``"level"`` (smooth the detector level before it; JUCE / pedalboard).
        link: None, ``"max"`` or ``"mean"``: one detector level for all channels.
        lookahead: samples by which the audio is delayed behind the detector
            (the latency); the delay line is carried in the state.
        sidechain: drives the detector instead of ``x`` when given.
        state: the state the previous block returned; None to start (from silence).
        floor_db: the dB value of silence; levels and gains are floored there.

    Returns:
        ``(y, state)``: the processed audio, and the state for the next block
        (``"envelope"``: the smoothed gain in dB or level; ``"mean_square"``
        for RMS; ``"delay"``: the last ``lookahead`` input samples).

    Shape:
        ``x``: ``(batch, channels, samples)``; ``sidechain``: ``(batch or 1,
        channels or 1, samples)``; parameters broadcast against
        ``(batch, channels, samples)`` (``(batch or 1, channels or 1, 1 or samples)``).
        ``y`` has the shape of ``x``.

    Example:
        >>> x = torch.full((1, 1, 4), 0.5)
        >>> y, state = dynamics(x, "compressor", threshold_db=-20.0, ratio=4.0,
        ...                     attack_ms=0.001, release_ms=100.0, sample_rate=48000)
        >>> round(float(y[0, 0, -1] / x[0, 0, -1]), 4)  # -10.49 dB: (-6.02 + 20) (1/4 - 1)
        0.2991
    """
    _check_signal(x)
    _choice("mode", mode, MODES)
    check_dynamics_options(detector, smoothing, link, rms_ms, lookahead)
    source = x if sidechain is None else _check_sidechain(sidechain, x)
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
    state = state or {}
    new_state: State = {}

    if detector == "peak":
        level = peak_level(source, link)
    else:
        level, new_state["mean_square"] = rms_level(
            source, rms_ms, sample_rate=sample_rate, link=link, initial=state.get("mean_square")
        )

    curve = {"threshold_db": threshold_db, "ratio": ratio, "knee_db": knee_db, "range_db": range_db}

    def static(level_db, **values):
        return gain_curve(level_db, mode, **values).clamp_min(floor_db)

    smooth = dict(attack_ms=attack_ms, release_ms=release_ms, sample_rate=sample_rate)
    if smoothing == "level":
        envelope = attack_release(level, **smooth, initial=state.get("envelope"))
        gain_db = static(amplitude_to_db(envelope, floor_db), **curve)
    else:
        # Smooth with the attack where a rising level drives the gain: down for
        # the compressor and limiter, up for the expander and gate.
        sign = -1.0 if mode in ("compressor", "limiter") else 1.0
        initial = state.get("envelope")
        if initial is None:  # the gain after silence, at the first sample's parameters
            first = {k: v[..., :1] if isinstance(v, Tensor) and v.dim() else v for k, v in curve.items()}
            initial = static(level.new_full((1, 1, 1), floor_db), **first)[..., 0]
        target = sign * static(amplitude_to_db(level, floor_db), **curve)
        gain_db = envelope = sign * attack_release(target, **smooth, initial=sign * initial)
    new_state["envelope"] = envelope[..., -1]

    audio = x
    if lookahead:
        past = state.get("delay")
        if past is None:
            past = x.new_zeros(*x.shape[:2], lookahead)
        elif past.shape != (*x.shape[:2], lookahead):
            raise ValueError(
                f"state['delay'] of shape {tuple(past.shape)} does not fit x {tuple(x.shape)} and lookahead {lookahead}"
            )
        line = torch.cat([past.to(x.dtype), x], -1)
        audio, new_state["delay"] = line[..., : x.shape[-1]], line[..., -lookahead:]
    makeup = _value("makeup_db", makeup_db, "dB", dtype=x.dtype)
    return audio * torch.exp((gain_db + makeup) / _DB), new_state
