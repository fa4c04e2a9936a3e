r"""Controllers: small networks that produce a block's parameters.

A block on its own has *static* parameters: learnable constants initialised
from physical values (:class:`~ddsp_kit.processors.Processor`). Wrapping it in
:class:`Controlled` hands its unconstrained controls to a controller:

:class:`KnobController`
    an MLP from the device's knob values (``(batch, num_knobs)`` in [0, 1]) to
    one value per parameter: knob-conditioned static parameters.
:class:`TimeVaryingController`
    a GRU at frame rate over features of the block's *own* input (its level in
    dB per frame; plus the knobs when ``num_knobs > 0``): parameters that move
    with the signal, e.g. a compressor's threshold or a filter's cut-off.

Both start from the block's current parameter values: their output layer
has zero weights and the block's unconstrained values as bias, so wrapping a
block does not change what it does until training moves the controller.

The time-varying controller is causal and streams with any block size: the
features of frame ``k`` (``hop`` samples) set the value reached at the end of
frame ``k + 1``, ramped linearly across it (one frame of delay, no look-ahead).
"""

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from .processors.base import Configurable, Processed, Processor, State, check_audio, nested, prefixed

Tensor = torch.Tensor
_FLOOR = 1e-10  # -100 dB of mean square: the level of silence


class Controller(Configurable):
    """Base of controllers: ``bind`` to a block's parameters, then ``forward(x, knobs, state)``
    returns ``({name: raw control (batch, 1, 1 or samples)}, state)``."""

    num_knobs: int = 0

    def bind(self, names: Sequence[str], initial: Tensor) -> None:
        """Size the output for ``names``, starting at the unconstrained values ``initial``."""
        self.names = list(names)
        self.output = nn.Linear(self.hidden, len(self.names))
        with torch.no_grad():
            self.output.weight.zero_()
            self.output.bias.copy_(initial)

    def split(self, values: Tensor) -> Dict[str, Tensor]:
        """``(batch, parameters, time)`` as one ``(batch, 1, time)`` control per name."""
        return {name: values[:, i : i + 1] for i, name in enumerate(self.names)}


def _mlp(inputs: int, hidden: int, layers: int) -> nn.Sequential:
    modules = []
    for i in range(layers):
        modules += [nn.Linear(inputs if i == 0 else hidden, hidden), nn.Tanh()]
    return nn.Sequential(*modules)


class KnobController(Controller):
    r"""Parameters as a function of the knobs: an MLP ``knobs -> hidden -> parameters``.

    Args:
        num_knobs: number of knobs, >= 1.
        hidden: width of the hidden layers.
        layers: number of hidden layers, >= 1.

    Shape:
        knobs ``(batch, num_knobs)``; controls ``(batch, 1, 1)`` per parameter.

    Example:
        >>> from ddsp_kit.processors import Tanh
        >>> drive = Controlled(Tanh(48000), KnobController(num_knobs=1), names=["input_gain_db"])
        >>> drive(torch.randn(2, 1, 64), knobs=torch.tensor([[0.2], [0.9]])).params["input_gain_db"].shape
        torch.Size([2, 1, 1])
    """

    def __init__(self, num_knobs: int, hidden: int = 16, layers: int = 2):
        super().__init__()
        if not isinstance(num_knobs, int) or num_knobs < 1 or hidden < 1 or layers < 1:
            raise ValueError(f"needs num_knobs >= 1, hidden >= 1 and layers >= 1; got {num_knobs}, {hidden}, {layers}")
        self.num_knobs, self.hidden = num_knobs, hidden
        self.body = _mlp(num_knobs, hidden, layers)

    def forward(self, x: Tensor, knobs: Tensor, state: State) -> Tuple[Dict[str, Tensor], State]:
        return self.split(self.output(self.body(knobs.to(self.output.weight.dtype))).unsqueeze(-1)), {}


class TimeVaryingController(Controller):
    r"""Parameters that follow the block's input: a GRU over per-frame features.

    Each frame of ``hop`` samples gives one feature vector: the frame's mean
    square over channels in dB (floored at -100 dB), scaled by 1/20, plus the
    knobs when ``num_knobs > 0``. The GRU's output after frame ``k`` is the
    control value reached at the end of frame ``k + 1``; values ramp linearly
    between frame ends.

    Args:
        hop: frame length, samples.
        hidden: GRU width.
        num_knobs: knobs appended to the features (0: none).
        source: ``"block"`` reads the controlled block's own input;
            ``"chain"`` reads the input of the outermost :class:`~ddsp_kit.chain.Chain`
            (what NablAFx's controllers are limited to).

    Shape:
        ``x`` ``(batch, channels, samples)`` with any number of samples (the
        partial frame is carried in the state); controls ``(batch, 1, samples)``.

    Example:
        >>> from ddsp_kit.processors import Compressor
        >>> comp = Controlled(Compressor(48000), TimeVaryingController(hop=256), names=["threshold_db"])
        >>> comp(torch.randn(1, 1, 1000)).params["threshold_db"].shape
        torch.Size([1, 1, 1000])
    """

    SOURCES = ("block", "chain")

    def __init__(self, hop: int = 256, hidden: int = 16, num_knobs: int = 0, source: str = "block"):
        super().__init__()
        if not isinstance(hop, int) or hop < 1 or hidden < 1 or not isinstance(num_knobs, int) or num_knobs < 0:
            raise ValueError(f"needs hop >= 1, hidden >= 1 and num_knobs >= 0; got {hop}, {hidden}, {num_knobs}")
        if source not in self.SOURCES:
            raise ValueError(f"source must be one of {self.SOURCES}, got {source!r}")
        self.hop, self.hidden, self.num_knobs, self.source = hop, hidden, num_knobs, source
        self.gru = nn.GRU(1 + num_knobs, hidden, batch_first=True)

    def _frames(self, x: Tensor, state: State):
        """Mean squares of the frames that end in this block, and the new partial-frame state."""
        batch, _, samples = x.shape
        power = x.square().mean(1)  # (batch, samples)
        count = int(state["count"]) if "count" in state else 0
        partial = state.get("partial", power.new_zeros(batch))
        running = partial.unsqueeze(-1) + power.cumsum(-1)  # the current frame's sum, then beyond
        first = self.hop - count - 1  # index of the first frame end in this block
        ends = torch.arange(first, max(first, samples), self.hop, device=x.device)
        totals = running[:, ends]
        sums = torch.cat([totals[:, :1], totals[:, 1:] - totals[:, :-1]], -1)
        rest = running[:, -1] - (totals[:, -1] if ends.numel() else 0)
        return sums / self.hop, ends, {"partial": rest, "count": torch.tensor((count + samples) % self.hop)}

    def forward(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Dict[str, Tensor], State]:
        batch, _, samples = x.shape
        dtype = self.output.weight.dtype
        x = x.to(dtype)
        mean_square, ends, frame_state = self._frames(x, state)
        start = self.output.bias.to(dtype).expand(batch, -1)
        current, previous = state.get("current", start), state.get("previous", start)
        hidden = state.get("hidden", x.new_zeros(1, batch, self.hidden))
        # Control values at the end of each frame that ends in this block, then of the frame in progress.
        targets, starts = [current], [previous]
        if ends.numel():
            features = (10 * torch.log10(mean_square.clamp_min(_FLOOR)) / 20).unsqueeze(-1)
            if self.num_knobs:
                features = torch.cat([features, knobs.to(dtype).unsqueeze(1).expand(batch, features.shape[1], -1)], -1)
            outputs, hidden = self.gru(features, hidden)
            values = self.output(outputs)  # (batch, frames, parameters): the value at the end of the next frame
            targets += list(values.unbind(1))
            starts += [current] + list(values.unbind(1))[:-1]
        # Frame index and phase of every sample (frame 0: the frame in progress when the block starts).
        position = int(state["count"]) if "count" in state else 0
        index = (torch.arange(samples, device=x.device) + position) // self.hop
        phase = ((torch.arange(samples, device=x.device) + position) % self.hop + 1).to(dtype) / self.hop
        target, begin = torch.stack(targets, -1)[..., index], torch.stack(starts, -1)[..., index]
        controls = begin + (target - begin) * phase
        new_state = {**frame_state, "hidden": hidden, "current": targets[-1], "previous": starts[-1]}
        return self.split(controls), new_state


class Controlled(Processor):
    r"""A block whose parameters come from a controller.

    The block's parameters named in ``names`` (all by default) are driven by
    ``controller``; explicit controls passed to ``forward`` still override
    them. Parameters and controls keep the block's names; the state holds
    the block's entries and the controller's under ``controller.``.

    Args:
        processor: the block.
        controller: a :class:`KnobController` or :class:`TimeVaryingController`.
        names: the parameters it drives (default: all of the block's).

    Shape:
        as the block.

    Example:
        >>> from ddsp_kit.processors import Gain
        >>> level = Controlled(Gain(48000, -6.0), KnobController(num_knobs=2))
        >>> round(level(torch.ones(1, 1, 4), knobs=torch.tensor([[0.3, 0.7]])).params["gain_db"].item(), 3)
        -6.0
    """

    def __init__(self, processor: Processor, controller: Controller, names: Optional[Sequence[str]] = None):
        if not isinstance(processor, Processor) or not isinstance(controller, Controller):
            raise TypeError("Controlled(processor: Processor, controller: Controller)")
        names = list(processor.specs if names is None else names)
        unknown = sorted(set(names) - set(processor.specs))
        if unknown or not names:
            raise ValueError(f"{type(processor).__name__} has parameters {list(processor.specs)}; cannot control {unknown or names}")
        super().__init__(processor.sample_rate, [])
        self.processor, self.controller = processor, controller
        controller.bind(names, torch.stack([processor.raw[name].detach() for name in names]))
        knobs = {processor.num_knobs, controller.num_knobs} - {0}
        if len(knobs) > 1:
            raise ValueError(f"the block reads {processor.num_knobs} knobs and the controller {controller.num_knobs}")
        self.num_knobs = knobs.pop() if knobs else 0
        self.latency = processor.latency
        self.reads_chain_input = getattr(controller, "source", "block") == "chain"

    def accepts_input(self, name: str) -> bool:
        return self.processor.accepts_input(name)

    def forward(
        self,
        x: Tensor,
        controls=None,
        state: Optional[State] = None,
        *,
        knobs: Optional[Tensor] = None,
        chain_input: Optional[Tensor] = None,
        **inputs,
    ) -> Processed:
        """As :meth:`Processor.forward`; ``chain_input`` is the signal a controller
        with ``source="chain"`` reads (a :class:`~ddsp_kit.chain.Chain` passes it)."""
        x = check_audio(x)
        knobs = self.resolve_knobs(knobs, x)
        source = x
        if self.reads_chain_input:
            if chain_input is None:
                raise ValueError("this controller reads the chain's input: run the block inside a Chain or pass chain_input")
            source = check_audio(chain_input, "chain_input")
            if source.shape[0] != x.shape[0] or source.shape[-1] != x.shape[-1]:
                raise ValueError(f"chain_input {tuple(source.shape)} does not match the block's input {tuple(x.shape)}")
        block_state = {k: v for k, v in (state or {}).items() if not k.startswith("controller.")}
        generated, controller_state = self.controller(source, knobs, nested(state, "controller"))
        extra = {"knobs": knobs} if self.processor.num_knobs else {}
        out = self.processor(x, {**generated, **(controls or {})}, block_state, **extra, **inputs)
        return Processed(out.audio, out.params, {**out.state, **prefixed(controller_state, "controller")})
