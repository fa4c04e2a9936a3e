r"""Dynamics processors: compressor, limiter, expander and noise gate.

All four are one block, :func:`ddsp_kit.functional.dynamics.dynamics`, with a
different static curve; they differ only in their parameters and defaults.
Shared constructor options (keyword only):

* ``detector``: ``"peak"`` (default) or ``"rms"`` with a mean-square time
  constant of ``rms_ms`` (10 ms);
* ``smoothing``: ``"gain"`` (default; smooth the gain in dB after the static
  curve) or ``"level"`` (smooth the detector level before it, as JUCE and
  pedalboard do);
* ``link``: None, ``"max"`` or ``"mean"``: one detector level for all channels;
* ``lookahead_ms``: delay of the audio behind the detector; the delay in
  samples is the ``latency`` attribute (a limiter needs a few attack times of
  look-ahead to hold its ceiling on transients).

``forward(x, sidechain=s)`` drives the detector from ``s`` (``(batch or 1,
channels or 1, samples)``) instead of ``x``. The state carries the smoothed
gain (or level), the RMS mean square and the look-ahead delay line.
"""

import dataclasses
import math
import numbers
from typing import Any, Dict, Optional, Tuple

import torch

from ..functional.dynamics import check_dynamics_options, dynamics, gain_curve
from .base import Parameter, Processor, State

Tensor = torch.Tensor

# Names, units and ranges; the defaults are each class's own.
_SPECS = {
    spec.name: spec
    for spec in (
        Parameter("threshold_db", "dB", -80.0, 0.0, -20.0),
        Parameter("ratio", "ratio", 1.0, 100.0, 4.0, scale="log"),
        Parameter("knee_db", "dB", 0.0, 24.0, 6.0),
        Parameter("attack_ms", "ms", 0.01, 1000.0, 10.0, scale="log"),
        Parameter("release_ms", "ms", 1.0, 5000.0, 100.0, scale="log"),
        Parameter("makeup_db", "dB", -24.0, 24.0, 0.0),
        Parameter("range_db", "dB", 0.0, 120.0, 60.0),
    )
}


class _Dynamics(Processor):
    """The shared block: a subclass sets ``mode`` and passes its parameters' initial values."""

    mode: str

    def __init__(
        self,
        sample_rate: float,
        values: Dict[str, float],
        *,
        detector: str = "peak",
        rms_ms: float = 10.0,
        smoothing: str = "gain",
        link: Optional[str] = None,
        lookahead_ms: float = 0.0,
    ):
        # Each spec's default is this instance's initial value (checked against the range).
        specs = [dataclasses.replace(_SPECS[name], default=value) for name, value in values.items()]
        super().__init__(sample_rate, specs, values)
        number = isinstance(lookahead_ms, numbers.Real) and not isinstance(lookahead_ms, bool)
        if not (number and 0 <= lookahead_ms < math.inf):
            raise ValueError(f"lookahead_ms must be a finite number of ms >= 0, got {lookahead_ms!r}")
        self.latency = round(lookahead_ms * self.sample_rate / 1000)
        check_dynamics_options(detector, smoothing, link, rms_ms, self.latency)
        self.detector, self.rms_ms, self.smoothing, self.link = detector, float(rms_ms), smoothing, link

    def extra_repr(self) -> str:
        options = f"detector={self.detector!r}, smoothing={self.smoothing!r}, link={self.link!r}"
        return f"{super().extra_repr()}, {options}, latency={self.latency}"

    @torch.no_grad()
    def static_curve(self, level_db: Tensor) -> Tensor:
        """Steady-state output level (dB) against input level (dB) with the current static
        values: the static curve plus make-up gain (what :mod:`ddsp_kit.plot` draws)."""
        values = {name: spec.to_physical(self.raw[name]).to(level_db.dtype) for name, spec in self.specs.items()}
        curve = {name: values[name] for name in ("threshold_db", "ratio", "knee_db", "range_db") if name in values}
        return level_db + gain_curve(level_db, self.mode, **curve) + values.get("makeup_db", 0.0)

    def process(
        self, x: Tensor, params: Dict[str, Tensor], state: State, sidechain: Optional[Tensor] = None
    ) -> Tuple[Tensor, State]:
        return dynamics(
            x,
            self.mode,
            **params,
            sample_rate=self.sample_rate,
            detector=self.detector,
            rms_ms=self.rms_ms,
            smoothing=self.smoothing,
            link=self.link,
            lookahead=self.latency,
            sidechain=sidechain,
            state=state,
        )


class Compressor(_Dynamics):
    r"""Downward compressor: above the threshold the output level rises ``1 / ratio`` dB per dB.

    Args:
        sample_rate: Hz.
        threshold_db: dB in [-80, 0] (default -20).
        ratio: in [1, 100], log scale (default 4).
        knee_db: quadratic soft-knee width, dB in [0, 24] (default 6).
        attack_ms: time constant while the gain reduction grows, ms in [0.01, 1000], log scale (default 10).
        release_ms: time constant while it shrinks, ms in [1, 5000], log scale (default 100).
        makeup_db: output gain, dB in [-24, 24] (default 0).
        **options: ``detector``, ``rms_ms``, ``smoothing``, ``link``, ``lookahead_ms``
            (see :mod:`ddsp_kit.processors.dynamics`).

    Shape:
        ``x`` and ``sidechain``: ``(batch, channels, samples)``; output: like ``x``.

    Example:
        >>> comp = Compressor(48000, threshold_db=-30.0, ratio=8.0, lookahead_ms=1.0)
        >>> comp.latency
        48
        >>> out = comp(torch.randn(2, 2, 480))
        >>> out.audio.shape, sorted(out.state)
        (torch.Size([2, 2, 480]), ['delay', 'envelope'])
    """

    mode = "compressor"

    def __init__(
        self,
        sample_rate: float,
        threshold_db: float = -20.0,
        ratio: float = 4.0,
        knee_db: float = 6.0,
        attack_ms: float = 10.0,
        release_ms: float = 100.0,
        makeup_db: float = 0.0,
        **options: Any,
    ):
        values = {
            "threshold_db": threshold_db,
            "ratio": ratio,
            "knee_db": knee_db,
            "attack_ms": attack_ms,
            "release_ms": release_ms,
            "makeup_db": makeup_db,
        }
        super().__init__(sample_rate, values, **options)


class Limiter(_Dynamics):
    r"""Limiter: a compressor of infinite ratio, holding the level at the threshold (past the knee).

    Args:
        sample_rate: Hz.
        threshold_db: the ceiling, dB in [-80, 0] (default -1).
        knee_db: quadratic soft-knee width, dB in [0, 24] (default 1).
        attack_ms: ms in [0.01, 1000], log scale (default 1).
        release_ms: ms in [1, 5000], log scale (default 50).
        makeup_db: output gain, dB in [-24, 24] (default 0).
        **options: ``detector``, ``rms_ms``, ``smoothing``, ``link``, ``lookahead_ms``
            (see :mod:`ddsp_kit.processors.dynamics`).

    Shape:
        ``x`` and ``sidechain``: ``(batch, channels, samples)``; output: like ``x``.

    Example:
        >>> limiter = Limiter(48000, threshold_db=-6.0, attack_ms=0.01, knee_db=0.0)
        >>> peak = limiter(torch.full((1, 1, 64), 1.0)).audio[..., -1].item()
        >>> round(20 * math.log10(peak), 3)
        -6.0
    """

    mode = "limiter"

    def __init__(
        self,
        sample_rate: float,
        threshold_db: float = -1.0,
        knee_db: float = 1.0,
        attack_ms: float = 1.0,
        release_ms: float = 50.0,
        makeup_db: float = 0.0,
        **options: Any,
    ):
        values = {
            "threshold_db": threshold_db,
            "knee_db": knee_db,
            "attack_ms": attack_ms,
            "release_ms": release_ms,
            "makeup_db": makeup_db,
        }
        super().__init__(sample_rate, values, **options)


class Expander(_Dynamics):
    r"""Downward expander: below the threshold the output level falls ``ratio`` dB per dB.

    Args:
        sample_rate: Hz.
        threshold_db: dB in [-80, 0] (default -40).
        ratio: in [1, 100], log scale (default 2).
        knee_db: quadratic soft-knee width, dB in [0, 24] (default 6).
        attack_ms: time constant while the gain rises (opens), ms in [0.01, 1000], log scale (default 1).
        release_ms: time constant while it falls, ms in [1, 5000], log scale (default 100).
        makeup_db: output gain, dB in [-24, 24] (default 0).
        **options: ``detector``, ``rms_ms``, ``smoothing``, ``link``, ``lookahead_ms``
            (see :mod:`ddsp_kit.processors.dynamics`).

    Shape:
        ``x`` and ``sidechain``: ``(batch, channels, samples)``; output: like ``x``.

    Example:
        >>> expander = Expander(48000, threshold_db=-40.0, ratio=2.0, knee_db=0.0, release_ms=1.0)
        >>> quiet = expander(torch.full((1, 1, 4800), 10 ** (-50 / 20))).audio[..., -1].item()
        >>> round(20 * math.log10(quiet), 3)  # 10 dB under the threshold come out 20 dB under
        -60.0
    """

    mode = "expander"

    def __init__(
        self,
        sample_rate: float,
        threshold_db: float = -40.0,
        ratio: float = 2.0,
        knee_db: float = 6.0,
        attack_ms: float = 1.0,
        release_ms: float = 100.0,
        makeup_db: float = 0.0,
        **options: Any,
    ):
        values = {
            "threshold_db": threshold_db,
            "ratio": ratio,
            "knee_db": knee_db,
            "attack_ms": attack_ms,
            "release_ms": release_ms,
            "makeup_db": makeup_db,
        }
        super().__init__(sample_rate, values, **options)


class NoiseGate(_Dynamics):
    r"""Noise gate: an expander whose attenuation stops at ``range_db``.

    Args:
        sample_rate: Hz.
        threshold_db: dB in [-80, 0] (default -50).
        ratio: expansion ratio below the threshold, in [1, 100], log scale (default 10).
        knee_db: quadratic soft-knee width, dB in [0, 24] (default 6).
        attack_ms: time constant while the gate opens, ms in [0.01, 1000], log scale (default 1).
        release_ms: time constant while it closes, ms in [1, 5000], log scale (default 100).
        makeup_db: output gain, dB in [-24, 24] (default 0).
        range_db: largest attenuation, dB in [0, 120] (default 60).
        **options: ``detector``, ``rms_ms``, ``smoothing``, ``link``, ``lookahead_ms``
            (see :mod:`ddsp_kit.processors.dynamics`).

    Shape:
        ``x`` and ``sidechain``: ``(batch, channels, samples)``; output: like ``x``.

    Example:
        >>> gate = NoiseGate(48000, threshold_db=-40.0, range_db=30.0, release_ms=1.0)
        >>> hiss = gate(torch.full((1, 1, 4800), 1e-4)).audio[..., -1].item()
        >>> round(20 * math.log10(hiss), 3)  # -80 dB hiss, closed to -80 - 30
        -110.0
    """

    mode = "gate"

    def __init__(
        self,
        sample_rate: float,
        threshold_db: float = -50.0,
        ratio: float = 10.0,
        knee_db: float = 6.0,
        attack_ms: float = 1.0,
        release_ms: float = 100.0,
        makeup_db: float = 0.0,
        range_db: float = 60.0,
        **options: Any,
    ):
        values = {
            "threshold_db": threshold_db,
            "ratio": ratio,
            "knee_db": knee_db,
            "attack_ms": attack_ms,
            "release_ms": release_ms,
            "makeup_db": makeup_db,
            "range_db": range_db,
        }
        super().__init__(sample_rate, values, **options)
