r"""Utility blocks on the processor protocol: gain, DC offset, polarity, dry/wet mix, pan.

Thin modules over :mod:`ddsp_kit.functional.utility`.
"""

from typing import Dict, Mapping, Optional, Tuple

import torch

from ..functional.utility import dc_offset, delay, dry_wet, gain, pan, polarity
from .base import Parameter, Processed, Processor, State, nested, prefixed

Tensor = torch.Tensor

_INNER = "inner."


class Gain(Processor):
    r"""Gain in dB.

    Args:
        sample_rate: Hz.
        gain_db: dB in [-60, 24].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> Gain(48000, gain_db=-20.0)(torch.ones(1, 1, 2)).audio.detach()
        tensor([[[0.1000, 0.1000]]])
    """

    def __init__(self, sample_rate: float, gain_db: float = 0.0):
        super().__init__(sample_rate, [Parameter("gain_db", "dB", -60.0, 24.0, 0.0)], {"gain_db": gain_db})

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        return gain(x, params["gain_db"]), {}


class DCOffset(Processor):
    r"""Add a DC offset (linear amplitude, full scale 1).

    Args:
        sample_rate: Hz.
        offset: amplitude in [-1, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> DCOffset(48000, offset=0.5)(torch.zeros(1, 1, 2)).audio.detach()
        tensor([[[0.5000, 0.5000]]])
    """

    def __init__(self, sample_rate: float, offset: float = 0.0):
        super().__init__(sample_rate, [Parameter("offset", "", -1.0, 1.0, 0.0)], {"offset": offset})

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        return dc_offset(x, params["offset"]), {}


class Polarity(Processor):
    r"""Polarity inversion (a fixed choice, nothing to learn).

    Args:
        sample_rate: Hz.
        invert: True multiplies by -1, False passes the signal.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> Polarity(48000)(torch.tensor([[[0.5, -1.0]]])).audio
        tensor([[[-0.5000,  1.0000]]])
    """

    def __init__(self, sample_rate: float, invert: bool = True):
        super().__init__(sample_rate, [])
        if not isinstance(invert, bool):
            raise TypeError(f"invert must be a bool, got {type(invert).__name__}")
        self.invert = invert

    def extra_repr(self) -> str:
        return super().extra_repr() + f", invert={self.invert}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        return polarity(x, self.invert), {}


class DryWet(Processor):
    r"""Mix a processor's output with its input: :math:`(1 - m)\,\mathrm{dry} + m\,\mathrm{wet}`.

    The dry path is delayed by the inner processor's ``latency`` attribute
    (samples, 0 when it has none), so that both paths line up; ``latency`` is
    also this block's. The inner processor's state and the dry delay line
    travel in this block's state, so streaming works as for any block.

    Args:
        processor: the inner :class:`Processor` (its sample rate is this block's).
        mix: wet proportion in [0, 1] (a linear crossfade, see
            :func:`ddsp_kit.functional.utility.dry_wet`).

    Controls:
        ``mix``, and the inner processor's controls prefixed ``inner.``
        (``{"inner.input_gain_db": ...}``).

    Shape:
        ``(batch, channels, samples)`` in; out, the broadcast of the dry and
        wet shapes (a mono input mixed with a stereo wet signal is stereo).

    Example:
        >>> from ddsp_kit.processors.utility import Gain
        >>> mixer = DryWet(Gain(48000, gain_db=-60.0), mix=0.25)
        >>> mixer(torch.ones(1, 1, 2)).audio.detach()
        tensor([[[0.7502, 0.7502]]])
    """

    def __init__(self, processor: Processor, mix: float = 0.5):
        if not isinstance(processor, Processor):
            raise TypeError(f"processor must be a Processor, got {type(processor).__name__}")
        super().__init__(processor.sample_rate, [Parameter("mix", "", 0.0, 1.0, 0.5)], {"mix": mix})
        if isinstance(processor.latency, bool) or not isinstance(processor.latency, int) or processor.latency < 0:
            raise ValueError(f"the inner processor's latency must be an int >= 0 samples, got {processor.latency!r}")
        self.processor = processor
        self.latency = processor.latency

    def accepts_input(self, name: str) -> bool:
        return self.processor.accepts_input(name)

    def forward(
        self, x: Tensor, controls: Optional[Mapping[str, Tensor]] = None, state: Optional[State] = None, **inputs: Tensor
    ) -> Processed:
        """Process one block, as :meth:`Processor.forward`; controls, parameters
        and state named ``inner.<name>`` belong to the inner processor."""
        def own(mapping):
            return {key: value for key, value in (mapping or {}).items() if not key.startswith(_INNER)}

        if state is not None and not isinstance(state, Mapping):
            raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
        wet = self.processor(x, nested(controls, "inner"), nested(state, "inner"), **inputs)
        mixed = super().forward(x, own(controls), own(state), wet=wet.audio)
        return Processed(
            mixed.audio, {**mixed.params, **prefixed(wet.params, "inner")}, {**mixed.state, **prefixed(wet.state, "inner")}
        )

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State, wet: Tensor) -> Tuple[Tensor, State]:
        dry, history = delay(x, self.latency, state.get("dry"))
        try:
            torch.broadcast_shapes(dry.shape, wet.shape)
        except RuntimeError:
            raise ValueError(
                f"{type(self.processor).__name__} returned {tuple(wet.shape)} for input {tuple(x.shape)}: "
                "dry and wet must broadcast (same samples, same or one channel)"
            ) from None
        return dry_wet(dry, wet, params["mix"]), {"dry": history}


class Pan(Processor):
    r"""Constant-power pan (mono in, stereo out) or balance (stereo in and out).

    See :func:`ddsp_kit.functional.utility.pan` for the gains: for mono input
    the squared gains sum to 1, for stereo input to 2 (unity at the centre).

    Args:
        sample_rate: Hz.
        pan: position in [-1, 1], left to right.

    Shape:
        ``(batch, 1 or 2, samples)`` in, ``(batch, 2, samples)`` out; other
        channel counts raise ValueError.

    Example:
        >>> Pan(48000, pan=-1.0)(torch.ones(1, 1, 1)).audio.detach().round(decimals=4)
        tensor([[[1.],
                 [0.]]])
    """

    def __init__(self, sample_rate: float, pan: float = 0.0):
        super().__init__(sample_rate, [Parameter("pan", "", -1.0, 1.0, 0.0)], {"pan": pan})

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        return pan(x, params["pan"]), {}
