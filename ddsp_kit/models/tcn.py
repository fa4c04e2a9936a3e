r"""Temporal convolutional network: dilated causal 1-D convolutions with residual connections.

Block ``n`` convolves its input with a causal kernel of ``kernel_size`` taps
spaced ``dilation_growth ** (n % stack_size)`` samples apart, modulates the
result by the knobs (FiLM or TFiLM, :mod:`ddsp_kit.models.conditioning`),
applies ``tanh`` and adds its input (through a 1x1 projection where the
channel count changes). A final 1x1 convolution maps to the output channels.

Streaming: each block keeps the last ``(kernel_size - 1) * dilation`` samples
of its input in the state (zeros at rest), so blocks of any size give the
one-pass output. Without TFiLM the output depends on the last
``receptive_field`` input samples only.
"""

import math
from typing import Optional, Tuple

import torch
from torch import nn

from ..processors.base import State
from .conditioning import _BlackBox, check_int

Tensor = torch.Tensor


class TCN(_BlackBox):
    r"""Dilated causal convolutions, ``tanh`` and residual sums, with FiLM or TFiLM knob conditioning.

    The defaults (5 blocks of 16 channels, kernel 7, dilations 1, 4, 16, 64,
    256) have the shape of NablAFx's TCN-45-S-16: a receptive field of 2047
    samples, 43 ms at 48 kHz. Unlike it, the residual path is the identity
    where the channel count stays the same and the output has no ``tanh``.

    Args:
        sample_rate: Hz, the rate the model is trained at.
        channels: channels of every block, an int >= 1.
        blocks: convolution blocks, an int >= 1.
        kernel_size: taps per convolution, an int >= 1.
        dilation_growth: ratio of the dilations of successive blocks, an int >= 1.
        stack_size: the dilation restarts at 1 every ``stack_size`` blocks
            (None: never).
        in_channels: input channels, an int >= 1.
        out_channels: output channels, an int >= 1.
        num_knobs: control values read, an int >= 0 (0: unconditioned).
        bias: convolutions with a bias.
        modulation: ``"film"`` (per-channel affine from the knobs; nothing
            without knobs), ``"tfilm"`` or ``"none"``, after each convolution.
        film_hidden: width of the FiLM MLP or TFiLM LSTM.
        block_size: TFiLM block, samples.

    Attributes:
        dilations: per block, samples.
        receptive_field: ``1 + (kernel_size - 1) * sum(dilations)`` samples: an
            input sample at ``t`` moves the output in ``[t, t + receptive_field)``
            only. ``math.inf`` with TFiLM, whose LSTM remembers every block.

    Shape:
        ``x``: ``(batch, in_channels, samples)``; ``knobs``: ``(batch or 1,
        num_knobs)`` in [0, 1]; output ``(batch, out_channels, samples)``. The
        state holds ``layer{n}``: ``(batch, channels in, (kernel_size - 1) * dilation)``.

    Example:
        >>> tcn = TCN(48000)
        >>> tcn.dilations, tcn.receptive_field
        ([1, 4, 16, 64, 256], 2047)
        >>> tuple(tcn(torch.zeros(1, 1, 64)).state["layer4"].shape)
        (1, 16, 1536)
    """

    def __init__(
        self,
        sample_rate: float,
        channels: int = 16,
        blocks: int = 5,
        kernel_size: int = 7,
        dilation_growth: int = 4,
        stack_size: Optional[int] = None,
        in_channels: int = 1,
        out_channels: int = 1,
        num_knobs: int = 0,
        bias: bool = True,
        modulation: str = "film",
        film_hidden: int = 16,
        block_size: int = 128,
    ):
        super().__init__(sample_rate, in_channels, out_channels, num_knobs, modulation, film_hidden, block_size)
        check_int("channels", channels, 1)
        check_int("kernel_size", kernel_size, 1)
        check_int("dilation_growth", dilation_growth, 1)
        cycle = check_int("blocks", blocks, 1) if stack_size is None else check_int("stack_size", stack_size, 1)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        self.dilations = [dilation_growth ** (n % cycle) for n in range(blocks)]
        self.spans = [(kernel_size - 1) * dilation for dilation in self.dilations]
        self.convs = nn.ModuleList(
            nn.Conv1d(in_channels if n == 0 else channels, channels, kernel_size, dilation=dilation, bias=bias)
            for n, dilation in enumerate(self.dilations)
        )
        self.project = nn.Conv1d(in_channels, channels, 1, bias=False) if in_channels != channels else None
        self.output = nn.Conv1d(channels, out_channels, 1, bias=bias)
        self.build_modulators(channels, blocks)

    @property
    def receptive_field(self):
        if self.modulation == "tfilm":
            return math.inf
        return 1 + sum(self.spans)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dilations={self.dilations}, receptive_field={self.receptive_field}"

    def run(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Tensor, State]:
        carry: State = {}
        h = x
        for n, (conv, span) in enumerate(zip(self.convs, self.spans)):
            key = f"layer{n}"
            past = state[key] if key in state else h.new_zeros(h.shape[0], h.shape[1], span)
            padded = torch.cat([past, h], -1)
            carry[key] = padded[..., padded.shape[-1] - span :]
            z = torch.tanh(self.modulate(n, conv(padded), knobs, state, carry))
            h = z + (self.project(h) if n == 0 and self.project is not None else h)
        return self.output(h), carry
