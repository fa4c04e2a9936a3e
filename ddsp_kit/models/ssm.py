r"""Diagonal state-space models (S4D) with a convolution mode and a recurrent mode.

Each channel of an :class:`S4DLayer` is a sum of ``state_size`` complex
one-pole modes, :math:`h_n[t] = \bar A_n h_n[t-1] + \bar C_n u[t]`,
:math:`y[t] = 2\,\mathrm{Re} \sum_n h_n[t] + D\,u[t]`, discretised with a zero-order
hold of step :math:`\Delta`: :math:`\bar A_n = e^{\Delta A_n}` and
:math:`\bar C_n = C_n (e^{\Delta A_n} - 1) / A_n`. The input matrix ``B`` of
S4D is fixed to ones: per single-input single-output channel only the
product :math:`B_n C_n` matters, so a learnable ``B`` would be redundant.
:math:`A_n = -e^{\text{log\_decay}} + i\,\text{frequency}` has a negative real
part by construction (every mode decays); S4D-Lin initialisation,
:math:`A_n = -1/2 + i \pi n`, and :math:`\Delta` log-uniform in
``[dt_min, dt_max]``.

The same filter runs two ways:

convolution (training, from rest)
    the impulse response :math:`K[l] = 2\,\mathrm{Re} \sum_n \bar C_n \bar A_n^l`
    from the Vandermonde matrix :math:`e^{\Delta A_n l}`, applied by FFT; the final
    state is the Vandermonde contraction of the input.
recurrent (streaming, from a state)
    the complex recurrence on :func:`ddsp_kit.kernels.linear_recurrence`.

Both start from a float64 discretisation, and the recurrence runs in
complex128 for float32 models too (see :meth:`S4DLayer.discretize`), so they
agree to rounding: about 1e-6 in float32, 1e-14 in float64.
"""

import math
from typing import Optional, Tuple

import torch
from torch import nn

from ..kernels import linear_recurrence
from ..processors.base import State
from .conditioning import _BlackBox, check_int

Tensor = torch.Tensor


class S4DLayer(nn.Module):
    r"""``channels`` independent S4D filters of ``state_size`` complex modes each.

    Args:
        channels: independent filters, an int >= 1.
        state_size: complex modes per filter, an int >= 1 (``2 * state_size``
            real states).
        dt_min: smallest initial step :math:`\Delta`, > 0.
        dt_max: largest initial step, >= ``dt_min``.

    Learnable: ``log_dt`` ``(channels,)``, ``log_decay`` and ``frequency``
    ``(channels, state_size)`` (:math:`A`), ``c`` ``(channels, state_size, 2)``
    (:math:`C` as real and imaginary parts) and ``d`` ``(channels,)``:
    ``channels * (4 * state_size + 2)`` numbers.

    Shape:
        ``u``: ``(batch, channels, samples)``; ``state``: None (convolution
        mode from rest) or ``(batch, channels, state_size, 2)`` (real and
        imaginary parts; recurrent mode); returns ``y`` like ``u`` and the final state.

    Example:
        >>> layer = S4DLayer(channels=2, state_size=3).double()
        >>> u = torch.randn(1, 2, 50, dtype=torch.float64)
        >>> y, final = layer(u)
        >>> y_rec, final_rec = layer(u, torch.zeros_like(final))
        >>> bool(torch.allclose(y, y_rec, atol=1e-10)), tuple(final.shape)
        (True, (1, 2, 3, 2))
    """

    def __init__(self, channels: int, state_size: int = 32, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        self.channels = check_int("channels", channels, 1)
        self.state_size = check_int("state_size", state_size, 1)
        if not (isinstance(dt_min, (int, float)) and isinstance(dt_max, (int, float)) and 0 < dt_min <= dt_max):
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}")
        self.log_dt = nn.Parameter(torch.empty(channels).uniform_(math.log(dt_min), math.log(dt_max)))
        self.log_decay = nn.Parameter(torch.full((channels, state_size), math.log(0.5)))
        self.frequency = nn.Parameter(math.pi * torch.arange(state_size, dtype=torch.float32).repeat(channels, 1))
        self.c = nn.Parameter(torch.randn(channels, state_size, 2) * math.sqrt(0.5))
        self.d = nn.Parameter(torch.randn(channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, state_size={self.state_size}"

    def discretize(self) -> Tuple[Tensor, Tensor]:
        r""":math:`\Delta A` and :math:`\bar C`, ``(channels, state_size)`` complex128 whatever the weights' dtype.

        Slow modes have :math:`|\bar A|` within 1e-3 of 1 (``1 - 5e-4`` at
        initialisation): a float32 pole raised to the power ``l`` carries ``l``
        times its rounding error, differently in the recurrence and in the
        Vandermonde matrix, and the two modes would drift apart by about 1e-5.
        """
        a = torch.complex(-torch.exp(self.log_decay.double()), self.frequency.double())
        dta = a * torch.exp(self.log_dt.double()).unsqueeze(-1)
        return dta, torch.view_as_complex(self.c.double()) * torch.expm1(dta) / a

    def kernel(self, length: int) -> Tensor:
        """The impulse response without the direct term ``d``, ``(channels, length)`` in float64."""
        dta, weights = self.discretize()
        return _impulse_response(weights, _powers(dta, length))

    def forward(self, u: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        dta, weights = self.discretize()
        if state is None:
            samples = u.shape[-1]
            complex_dtype = torch.complex64 if u.dtype == torch.float32 else torch.complex128
            powers = _powers(dta, samples).to(complex_dtype)
            weights = weights.to(complex_dtype)
            kernel = _impulse_response(weights, powers)
            size = 2 * samples  # linear, not circular, convolution
            y = torch.fft.irfft(torch.fft.rfft(u, size) * torch.fft.rfft(kernel, size), size)[..., :samples]
            # h_n[T-1] = C_n sum_t A_n^(T-1-t) u[t]
            final = weights * torch.einsum("bct,cnt->bcn", u.flip(-1).to(complex_dtype), powers)
        else:
            poles = torch.exp(dta).unsqueeze(-1)
            h = linear_recurrence(weights.unsqueeze(-1) * u.unsqueeze(-2), poles, torch.view_as_complex(state))
            y = 2 * h.real.sum(-2).to(u.dtype)
            final = h[..., -1]
        return y + self.d.unsqueeze(-1) * u, torch.view_as_real(final).to(u.dtype)


def _impulse_response(weights: Tensor, powers: Tensor) -> Tensor:
    """``2 Re sum_n weights_n powers_n[l]``, ``(channels, length)``."""
    return 2 * torch.einsum("cn,cnl->cl", weights, powers).real


def _powers(dta: Tensor, length: int) -> Tensor:
    """``exp(dta * l)`` for ``l < length``, ``(*dta.shape, length)``.

    The outer product of two tables of about ``sqrt(length)`` exponentials:
    complex ``exp`` costs far more than a product on CPU.
    """
    step = math.isqrt(max(length - 1, 0)) + 1
    fine = torch.exp(dta.unsqueeze(-1) * torch.arange(step, device=dta.device))
    coarse = torch.exp(dta.unsqueeze(-1) * torch.arange(0, length, step, device=dta.device))
    return (coarse.unsqueeze(-1) * fine.unsqueeze(-2)).flatten(-2)[..., :length]


class S4DModel(_BlackBox):
    r"""Stacked S4D layers with channel mixing, ``tanh`` and residual sums, with knob conditioning.

    A 1x1 convolution expands the input to ``channels``; every layer computes
    ``h + tanh(modulate(S4D(tanh(mix(h)))))`` with ``mix`` a 1x1 convolution
    across channels and ``modulate`` FiLM or TFiLM; a 1x1 convolution maps to
    the output channels. The defaults (8 layers of 16 channels, 32 modes)
    have the shape of NablAFx's S4-L-16, without its per-channel residual
    gains and output ``tanh``.

    ``forward`` without a state runs the convolution mode; with a state (the
    previous block's, or :meth:`initial_state` for rest) the recurrent mode.
    Both give the same output, and the convolution mode returns the state to
    continue recurrently. Memory is unbounded (decaying modes), so
    ``receptive_field`` is ``math.inf``.

    Args:
        sample_rate: Hz, the rate the model is trained at.
        channels: width of every layer, an int >= 1.
        layers: S4D layers, an int >= 1.
        state_size: complex modes per channel, an int >= 1.
        in_channels: input channels, an int >= 1.
        out_channels: output channels, an int >= 1.
        num_knobs: control values read, an int >= 0 (0: unconditioned).
        dt_min: smallest initial step of the discretisation (in samples), > 0.
        dt_max: largest initial step, >= ``dt_min``.
        modulation: ``"film"`` (per-channel affine from the knobs; nothing
            without knobs), ``"tfilm"`` or ``"none"``, after each S4D filter.
        film_hidden: width of the FiLM MLP or TFiLM LSTM.
        block_size: TFiLM block, samples.

    Shape:
        ``x``: ``(batch, in_channels, samples)``; ``knobs``: ``(batch or 1,
        num_knobs)`` in [0, 1]; output ``(batch, out_channels, samples)``. The
        state holds ``layer{n}``: ``(batch, channels, state_size, 2)``.

    Example:
        >>> model = S4DModel(48000, channels=4, layers=2, state_size=4).double()
        >>> x = torch.randn(1, 1, 64, dtype=torch.float64)
        >>> convolution = model(x).audio
        >>> recurrent = model(x, state=model.initial_state(batch=1)).audio
        >>> bool((convolution - recurrent).abs().max() < 1e-10)
        True
    """

    receptive_field = math.inf

    def __init__(
        self,
        sample_rate: float,
        channels: int = 16,
        layers: int = 8,
        state_size: int = 32,
        in_channels: int = 1,
        out_channels: int = 1,
        num_knobs: int = 0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        modulation: str = "film",
        film_hidden: int = 16,
        block_size: int = 128,
    ):
        super().__init__(sample_rate, in_channels, out_channels, num_knobs, modulation, film_hidden, block_size)
        self.channels = check_int("channels", channels, 1)
        self.state_size = check_int("state_size", state_size, 1)
        check_int("layers", layers, 1)
        self.expand = nn.Conv1d(in_channels, channels, 1)
        self.mixers = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in range(layers))
        self.ssms = nn.ModuleList(S4DLayer(channels, state_size, dt_min, dt_max) for _ in range(layers))
        self.contract = nn.Conv1d(channels, out_channels, 1)
        self.build_modulators(channels, layers)

    def extra_repr(self) -> str:
        size = f"layers={len(self.ssms)}, channels={self.channels}, state_size={self.state_size}"
        return f"{super().extra_repr()}, {size}"

    def initial_state(self, batch: int = 1) -> State:
        """The state at rest for ``batch`` signals: passed to ``forward``, it selects the recurrent mode."""
        zeros = self.expand.weight.new_zeros(check_int("batch", batch, 1), self.channels, self.state_size, 2)
        return {f"layer{n}": zeros for n in range(len(self.ssms))}

    def run(self, x: Tensor, knobs: Optional[Tensor], state: State) -> Tuple[Tensor, State]:
        carry: State = {}
        h = self.expand(x)
        for n, (mix, ssm) in enumerate(zip(self.mixers, self.ssms)):
            key = f"layer{n}"
            z, carry[key] = ssm(torch.tanh(mix(h)), state.get(key))
            h = h + torch.tanh(self.modulate(n, z, knobs, state, carry))
        return self.contract(h), carry
