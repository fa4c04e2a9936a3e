r"""Knob conditioning of the black-box models: FiLM and temporal FiLM (TFiLM).

Both modulate a feature sequence ``(batch, channels, samples)`` channel by
channel, :math:`y = x\,(1 + \gamma) + \beta`, so that a modulator whose
network outputs zero is the identity:

:class:`FiLM`
    :math:`\gamma, \beta` from an MLP on the knobs, constant in time.
:class:`TFiLM`
    :math:`\gamma, \beta` per block of ``block_size`` samples from an LSTM that
    reads each block's max-pooled features (and the knobs). It is causal: block
    ``k`` is modulated by the LSTM's output after blocks ``< k`` (block 0 by
    its initial state), so it streams; the state carries the pooled partial
    block, the number of samples in it and the LSTM's hidden and cell states.

Both are called as ``modulator(x, knobs, state) -> (y, state)`` so that a
model applies either alike. :class:`_BlackBox` is the plumbing the models of
this package share: channel counts, knobs, the ``modulation`` option and
computing in the weights' dtype.
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..processors.base import Processor, State

Tensor = torch.Tensor

MODULATIONS = ("none", "film", "tfilm")


def check_int(name: str, value, minimum: int) -> int:
    """``value`` checked to be an int (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _affine(x: Tensor, gamma_beta: Tensor) -> Tensor:
    """``x (1 + gamma) + beta`` with ``gamma_beta`` stacking both along the channels."""
    gamma, beta = gamma_beta.chunk(2, dim=1)
    return x * (1 + gamma) + beta


class FiLM(nn.Module):
    r"""Feature-wise linear modulation by the knobs: :math:`y = x\,(1 + \gamma(k)) + \beta(k)`.

    :math:`(\gamma, \beta)` per channel come from a two-layer MLP
    (``Linear -> tanh -> Linear``) on the knobs; a smooth activation keeps
    gradient checks away from kinks.

    Args:
        channels: features modulated, an int >= 1.
        num_knobs: control values read, an int >= 1.
        hidden: width of the MLP's hidden layer, an int >= 1.

    Shape:
        ``x``: ``(batch, channels, samples)``; ``knobs``: ``(batch or 1, num_knobs)``
        in [0, 1]; ``y`` like ``x``. Stateless: the returned state is ``{}``.

    Example:
        >>> film = FiLM(channels=4, num_knobs=2)
        >>> y, state = film(torch.ones(3, 4, 10), torch.full((1, 2), 0.5), {})
        >>> tuple(y.shape), state
        ((3, 4, 10), {})
    """

    def __init__(self, channels: int, num_knobs: int, hidden: int = 16):
        super().__init__()
        self.channels = check_int("channels", channels, 1)
        self.net = nn.Sequential(
            nn.Linear(check_int("num_knobs", num_knobs, 1), check_int("hidden", hidden, 1)),
            nn.Tanh(),
            nn.Linear(hidden, 2 * channels),
        )

    def forward(self, x: Tensor, knobs: Tensor, state: State) -> Tuple[Tensor, State]:
        return _affine(x, self.net(knobs).unsqueeze(-1)), {}


class TFiLM(nn.Module):
    r"""Temporal FiLM: an affine modulation per block of samples, from an LSTM over past blocks.

    Each block of ``block_size`` samples is max-pooled per channel; the LSTM
    reads the pooled features of every completed block (with the knobs
    appended) and a linear layer maps its output to :math:`(\gamma, \beta)` for
    the *next* block. Block 0 is modulated from the zero initial state (the
    linear layer's bias). Being causal, a block of any size continues where
    the previous one stopped: the state holds ``pool`` (max of the partial
    block so far, ``(batch, channels)``), ``count`` (its samples, ``(1,)``
    int64) and the LSTM's ``h`` and ``c`` (``(1, batch, hidden)``).

    Args:
        channels: features modulated, an int >= 1.
        num_knobs: control values appended to the pooled features, an int >= 0
            (0: the modulation follows the signal alone).
        block_size: samples per modulation block, an int >= 1.
        hidden: LSTM width, an int >= 1.

    Shape:
        ``x``: ``(batch, channels, samples)``; ``knobs``: ``(batch or 1,
        num_knobs)`` or None when ``num_knobs = 0``; ``y`` like ``x``.

    Example:
        >>> tfilm = TFiLM(channels=2, block_size=4)
        >>> y, state = tfilm(torch.randn(1, 2, 10), None, {})
        >>> tuple(y.shape), int(state["count"])
        ((1, 2, 10), 2)
    """

    def __init__(self, channels: int, num_knobs: int = 0, block_size: int = 128, hidden: int = 16):
        super().__init__()
        self.channels = check_int("channels", channels, 1)
        self.num_knobs = check_int("num_knobs", num_knobs, 0)
        self.block_size = check_int("block_size", block_size, 1)
        self.lstm = nn.LSTM(channels + num_knobs, check_int("hidden", hidden, 1), batch_first=True)
        self.affine = nn.Linear(hidden, 2 * channels)

    def forward(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Tensor, State]:
        if self.num_knobs and knobs is None:
            raise ValueError(f"TFiLM needs knobs: a (batch or 1, {self.num_knobs}) tensor")
        batch, channels, samples = x.shape
        size = self.block_size
        if "count" in state:
            start, hidden = int(state["count"]), (state["h"], state["c"])
        else:
            start = 0
            zeros = x.new_zeros(1, batch, self.lstm.hidden_size)
            hidden = (zeros, zeros)
        total = start + samples
        done, touched = total // size, -(-total // size)  # blocks completed, blocks touched
        # Align the block grid with the carried partial block; -inf padding never wins a max.
        padded = F.pad(x, (start, touched * size - total), value=-math.inf)
        pooled = padded.reshape(batch, channels, touched, size).amax(-1)
        if start:
            pooled = torch.cat([torch.maximum(pooled[..., :1], state["pool"].unsqueeze(-1)), pooled[..., 1:]], -1)
        outputs = hidden[0][-1].unsqueeze(1)  # the LSTM output before the first block touched
        if done:
            features = pooled[..., :done].transpose(1, 2)
            if self.num_knobs:
                features = torch.cat([features, knobs.unsqueeze(1).expand(batch, done, -1)], -1)
            sequence, hidden = self.lstm(features, hidden)
            outputs = torch.cat([outputs, sequence[:, : touched - 1]], 1)
        gamma_beta = self.affine(outputs).transpose(1, 2).repeat_interleave(size, -1)[..., start:total]
        count = total % size
        pool = pooled[..., done] if count else torch.zeros_like(pooled[..., 0])
        return _affine(x, gamma_beta), {
            "pool": pool,
            "count": torch.tensor([count], device=x.device),
            "h": hidden[0],
            "c": hidden[1],
        }


class _BlackBox(Processor):
    """Shared plumbing of the black-box models (not registered: the name starts with ``_``).

    Validates and stores the channel counts, knobs and modulation options;
    ``process`` checks the input channels and runs ``run(x, knobs, state)``
    in the weights' dtype, returning audio in the input's dtype.
    Subclasses build their modulators with :meth:`build_modulators` and apply
    them with :meth:`modulate`.
    """

    def __init__(
        self,
        sample_rate: float,
        in_channels: int,
        out_channels: int,
        num_knobs: int,
        modulation: str,
        film_hidden: int,
        block_size: int,
        knob_input: bool = False,
    ):
        super().__init__(sample_rate, [])
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.num_knobs = check_int("num_knobs", num_knobs, 0)
        self.film_hidden = check_int("film_hidden", film_hidden, 1)
        self.block_size = check_int("block_size", block_size, 1)
        if modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {modulation!r}")
        self.modulation = modulation
        if self.num_knobs and not knob_input and modulation == "none":
            raise ValueError(f"num_knobs={num_knobs} but modulation='none': the knobs would reach nothing")
        self.modulators = nn.ModuleList()

    def build_modulators(self, channels: int, count: int) -> None:
        """``count`` modulators of ``channels`` features for the ``modulation`` option
        (none for ``"none"``, or for ``"film"`` without knobs)."""
        for _ in range(count):
            if self.modulation == "tfilm":
                self.modulators.append(TFiLM(channels, self.num_knobs, self.block_size, self.film_hidden))
            elif self.modulation == "film" and self.num_knobs:
                self.modulators.append(FiLM(channels, self.num_knobs, self.film_hidden))

    def modulate(self, index: int, x: Tensor, knobs: Optional[Tensor], state: State, carry: State) -> Tensor:
        """Modulator ``index`` applied to ``x``: its state is read from ``state`` and written into ``carry``."""
        if not self.modulators:
            return x
        prefix = f"modulator{index}."
        own = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        y, own = self.modulators[index](x, knobs, own)
        carry.update({prefix + key: value for key, value in own.items()})
        return y

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate:g}, in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"num_knobs={self.num_knobs}, modulation={self.modulation!r}"
        )

    def run(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Tensor, State]:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def process(self, x: Tensor, params, state: State, knobs: Optional[Tensor] = None) -> Tuple[Tensor, State]:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes {self.in_channels} input channel(s), got x of shape {tuple(x.shape)}"
            )
        # Computed in the weights' dtype, so that float64 audio runs through a float32 model.
        dtype = next(self.parameters()).dtype
        y, state = self.run(x.to(dtype), None if knobs is None else knobs.to(dtype), state)
        return y.to(x.dtype), state
