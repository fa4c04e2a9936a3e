r"""Memoryless waveshapers on the processor protocol, optionally oversampled.

Every shaper computes ``output_gain * shape(input_gain * x)`` with the gains in
dB, runs ``shape`` at ``oversampling`` times the sample rate
(:func:`ddsp_kit.functional.nonlinear.oversample`) and reports the resulting
delay in samples as ``latency``. Per-sample controls of the shape's own
parameters are held constant over each sample's ``oversampling`` high-rate
samples. The shapers map 0 to 0 (see :mod:`ddsp_kit.functional.nonlinear`).
"""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from ..functional.nonlinear import biased_tanh, chebyshev, hard_clip, oversample, oversampling_latency, rational, soft_clip
from ..functional.utility import gain
from .base import Parameter, Processor, State

Tensor = torch.Tensor

INPUT_GAIN = Parameter("input_gain_db", "dB", -24.0, 36.0, 0.0)
OUTPUT_GAIN = Parameter("output_gain_db", "dB", -36.0, 24.0, 0.0)


class Waveshaper(Processor):
    r"""Base of the memoryless shapers: input gain, ``shape`` (oversampled), output gain.

    Subclasses implement ``shape(x, params)`` on the high-rate signal, with
    ``params`` the physical values, per-sample ones held to the high rate.

    Args:
        sample_rate: Hz.
        parameters: the shape's own :class:`Parameter` declarations; the gains
            ``input_gain_db`` (drive, [-24, 36] dB) and ``output_gain_db``
            ([-36, 24] dB) are added.
        initial: physical initial values of ``parameters`` by name.
        input_gain_db: dB before the shape.
        output_gain_db: dB after it.
        oversampling: 1, 2, 4 or 8.

    Attributes:
        latency: delay of the output, samples (0 without oversampling).
    """

    def __init__(
        self,
        sample_rate: float,
        parameters: Sequence[Parameter],
        initial: Mapping[str, float],
        input_gain_db: float,
        output_gain_db: float,
        oversampling: int,
    ):
        gains = {"input_gain_db": input_gain_db, "output_gain_db": output_gain_db}
        super().__init__(sample_rate, [INPUT_GAIN, OUTPUT_GAIN, *parameters], {**gains, **initial})
        self.latency = oversampling_latency(oversampling)
        self.oversampling = int(oversampling)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", oversampling={self.oversampling}"

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement shape()")

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        factor = self.oversampling
        held = {
            name: value.repeat_interleave(factor, -1) if value.shape[-1] > 1 else value
            for name, value in params.items()
            if name not in (INPUT_GAIN.name, OUTPUT_GAIN.name)
        }
        y, state = oversample(lambda u: self.shape(u, held), gain(x, params["input_gain_db"]), factor, state)
        return gain(y, params["output_gain_db"]), state


class Tanh(Waveshaper):
    r"""Hyperbolic-tangent soft clipper, :math:`\tanh` of the driven input.

    Args:
        sample_rate: Hz.
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> shaper = Tanh(48000, input_gain_db=20.0)
        >>> shaper(torch.ones(1, 1, 2)).audio
        tensor([[[1.0000, 1.0000]]], grad_fn=<MulBackward0>)
    """

    def __init__(self, sample_rate: float, input_gain_db: float = 0.0, output_gain_db: float = 0.0, oversampling: int = 1):
        super().__init__(sample_rate, [], {}, input_gain_db, output_gain_db, oversampling)

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        return soft_clip(x)


class HardClip(Waveshaper):
    r"""Hard clipper at full scale (1) with a smooth quadratic knee.

    Args:
        sample_rate: Hz.
        knee: knee width, amplitude in [0.01, 1] (log scale): the clipper is
            exactly linear below ``1 - knee / 2`` and exactly 1 above ``1 + knee / 2``.
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> clipper = HardClip(48000, knee=0.1, oversampling=2)
        >>> clipper.latency
        37
        >>> round(clipper(torch.full((1, 1, 80), 4.0)).audio[0, 0, -1].item(), 4)
        1.0
    """

    def __init__(
        self,
        sample_rate: float,
        knee: float = 0.1,
        input_gain_db: float = 0.0,
        output_gain_db: float = 0.0,
        oversampling: int = 1,
    ):
        spec = Parameter("knee", "", 0.01, 1.0, 0.1, scale="log")
        super().__init__(sample_rate, [spec], {"knee": knee}, input_gain_db, output_gain_db, oversampling)

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        return hard_clip(x, params["knee"])


class Asymmetric(Waveshaper):
    r"""Biased tanh, :math:`\tanh(x + b) - \tanh(b)`: even harmonics, no static offset.

    Args:
        sample_rate: Hz.
        bias: operating point ``b``, amplitude in [-1, 1] (0 is the symmetric tanh).
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> shaper = Asymmetric(48000, bias=0.5)
        >>> shaper(torch.tensor([[[-1.0, 0.0, 1.0]]])).audio.detach()
        tensor([[[-0.9242,  0.0000,  0.4430]]])
    """

    def __init__(
        self,
        sample_rate: float,
        bias: float = 0.25,
        input_gain_db: float = 0.0,
        output_gain_db: float = 0.0,
        oversampling: int = 1,
    ):
        spec = Parameter("bias", "", -1.0, 1.0, 0.25)
        super().__init__(sample_rate, [spec], {"bias": bias}, input_gain_db, output_gain_db, oversampling)

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        return biased_tanh(x, params["bias"])


def _stacked(params: Dict[str, Tensor], names: Sequence[str]) -> Tensor:
    """Parameters of possibly different shapes (static, per-sample) stacked on a new first axis."""
    return torch.stack(torch.broadcast_tensors(*(params[name] for name in names)))


def _coefficients(name: str, values, count: Optional[int] = None) -> Tuple[float, ...]:
    """A non-empty sequence of numbers (of length ``count`` when given) as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence of numbers, got {values!r}")
    if count is not None and len(values) != count:
        raise ValueError(f"{name} must hold {count} values, got {len(values)}")
    return tuple(float(v) for v in values)


class Chebyshev(Waveshaper):
    r"""Chebyshev polynomial shaper: a full-scale sine comes out as the harmonics ``k`` at amplitudes ``harmonic_k``.

    Computes :math:`\sum_k c_k (T_k(x) - T_k(0))` with the input clamped to
    [-1, 1] (:func:`ddsp_kit.functional.nonlinear.chebyshev`).

    Args:
        sample_rate: Hz.
        order: number of harmonics ``N``, an int >= 1.
        harmonics: initial ``c_1 ... c_N``, each in [-2, 2]; None is ``(1, 0, ..., 0)``
            (the identity below full scale). They are learnable as the
            parameters ``harmonic_1 ... harmonic_N``.
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> shaper = Chebyshev(48000, order=2, harmonics=[0.0, 1.0])
        >>> shaper(torch.tensor([[[0.0, 1.0]]])).audio.detach()  # T_2(x) - T_2(0) = 2 x^2
        tensor([[[0.0000, 2.0000]]])
    """

    def __init__(
        self,
        sample_rate: float,
        order: int = 4,
        harmonics: Optional[Sequence[float]] = None,
        input_gain_db: float = 0.0,
        output_gain_db: float = 0.0,
        oversampling: int = 1,
    ):
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        harmonics = (1.0,) + (0.0,) * (order - 1) if harmonics is None else _coefficients("harmonics", harmonics, order)
        names = [f"harmonic_{k}" for k in range(1, order + 1)]
        specs = [Parameter(name, "", -2.0, 2.0, 0.0) for name in names]
        super().__init__(sample_rate, specs, dict(zip(names, harmonics)), input_gain_db, output_gain_db, oversampling)
        self.names = names

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        return chebyshev(x, _stacked(params, self.names))


class Rational(Waveshaper):
    r"""Rational shaper without poles, :math:`P(x) / \sqrt{1 + S(x)^2}`.

    :math:`P(x) = \sum_{k=1}^{n} a_k x^k` (no constant: 0 maps to 0) and
    :math:`S(x) = \sum_{k=1}^{m} b_k x^k`; the denominator is at least 1
    (:func:`ddsp_kit.functional.nonlinear.rational`). With ``n = m`` the
    shaper saturates; the default is :math:`x / \sqrt{1 + x^2}`.

    Args:
        sample_rate: Hz.
        numerator: initial ``a_1 ... a_n``, each in [-4, 4], learnable as
            ``numerator_1 ...``.
        denominator: initial ``b_1 ... b_m``, each in [-4, 4], learnable as
            ``denominator_1 ...``.
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> shaper = Rational(48000)
        >>> shaper(torch.tensor([[[0.0, 1.0]]])).audio.detach()
        tensor([[[0.0000, 0.7071]]])
    """

    def __init__(
        self,
        sample_rate: float,
        numerator: Sequence[float] = (1.0, 0.0, 0.0),
        denominator: Sequence[float] = (1.0, 0.0, 0.0),
        input_gain_db: float = 0.0,
        output_gain_db: float = 0.0,
        oversampling: int = 1,
    ):
        numerator = _coefficients("numerator", numerator)
        denominator = _coefficients("denominator", denominator)
        numerator_names = [f"numerator_{k}" for k in range(1, len(numerator) + 1)]
        denominator_names = [f"denominator_{k}" for k in range(1, len(denominator) + 1)]
        names = numerator_names + denominator_names
        specs = [Parameter(name, "", -4.0, 4.0, 0.0) for name in names]
        initial = dict(zip(names, numerator + denominator))
        super().__init__(sample_rate, specs, initial, input_gain_db, output_gain_db, oversampling)
        self.numerator_names, self.denominator_names = numerator_names, denominator_names

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        numerator = _stacked(params, self.numerator_names)
        zero = torch.zeros_like(numerator[:1])  # a_0 = 0
        return rational(x, torch.cat([zero, numerator]), _stacked(params, self.denominator_names))


class MLPWaveshaper(Waveshaper):
    r"""A small learnable curve: a sample-wise MLP :math:`f(x) - f(0)`, :math:`f(x) = w_2^\top \tanh(w_1 x + b_1)`.

    The weights are ordinary ``nn.Parameter`` s (``nn.Linear`` initialisation);
    the only physical parameters are the gains. Subtracting :math:`f(0)` keeps
    silence silent (it also makes an output bias redundant, so there is none).

    Args:
        sample_rate: Hz.
        hidden: width of the hidden layer, an int >= 1.
        input_gain_db: drive, dB in [-24, 36].
        output_gain_db: dB in [-36, 24].
        oversampling: 1, 2, 4 or 8.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> shaper = MLPWaveshaper(48000, hidden=8)
        >>> shaper(torch.zeros(1, 1, 3)).audio.detach()
        tensor([[[0., 0., 0.]]])
    """

    def __init__(
        self,
        sample_rate: float,
        hidden: int = 16,
        input_gain_db: float = 0.0,
        output_gain_db: float = 0.0,
        oversampling: int = 1,
    ):
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be an int >= 1, got {hidden!r}")
        super().__init__(sample_rate, [], {}, input_gain_db, output_gain_db, oversampling)
        self.hidden = nn.Linear(1, hidden)
        self.output = nn.Linear(hidden, 1, bias=False)

    def _curve(self, x: Tensor) -> Tensor:
        return self.output(torch.tanh(self.hidden(x.unsqueeze(-1)))).squeeze(-1)

    def shape(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        # Computed in the weights' dtype, so that float64 audio runs through a float32 module.
        u = x.to(self.hidden.weight.dtype)
        return (self._curve(u) - self._curve(torch.zeros_like(u[..., :1]))).to(x.dtype)
