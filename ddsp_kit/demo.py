"""End-to-end check of the kernels: recover a resonant filter from audio.

White noise goes through a known resonant biquad; a biquad parameterised by a
pole inside the unit circle (stable by construction) is then fitted to that
input/output pair by gradient descent through the recursive filter. This is
the smallest version of the project's main job (fit a model of a device to
recordings) and exercises forward, backward and the backend dispatch.
"""

import math
import time
from dataclasses import dataclass

import torch

from .functional import biquad


@dataclass
class DemoResult:
    """Outcome of :func:`fit_resonator` (frequencies in Hz)."""

    target_hz: float
    target_radius: float
    fitted_hz: float
    fitted_radius: float
    initial_loss: float
    final_loss: float
    seconds: float
    steps: int


def _pole(log_decay: torch.Tensor, angle_logit: torch.Tensor) -> torch.Tensor:
    """Pole ``exp(-exp(log_decay) + 1j * pi * sigmoid(angle_logit))``: its radius is
    below 1 and its angle in (0, pi) for any real parameters (stable by construction);
    the log-decay makes narrow and wide resonances equally easy to move."""
    return torch.polar(torch.exp(-log_decay.exp()), math.pi * torch.sigmoid(angle_logit))


def fit_resonator(
    sample_rate: int = 48000,
    target_hz: float = 2500.0,
    target_radius: float = 0.995,
    initial_hz: float = 1800.0,
    seconds: float = 0.5,
    steps: int = 400,
    seed: int = 0,
    backend=None,
) -> DemoResult:
    """Fit a two-pole resonator to noise filtered by a known one.

    Args:
        sample_rate: in Hz.
        target_hz: resonance of the target filter, in Hz.
        target_radius: its pole radius, in (0, 1).
        initial_hz: where the fitted resonance starts, in Hz.
        seconds: length of the noise excerpt, in s.
        steps: Adam steps.
        seed: noise seed.
        backend: kernel backend, None for automatic.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, int(seconds * sample_rate), generator=generator)
    target_pole = torch.polar(torch.tensor([target_radius]), torch.tensor([2 * math.pi * target_hz / sample_rate]))
    with torch.no_grad():
        y = biquad(x, target_pole, gain=1 - target_radius, backend=backend)
    log_decay = torch.tensor([math.log(-math.log(0.98))], requires_grad=True)
    angle_logit = torch.logit(torch.tensor([2 * initial_hz / sample_rate])).requires_grad_()
    with torch.no_grad():  # start at the target's level so that the fit is about shape
        unit = biquad(x, _pole(log_decay, angle_logit), backend=backend)
    log_gain = (0.5 * torch.log(torch.mean(y**2) / torch.mean(unit**2))).reshape(1).requires_grad_()
    optimiser = torch.optim.Adam([log_decay, angle_logit, log_gain], lr=0.05)
    start = time.perf_counter()
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        y_hat = biquad(x, _pole(log_decay, angle_logit), gain=log_gain.exp(), backend=backend)
        loss = torch.mean((y_hat - y) ** 2) / torch.mean(y**2)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    pole = _pole(log_decay, angle_logit).detach()
    return DemoResult(
        target_hz=target_hz,
        target_radius=target_radius,
        fitted_hz=float(pole.angle()) * sample_rate / (2 * math.pi),
        fitted_radius=float(pole.abs()),
        initial_loss=losses[0],
        final_loss=losses[-1],
        seconds=time.perf_counter() - start,
        steps=steps,
    )
