r"""Modulation effects driven by an LFO: chorus, flanger, phaser, tremolo.

Each block runs a low-frequency oscillator (:func:`ddsp_kit.functional.lfo`,
``rate`` in Hz on a linear scale from 0, so that a block can stand still) whose
phase travels in the state (``"phase"``, cycles): streamed blocks continue the
waveform where the previous one stopped. ``shape`` (``"sine"`` or
``"triangle"``) and the starting ``phase`` (cycles, in [0, 1)) are fixed at
construction. The swept delays of the chorus and the flanger,
``delay_ms + depth_ms * lfo``, have ranges that keep them positive (the
chorus) or at least 0.25 ms (the flanger, whose feedback loop runs in chunks
of the shortest delay, see :func:`ddsp_kit.functional.feedback_comb`).
"""

import numbers
from typing import Dict, Optional, Sequence, Tuple

import torch

from ..functional.delay import INTERPOLATIONS, MIN_DELAY, feedback_comb, fractional_delay
from ..functional.design import check_sample_rate
from ..functional.modulation import LFO_SHAPES, allpass_cascade, lfo, tremolo
from ..functional.utility import dry_wet
from .base import Parameter, Processor, State, frequency_parameter
from .delay import _delay_samples, _max_delay_samples

Tensor = torch.Tensor


def _rate(default: float) -> Parameter:
    return Parameter("rate", "Hz", 0.0, 20.0, default)


def _mix(default: float = 0.5) -> Parameter:
    return Parameter("mix", "", 0.0, 1.0, default)


class _Modulated(Processor):
    """A processor driven by an LFO (its ``rate`` parameter) whose phase travels in the state."""

    def __init__(self, sample_rate: float, parameters: Sequence[Parameter], initial: Dict[str, float], shape: str, phase: float):
        if shape not in LFO_SHAPES:
            raise ValueError(f"shape must be one of {LFO_SHAPES}, got {shape!r}")
        if isinstance(phase, bool) or not isinstance(phase, numbers.Real) or not 0 <= phase < 1:
            raise ValueError(f"phase must be a number of cycles in [0, 1), got {phase!r}")
        super().__init__(sample_rate, parameters, initial)
        self.shape = shape
        self.phase = float(phase)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", shape={self.shape!r}, phase={self.phase:g}"

    def oscillate(self, rate: Tensor, steps: int, state: State) -> Tuple[Tensor, Tensor]:
        """LFO values ``(batch or 1, channels or 1, steps)`` and the phase to carry on."""
        start: Optional[Tensor] = state.get("phase")
        if start is None:
            start = torch.full((1, 1, 1), self.phase, dtype=rate.dtype, device=rate.device)
        return lfo(rate, steps, sample_rate=self.sample_rate, shape=self.shape, phase=start)


class _SweptDelay(_Modulated):
    """The delay ``delay_ms + depth_ms * lfo`` of the chorus and the flanger, in samples."""

    def __init__(
        self,
        sample_rate: float,
        delay_range: Tuple[float, float],
        depth_max: float,
        shortest: int,
        values: Dict[str, float],
        shape: str,
        phase: float,
    ):
        sample_rate = check_sample_rate(sample_rate)
        specs = [
            _rate(values["rate"]),
            Parameter("delay_ms", "ms", *delay_range, values["delay_ms"]),
            Parameter("depth_ms", "ms", 0.0, depth_max, values["depth_ms"]),
            _mix(values["mix"]),
        ]
        specs += [Parameter("feedback", "", -0.99, 0.99, values["feedback"])] if "feedback" in values else []
        super().__init__(sample_rate, specs, values, shape, phase)
        self.shortest = shortest
        self.max_delay = _max_delay_samples(delay_range[1] + depth_max, sample_rate, 0.0)

    def swept(self, params: Dict[str, Tensor], steps: int, state: State) -> Tuple[Tensor, Tensor]:
        """The per-sample delay, samples, and the LFO phase to carry on."""
        modulator, phase = self.oscillate(params["rate"], steps, state)
        delay = _delay_samples(params["delay_ms"] + params["depth_ms"] * modulator, self.sample_rate, self.shortest, self.max_delay)
        return delay, phase


class Chorus(_SweptDelay):
    r"""Chorus: the input mixed with a copy delayed by ``delay_ms + depth_ms * lfo``.

    :math:`y = (1 - m)\,x + m\,x(t - d(t))`, the delay read by interpolation
    (:func:`ddsp_kit.functional.fractional_delay`); the delay never falls below
    1 ms (``delay_ms >= 5`` and ``depth_ms <= 4``).

    Args:
        sample_rate: Hz.
        rate: LFO rate, Hz in [0, 20].
        depth_ms: LFO amplitude, ms in [0, 4].
        delay_ms: centre delay, ms in [5, 40].
        mix: wet proportion in [0, 1].
        shape: LFO shape, one of ``LFO_SHAPES``.
        phase: LFO starting phase, cycles in [0, 1).
        interpolation: one of ``INTERPOLATIONS``.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> chorus = Chorus(48000, rate=1.5, depth_ms=2.0, delay_ms=12.0)
        >>> out = chorus(torch.randn(2, 2, 4800))
        >>> out.audio.shape, sorted(out.state)
        (torch.Size([2, 2, 4800]), ['line', 'phase'])
    """

    def __init__(
        self,
        sample_rate: float,
        rate: float = 1.0,
        depth_ms: float = 2.0,
        delay_ms: float = 15.0,
        mix: float = 0.5,
        shape: str = "sine",
        phase: float = 0.0,
        interpolation: str = "linear",
    ):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        values = {"rate": rate, "delay_ms": delay_ms, "depth_ms": depth_ms, "mix": mix}
        super().__init__(sample_rate, (5.0, 40.0), 4.0, MIN_DELAY[interpolation], values, shape, phase)
        self.interpolation = interpolation

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        delay, phase = self.swept(params, x.shape[-1], state)
        wet, line = fractional_delay(x, delay, max_delay=self.max_delay, interpolation=self.interpolation, history=state.get("line"))
        return dry_wet(x, wet, params["mix"]).to(x.dtype), {"phase": phase, "line": line}


class Flanger(_SweptDelay):
    r"""Flanger: a universal comb whose delay ``delay_ms + depth_ms * lfo`` sweeps.

    :math:`w[n] = x[n] + g\,w[n - d[n]]`, :math:`y[n] = (1 - m)\,w[n] + m\,w[n - d[n]]`
    (:func:`ddsp_kit.functional.feedback_comb` with blend :math:`1 - m` and
    feed-forward :math:`m`): without feedback, :math:`m = 0.5` gives complete
    notches at odd multiples of :math:`1 / (2 d)`, which sweep with the LFO.
    The delay stays above 0.25 ms (``delay_ms >= 2.5``, ``depth_ms <= 2.25``).

    Args:
        sample_rate: Hz.
        rate: LFO rate, Hz in [0, 20].
        depth_ms: LFO amplitude, ms in [0, 2.25].
        delay_ms: centre delay, ms in [2.5, 10].
        feedback: :math:`g`, in [-0.99, 0.99].
        mix: :math:`m`, in [0, 1].
        shape: LFO shape, one of ``LFO_SHAPES``.
        phase: LFO starting phase, cycles in [0, 1).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> flanger = Flanger(48000, rate=0.5, feedback=0.7)
        >>> flanger(torch.randn(1, 2, 4800)).audio.shape
        torch.Size([1, 2, 4800])
    """

    def __init__(
        self,
        sample_rate: float,
        rate: float = 0.25,
        depth_ms: float = 2.0,
        delay_ms: float = 3.0,
        feedback: float = 0.0,
        mix: float = 0.5,
        shape: str = "sine",
        phase: float = 0.0,
    ):
        values = {"rate": rate, "delay_ms": delay_ms, "depth_ms": depth_ms, "mix": mix, "feedback": feedback}
        super().__init__(sample_rate, (2.5, 10.0), 2.25, 1, values, shape, phase)

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        delay, phase = self.swept(params, x.shape[-1], state)
        mix = params["mix"]
        y, line = feedback_comb(
            x, delay, params["feedback"], max_delay=self.max_delay, blend=1 - mix, feedforward=mix, history=state.get("line")
        )
        return y.to(x.dtype), {"phase": phase, "line": line}


class Phaser(_Modulated):
    r"""Phaser: ``stages`` first-order all-passes swept by an LFO, mixed with the input.

    The break frequency sweeps exponentially between ``min_frequency`` and
    ``max_frequency``, :math:`f_b = f_{min} (f_{max}/f_{min})^{(1 + \mathrm{lfo})/2}`
    (at the geometric mean when the LFO is 0; either may be the larger); the
    cascade runs exactly with per-sample coefficients
    (:func:`ddsp_kit.functional.allpass_cascade`). :math:`y = (1 - m)\,x + m\,a`
    with :math:`a` the cascade's output: at :math:`m = 0.5` complete notches
    where its phase is an odd multiple of :math:`-\pi`.

    Args:
        sample_rate: Hz.
        stages: number of all-passes, an int >= 1 (``stages // 2`` notches below Nyquist).
        rate: LFO rate, Hz in [0, 20].
        min_frequency: one end of the sweep, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        max_frequency: the other end, Hz, same range.
        feedback: None for no feedback loop, or the initial gain from the
            last stage back to the input, in [-0.95, 0.95] (then a learnable
            ``feedback`` parameter).
        mix: :math:`m`, in [0, 1].
        shape: LFO shape, one of ``LFO_SHAPES``.
        phase: LFO starting phase, cycles in [0, 1).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> phaser = Phaser(48000, stages=4, feedback=0.5)
        >>> sorted(phaser.values())
        ['feedback', 'max_frequency', 'min_frequency', 'mix', 'rate']
    """

    def __init__(
        self,
        sample_rate: float,
        stages: int = 4,
        rate: float = 0.5,
        min_frequency: float = 200.0,
        max_frequency: float = 2000.0,
        feedback: Optional[float] = None,
        mix: float = 0.5,
        shape: str = "sine",
        phase: float = 0.0,
    ):
        sample_rate = check_sample_rate(sample_rate)
        if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
            raise ValueError(f"stages must be an int >= 1, got {stages!r}")
        specs = [
            _rate(rate),
            frequency_parameter("min_frequency", 20.0, 20000.0, min_frequency, sample_rate),
            frequency_parameter("max_frequency", 20.0, 20000.0, max_frequency, sample_rate),
            _mix(mix),
        ]
        initial = {"rate": rate, "min_frequency": min_frequency, "max_frequency": max_frequency, "mix": mix}
        if feedback is not None:
            specs.append(Parameter("feedback", "", -0.95, 0.95, feedback))
            initial["feedback"] = feedback
        super().__init__(sample_rate, specs, initial, shape, phase)
        self.stages = stages

    def extra_repr(self) -> str:
        return super().extra_repr() + f", stages={self.stages}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        modulator, phase = self.oscillate(params["rate"], x.shape[-1], state)
        low, high = params["min_frequency"], params["max_frequency"]
        frequency = low * (high / low) ** ((1 + modulator) / 2)
        wet, filtered = allpass_cascade(
            x, frequency, stages=self.stages, sample_rate=self.sample_rate, feedback=params.get("feedback"), state=state.get("filter")
        )
        return dry_wet(x, wet, params["mix"]).to(x.dtype), {"phase": phase, "filter": filtered}


class Tremolo(_Modulated):
    r"""Tremolo: the gain swings between 1 and ``1 - depth`` at the LFO rate.

    :math:`y = x\,(1 - \delta\,(1 - \mathrm{lfo}) / 2)` (:func:`ddsp_kit.functional.tremolo`).

    Args:
        sample_rate: Hz.
        rate: LFO rate, Hz in [0, 20].
        depth: :math:`\delta`, in [0, 1].
        shape: LFO shape, one of ``LFO_SHAPES``.
        phase: LFO starting phase, cycles in [0, 1).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> block = Tremolo(48000, rate=4.0, depth=0.5, phase=0.75)
        >>> round(block(torch.ones(1, 1, 1)).audio.item(), 4)  # the LFO starts at its trough
        0.5
    """

    def __init__(self, sample_rate: float, rate: float = 5.0, depth: float = 0.5, shape: str = "sine", phase: float = 0.0):
        specs = [_rate(rate), Parameter("depth", "", 0.0, 1.0, depth)]
        super().__init__(sample_rate, specs, {"rate": rate, "depth": depth}, shape, phase)

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        modulator, phase = self.oscillate(params["rate"], x.shape[-1], state)
        return tremolo(x, modulator, params["depth"]), {"phase": phase}
