r"""Filter and EQ processors: thin modules over :mod:`ddsp_kit.functional`.

Every recursive filter here is exact (no frequency sampling, no block
resets), stable for every value its parameters can take, and accepts
per-sample parameters. Parameters: frequencies in Hz on a log scale
(20 Hz to 20 kHz, capped below Nyquist), Q on a log scale, gains in dB.
"""

import math
from typing import Dict

import torch
from torch import nn

from ..functional.design import BIQUAD_KINDS, ONE_POLE_KINDS, biquad_design
from ..functional.filters import lpc_filter, one_pole_filter, section_filter
from ..functional.fir import fir_filter
from ..functional.svf import svf
from .base import Parameter, Processor, frequency_parameter

Tensor = torch.Tensor

_GAIN_KINDS = ("peak", "lowshelf", "highshelf")


def _q(name: str = "q", default: float = 1 / math.sqrt(2)) -> Parameter:
    return Parameter(name, "", 0.1, 20.0, default, scale="log")


def _gain(name: str = "gain_db", default: float = 0.0) -> Parameter:
    return Parameter(name, "dB", -24.0, 24.0, default)


def _second_order_parameters(kind: str, sample_rate: float, frequency: float) -> list:
    """``frequency`` and ``q``, plus ``gain_db`` for the kinds that have a gain."""
    if kind not in BIQUAD_KINDS:
        raise ValueError(f"kind must be one of {BIQUAD_KINDS}, got {kind!r}")
    specs = [frequency_parameter("frequency", 20.0, 20000.0, frequency, sample_rate), _q()]
    return specs + ([_gain()] if kind in _GAIN_KINDS else [])


class OnePole(Processor):
    r"""First-order low-pass or high-pass filter (-3 dB at ``frequency``).

    Args:
        sample_rate: Hz.
        kind: ``"lowpass"`` or ``"highpass"``.
        frequency: initial cut-off, Hz, in [20, min(20000, 0.49 sample_rate)].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> lowpass = OnePole(48000, "lowpass", frequency=500.0)
        >>> lowpass(torch.ones(1, 1, 4800)).audio[0, 0, -1].item() > 0.999
        True
    """

    def __init__(self, sample_rate: float, kind: str = "lowpass", frequency: float = 1000.0):
        if kind not in ONE_POLE_KINDS:
            raise ValueError(f"kind must be one of {ONE_POLE_KINDS}, got {kind!r}")
        low = 1.0 if kind == "dcblock" else 20.0
        spec = frequency_parameter("frequency", low, 20000.0, frequency, sample_rate)
        super().__init__(sample_rate, [spec], {"frequency": frequency})
        self.kind = kind

    def process(self, x, params, state):
        y, final = one_pole_filter(x, self.kind, params["frequency"], sample_rate=self.sample_rate, state=state.get("filter"))
        return y, {"filter": final}


class DCBlocker(OnePole):
    r"""DC blocker :math:`g (1 - z^{-1}) / (1 - R z^{-1})`, unit gain at Nyquist.

    Args:
        sample_rate: Hz.
        frequency: initial corner, Hz, in [1, 20000] (below Nyquist).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> block = DCBlocker(48000, frequency=10.0)
        >>> abs(block(torch.ones(1, 1, 48000)).audio[0, 0, -1].item()) < 1e-3
        True
    """

    def __init__(self, sample_rate: float, frequency: float = 10.0):
        super().__init__(sample_rate, "dcblock", frequency)


class Biquad(Processor):
    r"""Audio-EQ-cookbook biquad (RBJ) of one kind.

    Constant parameters run the exact time-invariant filter
    (:func:`ddsp_kit.functional.sosfilt`); per-sample controls run the modal
    time-varying sections (:func:`ddsp_kit.functional.sosfilt_tv`). For
    parameters moving at audio rate prefer :class:`StateVariableFilter`, which
    has the same static responses.

    Args:
        sample_rate: Hz.
        kind: one of ``BIQUAD_KINDS``.
        frequency: initial cut-off / centre, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        q: initial Q, in [0.1, 20] (log scale).
        gain_db: initial gain, dB, in [-24, 24] (``peak`` and shelves only).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> peak = Biquad(48000, "peak", frequency=1000.0, q=2.0, gain_db=6.0)
        >>> sorted(peak.values())
        ['frequency', 'gain_db', 'q']
    """

    def __init__(self, sample_rate: float, kind: str = "peak", frequency: float = 1000.0, q: float = 1 / math.sqrt(2), gain_db: float = 0.0):
        initial = {"frequency": frequency, "q": q}
        if kind in _GAIN_KINDS:
            initial["gain_db"] = gain_db
        super().__init__(sample_rate, _second_order_parameters(kind, sample_rate, frequency), initial)
        self.kind = kind

    def sections(self, params: Dict[str, Tensor]) -> Tensor:
        """Coefficients ``(batch or 1, channels or 1, 1, 1 or samples, 6)`` for ``params``."""
        sos = biquad_design(self.kind, params["frequency"], params["q"], params.get("gain_db", 0.0), sample_rate=self.sample_rate)
        return sos.unsqueeze(-3)

    def process(self, x, params, state):
        y, final = section_filter(x, self.sections(params), state.get("filter"))
        return y.to(x.dtype), {"filter": final}


class ParametricEQ(Processor):
    r"""Parametric equaliser: an optional low shelf, ``bands`` peak filters and an optional high shelf, in series.

    Parameters are named ``low_shelf_frequency``, ``low_shelf_q``,
    ``low_shelf_gain_db``, ``peak1_frequency`` ... ``peak{bands}_gain_db``,
    ``high_shelf_*``; peak centres start log-spaced between 100 Hz and 10 kHz,
    shelves at 80 Hz and 12 kHz, every gain at 0 dB (a flat EQ).

    Args:
        sample_rate: Hz.
        bands: number of peak bands, >= 0.
        shelves: include the low and high shelves.
        **initial: physical initial values by parameter name.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> eq = ParametricEQ(48000, bands=2, peak1_gain_db=3.0)
        >>> len(eq.specs), round(eq.values()["peak1_gain_db"], 3)
        (12, 3.0)
    """

    def __init__(self, sample_rate: float, bands: int = 3, shelves: bool = True, **initial: float):
        if not isinstance(bands, int) or bands < 0 or (bands == 0 and not shelves):
            raise ValueError(f"bands must be an int >= 0 (>= 1 without shelves), got {bands!r}")
        centres = [100.0 * 100.0 ** ((i + 0.5) / bands) for i in range(bands)]
        self.band_kinds = {}
        specs = []
        layout = [("low_shelf", "lowshelf", 80.0)] if shelves else []
        layout += [(f"peak{i + 1}", "peak", centre) for i, centre in enumerate(centres)]
        layout += [("high_shelf", "highshelf", 12000.0)] if shelves else []
        for name, kind, frequency in layout:
            self.band_kinds[name] = kind
            specs += [
                frequency_parameter(f"{name}_frequency", 20.0, 20000.0, frequency, sample_rate),
                _q(f"{name}_q", 1.0 if kind == "peak" else 1 / math.sqrt(2)),
                _gain(f"{name}_gain_db"),
            ]
        super().__init__(sample_rate, specs, initial)

    def sections(self, params: Dict[str, Tensor]) -> Tensor:
        """Coefficients ``(batch or 1, channels or 1, n_bands, 1 or samples, 6)``."""
        designs = [
            biquad_design(kind, params[f"{name}_frequency"], params[f"{name}_q"], params[f"{name}_gain_db"], sample_rate=self.sample_rate)
            for name, kind in self.band_kinds.items()
        ]
        return torch.stack(torch.broadcast_tensors(*designs), -3)

    def process(self, x, params, state):
        y, final = section_filter(x, self.sections(params), state.get("filter"))
        return y.to(x.dtype), {"filter": final}


class StateVariableFilter(Processor):
    r"""Zero-delay-feedback (TPT) state-variable filter, made for modulation.

    Same static responses as :class:`Biquad`; with per-sample cut-off and
    resonance its physical integrator states make sweeps smooth and stable
    (:func:`ddsp_kit.functional.svf`).

    Args:
        sample_rate: Hz.
        kind: one of ``BIQUAD_KINDS``.
        frequency: initial cut-off, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        q: initial resonance Q, in [0.1, 20] (log scale).
        gain_db: initial gain, dB, in [-24, 24] (``peak`` and shelves only).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> sweep = StateVariableFilter(48000, "lowpass", q=4.0)
        >>> hz = torch.logspace(2, 4, 4800).reshape(1, 1, -1)
        >>> sweep(torch.randn(1, 1, 4800), controls={"frequency": sweep.to_raw("frequency", hz)}).audio.shape
        torch.Size([1, 1, 4800])
    """

    def __init__(self, sample_rate: float, kind: str = "lowpass", frequency: float = 1000.0, q: float = 1 / math.sqrt(2), gain_db: float = 0.0):
        initial = {"frequency": frequency, "q": q}
        if kind in _GAIN_KINDS:
            initial["gain_db"] = gain_db
        super().__init__(sample_rate, _second_order_parameters(kind, sample_rate, frequency), initial)
        self.kind = kind

    def process(self, x, params, state):
        previous = state.get("filter")
        if previous is None:
            previous = x.new_zeros(2)
        y, final = svf(
            x, self.kind, params["frequency"], params["q"], params.get("gain_db", 0.0), sample_rate=self.sample_rate, state=previous
        )
        return y.to(x.dtype), {"filter": final}


class FIRFilter(Processor):
    r"""Learnable FIR filter (FFT convolution above 64 taps).

    The taps are an ordinary learnable tensor (no physical range), one filter
    shared by every channel or one per channel.

    Args:
        sample_rate: Hz.
        taps: initial impulse response, ``(M,)`` or ``(channels, M)``.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> fir = FIRFilter(48000, torch.tensor([0.5, 0.5]))
        >>> fir(torch.ones(1, 1, 3)).audio.tolist()
        [[[0.5, 1.0, 1.0]]]
    """

    def __init__(self, sample_rate: float, taps: Tensor):
        super().__init__(sample_rate, [])
        if not isinstance(taps, Tensor) or taps.dim() not in (1, 2) or taps.shape[-1] == 0 or not taps.is_floating_point():
            raise ValueError("taps must be a float tensor (M,) or (channels, M) with M >= 1")
        if not bool(torch.isfinite(taps).all()):
            raise ValueError("taps hold NaN or Inf values")
        self.taps = nn.Parameter(taps.detach().clone())

    @classmethod
    def pass_through(cls, sample_rate: float, length: int) -> "FIRFilter":
        """A filter of ``length`` taps that starts as a unit impulse (output = input), to be learned.

        Example:
            >>> FIRFilter.pass_through(48000, 4).taps.tolist()
            [1.0, 0.0, 0.0, 0.0]
        """
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an int >= 1 taps, got {length!r}")
        impulse = torch.zeros(length)
        impulse[0] = 1.0
        return cls(sample_rate, impulse)

    def process(self, x, params, state):
        if self.taps.dim() == 2 and self.taps.shape[0] not in (1, x.shape[1]):
            raise ValueError(f"{self.taps.shape[0]} filters for {x.shape[1]} channels")
        y, final = fir_filter(x, self.taps, state.get("history"))
        return y.to(x.dtype), {"history": final}


class LPCFilter(Processor):
    r"""Time-varying all-pole (LPC synthesis) filter with a gain.

    :math:`H(z) = g / A(z)` with :math:`A(z)` from ``order`` reflection
    coefficients ``k1 .. k{order}`` in [-0.999, 0.999] (stable whenever they
    are constant; :func:`ddsp_kit.functional.lpc_filter`), and ``gain_db`` in
    [-48, 24]. Initialised flat (all ``k = 0``, 0 dB).

    Args:
        sample_rate: Hz.
        order: number of poles, >= 1.
        **initial: physical initial values by parameter name.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> lpc = LPCFilter(16000, order=2, k1=-0.5)
        >>> [round(v, 4) for v in lpc(torch.tensor([[[1.0, 0.0, 0.0]]])).audio[0, 0].tolist()]
        [1.0, 0.5, 0.25]
    """

    def __init__(self, sample_rate: float, order: int = 16, **initial: float):
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        specs = [Parameter(f"k{i + 1}", "", -0.999, 0.999, 0.0) for i in range(order)]
        super().__init__(sample_rate, specs + [Parameter("gain_db", "dB", -48.0, 24.0, 0.0)], initial)
        self.order = order

    def process(self, x, params, state):
        reflection = torch.stack(torch.broadcast_tensors(*(params[f"k{i + 1}"] for i in range(self.order))), -1)
        gain = 10 ** (params["gain_db"] / 20)
        y, final = lpc_filter(gain * x, reflection, state.get("filter"))
        return y.to(x.dtype), {"filter": final}
