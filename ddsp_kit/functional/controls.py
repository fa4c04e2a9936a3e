r"""Control signals: frame-rate to sample-rate upsampling.

Controls that a network produces once per frame of ``hop`` samples are
upsampled with a causal linear ramp: over frame ``k`` the value moves from
frame ``k - 1``'s value to frame ``k``'s and reaches it on the frame's last
sample,

.. math::
    u[k\,\mathrm{hop} + j] = c_{k-1} + (c_k - c_{k-1})\,\frac{j + 1}{\mathrm{hop}},
    \quad j = 0 \dots \mathrm{hop} - 1.

This is the parameter smoothing a real-time plugin applies to a parameter that
changes once per block: it needs no look-ahead, and the only state a stream
carries is the last frame's value (:math:`c_{-1}`; the first frame's value
when a stream starts), so block-wise processing equals one pass.
"""

from typing import Optional

import torch

Tensor = torch.Tensor


def upsample_frames(frames: Tensor, num_samples: int, previous: Optional[Tensor] = None) -> Tensor:
    r"""Causal linear-ramp upsampling of frame-rate controls to the sample rate.

    Args:
        frames: ``(..., F)`` control values, one per frame of ``num_samples // F`` samples.
        num_samples: samples covered by the frames, a multiple of ``F``.
        previous: ``(..., 1)`` value of the frame before the first (the last frame
            of the previous block); None starts from the first frame.

    Returns:
        ``(..., num_samples)``.

    Example:
        >>> upsample_frames(torch.tensor([[1.0, 3.0]]), 4, previous=torch.tensor([[0.0]]))
        tensor([[0.5000, 1.0000, 2.0000, 3.0000]])
    """
    count = frames.shape[-1]
    if count == 0 or num_samples % count:
        raise ValueError(f"{count} frames cannot cover {num_samples} samples: the sample count must be a multiple of it")
    hop = num_samples // count
    start = frames[..., :1] if previous is None else previous.to(frames.dtype)
    before = torch.cat([start.expand(*frames.shape[:-1], 1), frames[..., :-1]], -1)
    ramp = torch.arange(1, hop + 1, dtype=frames.dtype, device=frames.device) / hop
    values = before.unsqueeze(-1) + (frames - before).unsqueeze(-1) * ramp
    return values.flatten(-2)
