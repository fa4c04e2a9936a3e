r"""Composition: blocks in series (:class:`Chain`) and in parallel (:class:`Parallel`).

Both are processors themselves, so they nest, stream and save like any block.
The blocks' controls, physical parameters and states are addressed by index:
``"1.threshold_db"`` is the ``threshold_db`` of the second block, and a nested
chain adds its own index (``"2.0.gain_db"``). Knobs reach every block that
reads them (all such blocks read the same knob vector).
"""

from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from .functional.utility import db_to_gain, delay
from .processors.base import Parameter, Processed, Processor, State, check_audio, nested, prefixed

Tensor = torch.Tensor


def _check_blocks(blocks) -> Tuple[float, int]:
    """Blocks of one sample rate; returns it and the knob count they share."""
    if not blocks:
        raise ValueError("needs at least one block")
    for i, block in enumerate(blocks):
        if not isinstance(block, Processor):
            raise TypeError(f"block {i} must be a Processor, got {type(block).__name__}")
    rates = {block.sample_rate for block in blocks}
    if len(rates) > 1:
        raise ValueError(f"blocks run at different sample rates {sorted(rates)}: build them all at one rate")
    knobs = {block.num_knobs for block in blocks} - {0}
    if len(knobs) > 1:
        raise ValueError(f"blocks read different knob counts {sorted(knobs)}: they must share one knob vector")
    return rates.pop(), knobs.pop() if knobs else 0


def _routed(owner: Processor, controls, state, count: int, own_state: tuple = ()):
    """Controls and state checked to address blocks ``0 .. count-1`` (or the owner itself)."""
    if state is not None and not isinstance(state, Mapping):
        raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
    blocks = {str(i) for i in range(count)}
    # The owner's own state: its named entries and the ramps of its own controls ("control.<name>").
    own_states = set(own_state) | ({"control"} if owner.specs else set())
    for kind, mapping, own in (("control", controls, set(owner.specs)), ("state", state, own_states)):
        stray = sorted(key for key in (mapping or {}) if key.split(".")[0] not in blocks | own)
        if stray:
            raise ValueError(f"{type(owner).__name__} has no block for {kind} key(s) {stray}; keys start with a block index")
    return dict(controls or {}), dict(state or {})


def _prologue(owner: Processor, x, controls, state, knobs, chain_input, count: int, own_state: tuple = (), inputs=None):
    """The checks every composite makes: audio, routed keys, knobs, extra inputs, and the chain input (``x`` by default)."""
    x = check_audio(x)
    for name in inputs or {}:
        if not owner.accepts_input(name):
            raise ValueError(f"no block of this {type(owner).__name__} takes the input {name!r}")
    controls, state = _routed(owner, controls, state, count, own_state)
    return x, controls, state, owner.resolve_knobs(knobs, x), x if chain_input is None else chain_input


def _run_block(block: Processor, x: Tensor, index: int, controls, state, knobs, chain_input: Tensor, inputs) -> Processed:
    extra = {"knobs": knobs} if block.num_knobs else {}
    extra.update({name: value for name, value in inputs.items() if block.accepts_input(name)})
    if getattr(block, "reads_chain_input", False):
        extra["chain_input"] = chain_input
    return block(x, nested(controls, str(index)), nested(state, str(index)), **extra)


def _reads_chain_input(blocks) -> bool:
    return any(getattr(block, "reads_chain_input", False) for block in blocks)


class Chain(Processor):
    r"""Blocks in series: the output of each is the input of the next.

    Args:
        *blocks: processors (or chains, models) at one sample rate.

    ``latency`` is the sum of the blocks' latencies; ``num_knobs`` the knob
    count of the blocks that read knobs.

    Shape:
        ``(batch, channels, samples)`` in; out, what the last block returns.

    Example:
        >>> from ddsp_kit.processors import Biquad, Compressor, Gain
        >>> model = Chain(Biquad(48000, "peak", 1000.0, 1.0, 6.0), Compressor(48000), Gain(48000, -3.0))
        >>> out = model(torch.randn(2, 1, 4800))
        >>> sorted(out.params)[:3]
        ['0.frequency', '0.gain_db', '0.q']
    """

    def __init__(self, *blocks: Processor):
        sample_rate, self.num_knobs = _check_blocks(blocks)
        super().__init__(sample_rate, [])
        self.blocks = nn.ModuleList(blocks)
        self.latency = sum(block.latency for block in blocks)
        self.reads_chain_input = _reads_chain_input(blocks)

    def accepts_input(self, name: str) -> bool:
        return any(block.accepts_input(name) for block in self.blocks)

    def forward(
        self,
        x: Tensor,
        controls=None,
        state: Optional[State] = None,
        *,
        knobs: Optional[Tensor] = None,
        chain_input: Optional[Tensor] = None,
        **inputs: Tensor,
    ) -> Processed:
        """As :meth:`Processor.forward`. ``chain_input`` (set by an enclosing chain)
        is what controllers with ``source="chain"`` read; by default ``x``. Extra
        audio ``inputs`` (``sidechain``, ``gate``) go to every block that takes them."""
        x, controls, state, knobs, chain_input = _prologue(
            self, x, controls, state, knobs, chain_input, len(self.blocks), inputs=inputs
        )
        params, next_state = {}, {}
        for i, block in enumerate(self.blocks):
            out = _run_block(block, x, i, controls, state, knobs, chain_input, inputs)
            x = out.audio
            params.update(prefixed(out.params, str(i)))
            next_state.update(prefixed(out.state, str(i)))
        return Processed(x, params, next_state)


class Parallel(Processor):
    r"""Blocks side by side on one input, their outputs weighted and summed.

    Each branch ``i`` has a learnable gain ``gain{i}_db`` in [-60, 12] dB
    (default 0 dB: a plain sum). Branches with less latency are delayed to
    line up with the slowest (the delay lines travel in the state), which sets
    ``latency``.

    Args:
        *branches: processors at one sample rate.
        gains_db: initial branch gains, dB (default 0 each).

    Shape:
        ``(batch, channels, samples)`` in; out, the broadcast of the branches' outputs.

    Example:
        >>> from ddsp_kit.processors import Gain, Polarity
        >>> both = Parallel(Gain(48000, 0.0), Polarity(48000))
        >>> both(torch.ones(1, 1, 3)).audio.abs().max().item() < 1e-5   # x - x
        True
    """

    def __init__(self, *branches: Processor, gains_db: Optional[list] = None):
        sample_rate, self.num_knobs = _check_blocks(branches)
        gains_db = [0.0] * len(branches) if gains_db is None else list(gains_db)
        if len(gains_db) != len(branches):
            raise ValueError(f"{len(gains_db)} gains for {len(branches)} branches")
        specs = [Parameter(f"gain{i}_db", "dB", -60.0, 12.0, 0.0) for i in range(len(branches))]
        super().__init__(sample_rate, specs, {spec.name: g for spec, g in zip(specs, gains_db)})
        self.branches = nn.ModuleList(branches)
        self.latency = max(branch.latency for branch in branches)
        self.reads_chain_input = _reads_chain_input(branches)

    def accepts_input(self, name: str) -> bool:
        return any(branch.accepts_input(name) for branch in self.branches)

    def forward(
        self,
        x: Tensor,
        controls=None,
        state: Optional[State] = None,
        *,
        knobs: Optional[Tensor] = None,
        chain_input: Optional[Tensor] = None,
        **inputs: Tensor,
    ) -> Processed:
        """As :meth:`Chain.forward`."""
        aligned = tuple(f"align{i}" for i in range(len(self.branches)))
        x, controls, state, knobs, chain_input = _prologue(
            self, x, controls, state, knobs, chain_input, len(self.branches), aligned, inputs
        )
        outputs, params, branch_state = [], {}, {}
        for i, branch in enumerate(self.branches):
            out = _run_block(branch, x, i, controls, state, knobs, chain_input, inputs)
            outputs.append(out.audio)
            params.update(prefixed(out.params, str(i)))
            branch_state.update(prefixed(out.state, str(i)))
        own_controls = {k: v for k, v in controls.items() if k in self.specs}
        own_state = {k: v for k, v in state.items() if k in aligned or k.startswith("control.")}
        extra = {"knobs": knobs} if self.num_knobs else {}
        mixed = super().forward(x, own_controls, own_state, **extra, **{f"branch{i}": y for i, y in enumerate(outputs)})
        return Processed(mixed.audio, {**mixed.params, **params}, {**mixed.state, **branch_state})

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State, knobs=None, **branches: Tensor) -> Tuple[Tensor, State]:
        # knobs: passed by the base to blocks that read them; the branches already used them.
        total, next_state = 0, {}
        for i, branch in enumerate(self.branches):
            lag = self.latency - branch.latency
            y = branches[f"branch{i}"]
            if lag:
                y, next_state[f"align{i}"] = delay(y, lag, state.get(f"align{i}"))
            total = total + db_to_gain(params[f"gain{i}_db"]) * y
        return total, next_state
