r"""Utility operations on audio: gain, offset, polarity, dry/wet mix, integer delay, pan.

All are differentiable in their parameters, which broadcast against the audio
(scalars, ``(batch or 1, channels or 1, 1)`` or per-sample ``(..., samples)``).

The pan law is constant power. With :math:`\theta = (p + 1)\,\pi / 4` for a
position :math:`p \in [-1, 1]`:

* mono input becomes stereo with gains :math:`(\cos\theta, \sin\theta)`, whose
  squares sum to 1 at every position (-3 dB per side at the centre);
* stereo input is balanced with gains :math:`\sqrt{2}\,(\cos\theta, \sin\theta)`:
  unity at the centre, squares summing to 2 at every position, so the total
  power of uncorrelated channels of equal level stays constant.
"""

import math
from typing import Optional, Tuple

import torch

Tensor = torch.Tensor


def db_to_gain(gain_db) -> Tensor:
    r"""Amplitude ratio of a level in dB, :math:`10^{g/20}`.

    Args:
        gain_db: level, dB (tensor or number).

    Example:
        >>> db_to_gain(torch.tensor([0.0, -20.0]))
        tensor([1.0000, 0.1000])
    """
    return 10 ** (torch.as_tensor(gain_db) / 20)


def gain(x: Tensor, gain_db) -> Tensor:
    r"""Scale ``x`` by a gain in dB.

    Args:
        x: audio, any shape.
        gain_db: dB, broadcastable against ``x``.

    Example:
        >>> gain(torch.ones(1, 1, 2), 6.0206).round(decimals=4)
        tensor([[[2., 2.]]])
    """
    return x * db_to_gain(gain_db).to(x.dtype)


def dc_offset(x: Tensor, offset) -> Tensor:
    r"""Add a constant (or time-varying) offset.

    Args:
        x: audio, any shape.
        offset: linear amplitude (full scale is 1), broadcastable against ``x``.

    Example:
        >>> dc_offset(torch.zeros(1, 1, 2), 0.25)
        tensor([[[0.2500, 0.2500]]])
    """
    return x + offset


def polarity(x: Tensor, invert: bool = True) -> Tensor:
    r"""Invert the polarity of ``x`` (multiply by -1), or pass it when ``invert`` is False.

    Args:
        x: audio, any shape.
        invert: a bool.

    Example:
        >>> polarity(torch.tensor([0.5, -1.0]))
        tensor([-0.5000,  1.0000])
    """
    if not isinstance(invert, bool):
        raise TypeError(f"invert must be a bool, got {type(invert).__name__}")
    return -x if invert else x


def dry_wet(dry: Tensor, wet: Tensor, mix) -> Tensor:
    r"""Linear crossfade :math:`(1 - m)\,\mathrm{dry} + m\,\mathrm{wet}`.

    A linear (not constant-power) law: dry and wet versions of one signal are
    correlated, and for them it keeps the level when the effect is transparent.

    Args:
        dry: unprocessed audio.
        wet: processed audio, broadcastable against ``dry``.
        mix: wet proportion in [0, 1], broadcastable against both.

    Example:
        >>> dry_wet(torch.zeros(2), torch.ones(2), 0.25)
        tensor([0.2500, 0.2500])
    """
    return dry + mix * (wet - dry)


def delay(x: Tensor, samples: int, history: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Delay by a whole number of samples, streaming.

    Args:
        x: ``(..., time)`` audio.
        samples: delay in samples, an int >= 0.
        history: ``(..., samples)`` last samples of the previous block (the
            returned history); None starts from silence.

    Returns:
        ``(y, history)``: the delayed block, same shape as ``x``, and the
        history to pass with the next block.

    Example:
        >>> y, h = delay(torch.tensor([1.0, 2.0, 3.0]), 2)
        >>> y, delay(torch.tensor([4.0]), 2, h)[0]
        (tensor([0., 0., 1.]), tensor([2.]))
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples must be an int >= 0, got {samples!r}")
    if history is None:
        history = x.new_zeros(*x.shape[:-1], samples)
    elif history.shape != (*x.shape[:-1], samples):
        raise ValueError(f"history must have shape {(*x.shape[:-1], samples)} for x {tuple(x.shape)}, got {tuple(history.shape)}")
    padded = torch.cat([history.to(x.dtype), x], -1)
    length = x.shape[-1]
    return padded[..., :length], padded[..., length:]


def pan(x: Tensor, position) -> Tensor:
    r"""Constant-power pan (mono input) or balance (stereo input).

    Args:
        x: ``(batch, channels, time)`` audio with 1 or 2 channels.
        position: -1 (left) to 1 (right), broadcastable against
            ``(batch, 1, time)``: one position for both output channels.

    Returns:
        ``(batch, 2, time)``: see the module docstring for the gains.

    Example:
        >>> pan(torch.ones(1, 1, 1), 0.0).squeeze() ** 2  # mono at the centre: -3 dB per side
        tensor([0.5000, 0.5000])
    """
    if x.dim() != 3 or x.shape[1] not in (1, 2):
        raise ValueError(f"pan needs (batch, 1 or 2 channels, time) audio, got shape {tuple(x.shape)}")
    position = torch.as_tensor(position, dtype=x.dtype, device=x.device)
    position = position.reshape((1,) * (3 - position.dim()) + tuple(position.shape))
    if position.dim() != 3 or position.shape[1] != 1:
        raise ValueError(f"position must broadcast against (batch, 1, time), got shape {tuple(position.shape)}")
    theta = (position + 1) * (math.pi / 4)
    gains = torch.cat([torch.cos(theta), torch.sin(theta)], 1)
    return x * (gains * math.sqrt(2) if x.shape[1] == 2 else gains)
