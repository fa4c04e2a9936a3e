r"""Sample-wise recurrent black-box model (LSTM or GRU), the classic amp and pedal emulator.

Every sample, the input channels (and the knobs, when concatenated) enter a
recurrent network whose hidden vector a 1x1 linear layer maps to the output
channels, optionally added to the input (``residual``: the network learns the
difference from the dry signal). Knobs reach the model by concatenation to the
input (``concat_knobs``) and/or by a FiLM or TFiLM modulation of the hidden
sequence (:mod:`ddsp_kit.models.conditioning`).
"""

import math
from typing import Optional, Tuple

import torch
from torch import nn

from ..processors.base import State
from .conditioning import _BlackBox, check_int

Tensor = torch.Tensor

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentModel(_BlackBox):
    r"""LSTM or GRU over the samples, a linear output layer, optional residual and knob conditioning.

    Memory is unbounded (a recurrent state), so ``receptive_field`` is
    ``math.inf``. The state holds ``h`` (and ``c`` for the LSTM), each
    ``(layers, batch, hidden)``, plus the TFiLM state when ``modulation="tfilm"``;
    blocks of any size continue exactly where the previous one stopped.

    With ``hidden=32`` (or 96), one layer, mono and no knobs it has the shape
    of NablAFx's LSTM-32 (LSTM-96) black box, without its output ``tanh``.

    Args:
        sample_rate: Hz, the rate the model is trained at.
        hidden: width of the recurrent state, an int >= 1.
        cell: ``"lstm"`` or ``"gru"``.
        layers: stacked recurrent layers, an int >= 1.
        in_channels: input channels, an int >= 1.
        out_channels: output channels, an int >= 1 (equal to ``in_channels`` with ``residual``).
        num_knobs: control values read, an int >= 0 (0: unconditioned).
        residual: add the input to the output.
        concat_knobs: append the knobs to the input at every sample.
        modulation: ``"none"``, ``"film"`` or ``"tfilm"`` applied to the hidden
            sequence before the output layer (see :mod:`ddsp_kit.models.conditioning`).
        film_hidden: width of the FiLM MLP or TFiLM LSTM.
        block_size: TFiLM block, samples.

    Shape:
        ``x``: ``(batch, in_channels, samples)``; ``knobs``: ``(batch or 1,
        num_knobs)`` in [0, 1]; output ``(batch, out_channels, samples)``.

    Example:
        >>> model = RecurrentModel(48000, hidden=8, num_knobs=1)
        >>> result = model(torch.zeros(2, 1, 100), knobs=torch.tensor([[0.5]]))
        >>> tuple(result.audio.shape), tuple(result.state["h"].shape)
        ((2, 1, 100), (1, 2, 8))
        >>> sum(p.numel() for p in RecurrentModel(48000, hidden=32).parameters())
        4513
    """

    receptive_field = math.inf

    def __init__(
        self,
        sample_rate: float,
        hidden: int = 32,
        cell: str = "lstm",
        layers: int = 1,
        in_channels: int = 1,
        out_channels: int = 1,
        num_knobs: int = 0,
        residual: bool = False,
        concat_knobs: bool = True,
        modulation: str = "none",
        film_hidden: int = 16,
        block_size: int = 128,
    ):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, flag in (("residual", residual), ("concat_knobs", concat_knobs)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        super().__init__(
            sample_rate, in_channels, out_channels, num_knobs, modulation, film_hidden, block_size,
            knob_input=concat_knobs,
        )
        if residual and in_channels != out_channels:
            raise ValueError(f"residual needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self.cell, self.residual = cell, residual
        self.concat_knobs = concat_knobs and self.num_knobs > 0
        inputs = in_channels + (num_knobs if self.concat_knobs else 0)
        self.rnn = CELLS[cell](inputs, check_int("hidden", hidden, 1), check_int("layers", layers, 1), batch_first=True)
        self.output = nn.Conv1d(hidden, out_channels, 1)
        self.build_modulators(hidden, 1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", cell={self.cell!r}, residual={self.residual}"

    def run(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Tensor, State]:
        batch, _, samples = x.shape
        u = x.transpose(1, 2)
        if self.concat_knobs:
            u = torch.cat([u, knobs.unsqueeze(1).expand(batch, samples, -1)], -1)
        if "h" not in state:
            hidden = None
        elif self.cell == "lstm":
            hidden = (state["h"], state["c"])
        else:
            hidden = state["h"]
        sequence, hidden = self.rnn(u, hidden)
        carry = {"h": hidden[0], "c": hidden[1]} if self.cell == "lstm" else {"h": hidden}
        y = self.output(self.modulate(0, sequence.transpose(1, 2), knobs, state, carry))
        return (y + x if self.residual else y), carry
