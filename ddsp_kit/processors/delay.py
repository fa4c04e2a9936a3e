r"""Delay processors: a fractional delay line and the universal comb.

Thin modules over :mod:`ddsp_kit.functional.delay`. Delays are in ms, bounded
by a constructor maximum that sets the length of the delay line carried in the
state (``"line"``); every delay may be per sample (modulated) and is
differentiable (interpolated reads, see the functional module).
"""

import math
import numbers
from typing import Dict, Tuple

import torch

from ..functional.delay import INTERPOLATIONS, MIN_DELAY, feedback_comb, fractional_delay
from ..functional.design import check_sample_rate
from .base import Parameter, Processor, State

Tensor = torch.Tensor


def _max_delay_samples(max_delay_ms, sample_rate: float, minimum_ms: float) -> int:
    """The delay line's largest delay, whole samples, for ``max_delay_ms`` (checked to exceed ``minimum_ms``)."""
    if isinstance(max_delay_ms, bool) or not isinstance(max_delay_ms, numbers.Real) or not minimum_ms < max_delay_ms < math.inf:
        raise ValueError(f"max_delay_ms must be a finite number of ms above {minimum_ms:g}, got {max_delay_ms!r}")
    # The tolerance keeps a whole number of samples from gaining one through rounding.
    return math.ceil(max_delay_ms * sample_rate / 1000 - 1e-9)


def _delay_samples(delay_ms: Tensor, sample_rate: float, low: int, high: int) -> Tensor:
    """``delay_ms`` in samples, clamped into ``[low, high]``: the ms conversion may overshoot the ends by an ulp."""
    return (delay_ms * (sample_rate / 1000)).clamp(low, high)


class FractionalDelay(Processor):
    r"""Delay by a fractional number of samples, learnable and modulatable.

    Args:
        sample_rate: Hz.
        delay_ms: initial delay, ms, in [``MIN_DELAY[interpolation]`` samples,
            ``max_delay_ms``] (linear scale).
        max_delay_ms: the longest delay, ms (the delay line's length).
        interpolation: ``"linear"`` (any delay >= 0) or ``"lagrange"``
            (third-order Lagrange, flatter at high frequencies, delays of at
            least one sample); see :mod:`ddsp_kit.functional.delay`.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> line = FractionalDelay(1000, delay_ms=2.5, max_delay_ms=4.0)
        >>> line(torch.tensor([[[0.0, 2.0, 4.0, 6.0]]])).audio.detach().round(decimals=4)
        tensor([[[0., 0., 0., 1.]]])
    """

    def __init__(self, sample_rate: float, delay_ms: float = 1.0, max_delay_ms: float = 20.0, interpolation: str = "linear"):
        sample_rate = check_sample_rate(sample_rate)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.shortest = MIN_DELAY[interpolation]
        shortest_ms = 1000 * self.shortest / sample_rate
        self.max_delay = _max_delay_samples(max_delay_ms, sample_rate, shortest_ms)
        spec = Parameter("delay_ms", "ms", shortest_ms, float(max_delay_ms), delay_ms)
        super().__init__(sample_rate, [spec], {"delay_ms": delay_ms})
        self.interpolation = interpolation

    def extra_repr(self) -> str:
        return super().extra_repr() + f", max_delay={self.max_delay}, interpolation={self.interpolation!r}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        delay = _delay_samples(params["delay_ms"], self.sample_rate, self.shortest, self.max_delay)
        y, line = fractional_delay(x, delay, max_delay=self.max_delay, interpolation=self.interpolation, history=state.get("line"))
        return y.to(x.dtype), {"line": line}


class FeedbackComb(Processor):
    r"""Universal comb: :math:`w[n] = x[n] + g\,w[n - D]`, :math:`y[n] = b\,w[n] + c\,w[n - D]`.

    The defaults (blend :math:`b = 1`, feed-forward :math:`c = 0`) give the
    feedback comb :math:`y[n] = x[n] + g\,y[n - D]`, whose impulse response is
    :math:`g^k` at :math:`k D`; :math:`g = 0` a feed-forward comb,
    :math:`c = 1, b = -g` an all-pass (:func:`ddsp_kit.functional.feedback_comb`).
    :math:`|g| \le 0.999` keeps it stable for every delay trajectory.

    Args:
        sample_rate: Hz.
        delay_ms: :math:`D`, ms in [1 sample, ``max_delay_ms``], log scale
            (a step is a ratio, i.e. an interval of the comb's pitch).
        max_delay_ms: the longest delay, ms.
        feedback: :math:`g`, in [-0.999, 0.999].
        feedforward: :math:`c`, in [-2, 2].
        blend: :math:`b`, in [-2, 2].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> comb = FeedbackComb(1000, delay_ms=2.0, max_delay_ms=5.0, feedback=0.5)
        >>> comb(torch.tensor([[[1.0, 0.0, 0.0, 0.0, 0.0]]])).audio.detach().round(decimals=4)
        tensor([[[1.0000, 0.0000, 0.5000, 0.0000, 0.2500]]])
    """

    def __init__(
        self,
        sample_rate: float,
        delay_ms: float = 5.0,
        max_delay_ms: float = 50.0,
        feedback: float = 0.5,
        feedforward: float = 0.0,
        blend: float = 1.0,
    ):
        sample_rate = check_sample_rate(sample_rate)
        self.max_delay = _max_delay_samples(max_delay_ms, sample_rate, 1000 / sample_rate)
        specs = [
            Parameter("delay_ms", "ms", 1000 / sample_rate, float(max_delay_ms), delay_ms, scale="log"),
            Parameter("feedback", "", -0.999, 0.999, feedback),
            Parameter("feedforward", "", -2.0, 2.0, feedforward),
            Parameter("blend", "", -2.0, 2.0, blend),
        ]
        initial = {"delay_ms": delay_ms, "feedback": feedback, "feedforward": feedforward, "blend": blend}
        super().__init__(sample_rate, specs, initial)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", max_delay={self.max_delay}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        delay = _delay_samples(params["delay_ms"], self.sample_rate, 1, self.max_delay)
        y, line = feedback_comb(
            x,
            delay,
            params["feedback"],
            max_delay=self.max_delay,
            blend=params["blend"],
            feedforward=params["feedforward"],
            history=state.get("line"),
        )
        return y.to(x.dtype), {"line": line}
