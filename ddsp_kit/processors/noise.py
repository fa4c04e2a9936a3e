r"""Noise generators on the processor protocol: white noise and DDSP filtered noise.

Both write onto a bus, ``y = x + noise``, and are reproducible: the noise is
a function of the seed, the batch row, the channel and the sample's index in
the stream (:mod:`ddsp_kit.functional.noise`), so the same seed gives the
same output however a stream is split into blocks.
"""

from typing import Dict, Optional, Tuple

import torch

from ..functional.noise import NOISE_DISTRIBUTIONS, _integer, filtered_noise, white_noise
from .base import Parameter, Processor, State

Tensor = torch.Tensor


class WhiteNoise(Processor):
    r"""White noise of a learnable level: ``x + amplitude * noise``.

    Args:
        sample_rate: Hz.
        amplitude: initial level in [0, 1]: the peak of ``"uniform"`` noise, the
            standard deviation of ``"gaussian"`` noise.
        seed: an int in [0, 2**32).
        distribution: ``"uniform"`` (in (-1, 1)) or ``"gaussian"``.

    Shape:
        ``(batch, channels, samples)`` in and out; every row and channel has its own stream.

    Example:
        >>> noise = WhiteNoise(48000, amplitude=0.1, seed=3)
        >>> first = noise(torch.zeros(1, 2, 100))
        >>> second = noise(torch.zeros(1, 2, 50), state=first.state)
        >>> torch.equal(second.audio, noise(torch.zeros(1, 2, 150)).audio[..., 100:])
        True
    """

    def __init__(self, sample_rate: float, amplitude: float = 0.1, seed: int = 0, distribution: str = "uniform"):
        if distribution not in NOISE_DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")
        super().__init__(sample_rate, [Parameter("amplitude", "", 0.0, 1.0, 0.1)], {"amplitude": amplitude})
        self.seed = _integer("seed", seed, 0, 1 << 32)
        self.distribution = distribution

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, seed={self.seed}, distribution={self.distribution!r}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        position = int(state["position"]) if "position" in state else 0
        noise = white_noise(x.shape, seed=self.seed, start=position, distribution=self.distribution, dtype=x.dtype, device=x.device)
        return x + (params["amplitude"] * noise).to(x.dtype), {"position": torch.tensor(position + x.shape[-1], device=x.device)}


class FilteredNoise(Processor):
    r"""DDSP filtered noise: uniform noise shaped by a time-varying magnitude response.

    Parameters ``band1 .. band{n_bands}`` are the linear gains at ``n_bands``
    frequencies spaced evenly from 0 Hz to Nyquist, in [1e-4, 1] on a log scale
    (-80 to 0 dB). Each frame of ``hop`` samples of noise is filtered by the
    minimum-phase FIR of ``taps`` taps designed from the gains at the frame's
    first sample, and the filtered frames overlap and add
    (:func:`ddsp_kit.functional.noise.filtered_noise`): causal, without
    latency. Controls are typically frame-rate at the same hop (a frame's
    values then act one frame later; see there). The state carries the
    sample index, the filter of the frame in progress and the overlap tail.

    Args:
        sample_rate: Hz.
        n_bands: number of bands, an int >= 2.
        hop: frame length, samples, an int >= 1.
        taps: FIR length; None: ``2 (n_bands - 1)``, which resolves the band spacing.
        seed: an int in [0, 2**32).
        **initial: initial ``band{k}`` gains by name (0.1, -20 dB, by default).

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> noise = FilteredNoise(16000, n_bands=5, hop=64, band4=1e-3, band5=1e-3)  # a low-pass
        >>> noise(torch.zeros(1, 1, 256)).audio.shape
        torch.Size([1, 1, 256])
    """

    def __init__(self, sample_rate: float, n_bands: int = 65, hop: int = 128, taps: Optional[int] = None, seed: int = 0, **initial: float):
        n_bands, hop = _integer("n_bands", n_bands, 2), _integer("hop", hop, 1)
        taps = 2 * (n_bands - 1) if taps is None else _integer("taps", taps, 1)
        specs = [Parameter(f"band{k}", "", 1e-4, 1.0, 0.1, scale="log") for k in range(1, n_bands + 1)]
        super().__init__(sample_rate, specs, initial)
        self.n_bands, self.hop, self.taps = n_bands, hop, taps
        self.seed = _integer("seed", seed, 0, 1 << 32)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate:g}, n_bands={self.n_bands}, hop={self.hop}, taps={self.taps}, seed={self.seed}"

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        gains = torch.broadcast_tensors(*(params[f"band{k}"] for k in range(1, self.n_bands + 1)))
        noise, next_state = filtered_noise(
            torch.stack(gains, -1), x.shape, hop=self.hop, taps=self.taps, seed=self.seed, state=state or None
        )
        return x + noise.to(x.dtype), next_state
