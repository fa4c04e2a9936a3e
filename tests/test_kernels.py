"""The recurrence kernels against per-sample float64 references, across backends.

Tolerances: float64 results must match a Python per-sample loop to 1e-12
relative (only summation-order rounding differs); float32 to 1e-5 relative
(float32 storage of inputs/outputs; state is double on numba, chunked scans
add a few roundings on torch).
"""

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from ddsp_kit.kernels import (
    BACKENDS,
    allpole_recurrence,
    available_backends,
    ballistics,
    linear_recurrence,
    matrix_recurrence,
    modal_iir,
    modal_section,
)

BACKEND_NAMES = available_backends()


def reference_scan(x, a, h0):
    """Per-sample loop in complex128; a broadcast to x."""
    x = np.asarray(x, dtype=np.complex128)
    a = np.broadcast_to(np.asarray(a, dtype=np.complex128), x.shape)
    h = np.broadcast_to(np.asarray(h0, dtype=np.complex128), x.shape[:-1]).copy()
    out = np.empty_like(x)
    for t in range(x.shape[-1]):
        h = a[..., t] * h + x[..., t]
        out[..., t] = h
    return out


def reference_allpole(x, a, zi):
    x = np.asarray(x, dtype=np.float64)
    order = a.shape[-1]
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), (*x.shape, order))
    hist = np.broadcast_to(np.asarray(zi, dtype=np.float64), (*x.shape[:-1], order)).copy()
    out = np.empty_like(x)
    for t in range(x.shape[-1]):
        y = x[..., t] - np.sum(a[..., t, :] * hist, -1)
        hist = np.concatenate([y[..., None], hist[..., :-1]], -1)
        out[..., t] = y
    return out


def random_coefficients(shape, dtype, generator, radius=0.95):
    r = radius * torch.rand(shape, generator=generator, dtype=torch.float64)
    if dtype.is_complex:
        return torch.polar(r, 2 * np.pi * torch.rand(shape, generator=generator, dtype=torch.float64)).to(dtype)
    return (r * torch.sign(torch.rand(shape, generator=generator, dtype=torch.float64) - 0.3)).to(dtype)


def random_signal(shape, dtype, generator):
    return torch.randn(shape, generator=generator, dtype=dtype)


def rel_error(y, ref):
    y = y.detach().numpy()
    return np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30)


TOL = {torch.float32: 1e-5, torch.complex64: 1e-5, torch.float64: 1e-12, torch.complex128: 1e-12}


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", list(TOL))
@pytest.mark.parametrize("a_shape", [(3, 2, 700), (3, 2, 1), (1, 2, 700), (2, 1), (1,)])
def test_linear_recurrence_matches_loop(backend, dtype, a_shape):
    g = torch.Generator().manual_seed(0)
    x = random_signal((3, 2, 700), dtype, g)
    a = random_coefficients(a_shape, dtype, g)
    h0 = random_signal((3, 2), dtype, g)
    h = linear_recurrence(x, a, h0, backend=backend)
    assert h.shape == x.shape and h.dtype == dtype
    assert rel_error(h, reference_scan(x, a, h0)) <= TOL[dtype]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("a_shape", [(2, 3, 500, 4), (2, 3, 1, 4), (1, 500, 4)])
def test_allpole_recurrence_matches_loop(backend, dtype, a_shape):
    g = torch.Generator().manual_seed(1)
    x = random_signal((2, 3, 500), dtype, g)
    a = (0.2 * torch.randn(a_shape, generator=g, dtype=torch.float64)).to(dtype)
    zi = random_signal((2, 3, 4), dtype, g)
    y = allpole_recurrence(x, a, zi, backend=backend)
    assert y.shape == x.shape and y.dtype == dtype
    assert rel_error(y, reference_allpole(x, a, zi)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", list(TOL))
def test_backends_agree(dtype):
    g = torch.Generator().manual_seed(2)
    x = random_signal((4, 5000), dtype, g)
    a = random_coefficients((4, 5000), dtype, g, radius=0.999)
    outputs = [linear_recurrence(x, a, backend=name) for name in BACKEND_NAMES]
    for other in outputs[1:]:
        assert rel_error(other, outputs[0].numpy()) <= TOL[dtype]
    if not dtype.is_complex:
        coeffs = (0.15 * torch.randn(4, 5000, 6, generator=g, dtype=torch.float64)).to(dtype)
        outputs = [allpole_recurrence(x, coeffs, backend=name) for name in BACKEND_NAMES]
        for other in outputs[1:]:
            assert rel_error(other, outputs[0].numpy()) <= TOL[dtype]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("a_steps", [1, 13])
def test_linear_recurrence_gradcheck(backend, dtype, a_steps):
    g = torch.Generator().manual_seed(3)
    x = random_signal((2, 13), dtype, g).requires_grad_()
    a = random_coefficients((2, a_steps), dtype, g, radius=0.8).requires_grad_()
    h0 = random_signal((2,), dtype, g).requires_grad_()

    def f(x, a, h0):
        return linear_recurrence(x, a, h0, backend=backend)

    assert gradcheck(f, (x, a, h0))
    assert gradgradcheck(f, (x, a, h0))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("steps,a_steps", [(11, 11), (11, 1), (2, 2)])
def test_allpole_recurrence_gradcheck(backend, steps, a_steps):
    g = torch.Generator().manual_seed(4)
    x = random_signal((2, steps), torch.float64, g).requires_grad_()
    a = (0.3 * torch.randn(2, a_steps, 3, generator=g, dtype=torch.float64)).requires_grad_()
    zi = random_signal((2, 3), torch.float64, g).requires_grad_()

    def f(x, a, zi):
        return allpole_recurrence(x, a, zi, backend=backend)

    assert gradcheck(f, (x, a, zi))
    assert gradgradcheck(f, (x, a, zi))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_gradients_of_broadcast_coefficients_keep_their_shape(backend):
    x = torch.randn(4, 3, 200, requires_grad=True)
    a = torch.full((1, 3, 1), 0.9, requires_grad=True)
    h0 = torch.zeros((), requires_grad=True)
    linear_recurrence(x, a, h0, backend=backend).square().sum().backward()
    assert a.grad.shape == a.shape and h0.grad.shape == h0.shape and x.grad.shape == x.shape
    # The constant-coefficient gradient is the sum of the per-sample ones.
    a_full = a.detach().expand(4, 3, 200).clone().requires_grad_()
    linear_recurrence(x.detach(), a_full, backend=backend).square().sum().backward()
    torch.testing.assert_close(a.grad, a_full.grad.sum((0, 2), keepdim=True), rtol=1e-4, atol=1e-3)


def _blocks(steps, generator):
    sizes, total = [], 0
    while total < steps:
        size = int(torch.randint(1, 300, (1,), generator=generator)) if sizes else 1
        sizes.append(min(size, steps - total))
        total += sizes[-1]
    return sizes


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.float64])
def test_linear_recurrence_streams(backend, dtype):
    g = torch.Generator().manual_seed(5)
    x = random_signal((3, 4000), dtype, g)
    a = random_coefficients((3, 4000), dtype, g, radius=0.99)
    whole = linear_recurrence(x, a, backend=backend)
    state, parts, start = None, [], 0
    for size in _blocks(x.shape[-1], g):
        part = linear_recurrence(x[..., start:start + size], a[..., start:start + size], state, backend=backend)
        state = part[..., -1]
        parts.append(part)
        start += size
    assert rel_error(torch.cat(parts, -1), whole.numpy()) <= 1e-6


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_allpole_recurrence_streams(backend):
    g = torch.Generator().manual_seed(6)
    x = random_signal((2, 3000), torch.float32, g)
    a = 0.15 * torch.randn(2, 3000, 5, generator=g)
    whole = allpole_recurrence(x, a, backend=backend)
    state, parts, start = torch.zeros(2, 5), [], 0
    for size in _blocks(x.shape[-1], g):
        part = allpole_recurrence(x[..., start:start + size], a[..., start:start + size, :], state, backend=backend)
        state = torch.cat([state.flip(-1), part], -1)[..., -5:].flip(-1)
        parts.append(part)
        start += size
    assert rel_error(torch.cat(parts, -1), whole.numpy()) <= 1e-6


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("taps", [1, 3, 6])
@pytest.mark.parametrize("order", [0, 1, 2, 5])
def test_modal_iir_matches_pole_zero_filter(backend, taps, order):
    """Against scipy.signal.lfilter on the expanded polynomials, both directions."""
    import scipy.signal as ss

    rng = np.random.default_rng(order * 10 + taps)
    pairs = 0.97 * np.exp(1j * rng.uniform(0.05, 3.0, order // 2))
    poles = np.concatenate([pairs, pairs.conj(), [0.6] * (order % 2)])  # odd order: one real pole
    b = rng.standard_normal((2, taps))
    x = rng.standard_normal((3, 2, 1500))
    a = np.real(np.poly(poles)) if order else np.ones(1)
    ref = np.stack([ss.lfilter(b[i], a, x[:, i]) for i in range(2)], 1)
    y = modal_iir(torch.from_numpy(x), torch.from_numpy(b)[None, :, :], torch.from_numpy(poles.astype(np.complex128)),
                  backend=backend)
    assert rel_error(y, ref) <= 1e-12
    backwards = modal_iir(torch.from_numpy(x[..., ::-1].copy()), torch.from_numpy(b)[None], torch.from_numpy(
        poles.astype(np.complex128)), reverse=True, backend=backend)
    assert rel_error(backwards.flip(-1), ref) <= 1e-12


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("p_steps", [1, 300])
def test_modal_section_matches_cascaded_scans(backend, p_steps):
    g = torch.Generator().manual_seed(8)
    v = random_signal((2, 3, 300), torch.float64, g)
    p1 = random_coefficients((3, p_steps), torch.complex128, g, radius=0.98)
    p2 = random_coefficients((2, 1, p_steps), torch.complex128, g, radius=0.98)
    s = random_signal((2, 3, 2), torch.complex128, g)
    y, final = modal_section(v, p1, p2, s, backend=backend)
    h1 = reference_scan(v, p1, s[..., 0])
    h2 = reference_scan(h1, p2, s[..., 1])
    assert rel_error(y, h2.real) <= 1e-12
    assert rel_error(final, np.stack([h1[..., -1], h2[..., -1]], -1)) <= 1e-12


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("p_steps", [1, 11])
def test_modal_section_gradcheck(backend, p_steps):
    g = torch.Generator().manual_seed(9)
    v = random_signal((2, 11), torch.float64, g).requires_grad_()
    p1 = random_coefficients((2, p_steps), torch.complex128, g, radius=0.8).requires_grad_()
    p2 = random_coefficients((1, p_steps), torch.complex128, g, radius=0.8).requires_grad_()
    s = random_signal((2, 2), torch.complex128, g).requires_grad_()

    def f(v, p1, p2, s):
        y, final = modal_section(v, p1, p2, s, backend=backend)
        return y, torch.view_as_real(final)

    assert gradcheck(f, (v, p1, p2, s))
    assert gradgradcheck(f, (v, p1, p2, s))


def test_modal_iir_is_forward_only_and_validates():
    x = torch.randn(10, requires_grad=True)
    with pytest.raises(ValueError, match="forward-only"):
        modal_iir(x, torch.ones(1), torch.tensor([0.5j]))
    with pytest.raises(ValueError, match="poles must be a complex"):
        modal_iir(x.detach(), torch.ones(1), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="do not broadcast"):
        modal_iir(torch.randn(2, 10), torch.ones(3, 1), torch.tensor([0.5j]))
    with pytest.raises(ValueError, match="poles holds NaN"):
        modal_iir(torch.randn(10), torch.ones(1), torch.tensor([complex("nan")]))


def test_automatic_backend_and_empty_signal():
    x = torch.randn(2, 0)
    assert linear_recurrence(x, torch.tensor([0.5])).shape == (2, 0)
    expected = "numba" if "numba" in BACKENDS else "torch"
    from ddsp_kit.kernels import resolve_backend

    assert BACKENDS[expected] is resolve_backend(None, torch.device("cpu"))
    assert BACKENDS["torch"] is resolve_backend(None, torch.device("cuda"))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: linear_recurrence(torch.randn(2, 10), torch.rand(2, 9)), "time steps"),
        (lambda: linear_recurrence(torch.randn(2, 10), torch.rand(3, 10)), "broadcast"),
        (lambda: linear_recurrence(torch.randn(2, 10), torch.tensor([float("nan")])), "NaN"),
        (lambda: linear_recurrence(torch.randn(2, 10), torch.tensor([0.5]), torch.tensor([float("inf")])), "NaN"),
        (lambda: linear_recurrence(torch.ones(2, 10, dtype=torch.int64), torch.tensor([1])), "dtype"),
        (lambda: linear_recurrence(torch.randn(10), torch.tensor([0.5]), backend="cuda-magic"), "not available"),
        (lambda: linear_recurrence(torch.randn(10, device="meta"), torch.rand(1, device="meta"), backend="numba"),
         "cannot run"),
        (lambda: linear_recurrence(torch.tensor(1.0), torch.tensor([0.5])), "time axis"),
        (lambda: allpole_recurrence(torch.randn(2, 10), torch.rand(2, 10, 3), torch.zeros(2, 2)), "order"),
        (lambda: allpole_recurrence(torch.randn(2, 10, dtype=torch.complex64), torch.rand(2, 1, 3)), "real"),
        (lambda: allpole_recurrence(torch.randn(2, 10), torch.rand(3)), "at least 2 dims"),
        (lambda: allpole_recurrence(torch.randn(2, 10), torch.rand(1, 0)), "order >= 1"),
        (lambda: linear_recurrence(torch.randn(4, 10), torch.tensor([0.5]), torch.zeros(4, 1)), "initial must fit"),
    ],
)
def test_bad_input_raises(call, message):
    if message == "cannot run" and "numba" not in BACKENDS:
        pytest.skip("numba not installed")
    with pytest.raises(ValueError, match=message):
        call()


def test_nan_in_signal_propagates_forward_only():
    x = torch.ones(20)
    x[10] = float("nan")
    h = linear_recurrence(x, torch.tensor([0.5]))
    assert torch.isfinite(h[:10]).all() and torch.isnan(h[10:]).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_torch_backend_on_cuda_matches_cpu(dtype):
    g = torch.Generator().manual_seed(7)
    x = random_signal((4, 3000), dtype, g)
    a = random_coefficients((4, 3000), dtype, g, radius=0.99)
    cpu = linear_recurrence(x, a, backend="torch")
    gpu = linear_recurrence(x.cuda(), a.cuda())
    assert rel_error(gpu.cpu(), cpu.numpy()) <= 1e-5


def reference_matrix(x, a, h0):
    """Per-sample loop in float64: h[t] = A[t] h[t-1] + x[t]."""
    x = np.asarray(x, dtype=np.float64)
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), (*x.shape, x.shape[-1]))
    h = np.broadcast_to(np.asarray(h0, dtype=np.float64), x.shape[:-2] + x.shape[-1:]).copy()
    out = np.empty_like(x)
    for t in range(x.shape[-2]):
        h = np.einsum("...ij,...j->...i", a[..., t, :, :], h) + x[..., t, :]
        out[..., t, :] = h
    return out


def reference_ballistics(x, up, down, y0):
    x = np.asarray(x, dtype=np.float64)
    up, down = (np.broadcast_to(np.asarray(c, dtype=np.float64), x.shape) for c in (up, down))
    y = np.broadcast_to(np.asarray(y0, dtype=np.float64), x.shape[:-1]).copy()
    out = np.empty_like(x)
    for t in range(x.shape[-1]):
        alpha = np.where(x[..., t] > y, up[..., t], down[..., t])
        y = y + alpha * (x[..., t] - y)
        out[..., t] = y
    return out


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("a_steps", [1, 300])
def test_matrix_recurrence_matches_loop(backend, dtype, a_steps):
    g = torch.Generator().manual_seed(7)
    x = random_signal((2, 3, 300, 2), dtype, g)
    # Spectral radius below 1 keeps the reference bounded over 300 steps.
    a = (0.6 * torch.randn(1, 3, a_steps, 2, 2, generator=g, dtype=torch.float64)).to(dtype)
    h0 = random_signal((2, 3, 2), dtype, g)
    y = matrix_recurrence(x, a, h0, backend=backend)
    assert y.shape == x.shape and y.dtype == dtype
    assert rel_error(y, reference_matrix(x, a, h0)) < TOL[dtype]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("a_steps", [1, 23])
def test_matrix_recurrence_gradcheck(backend, a_steps):
    g = torch.Generator().manual_seed(3)
    x = random_signal((2, 23, 3), torch.float64, g).requires_grad_()
    a = (0.4 * torch.randn(2, a_steps, 3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    h0 = random_signal((2, 3), torch.float64, g).requires_grad_()

    def run(x, a, h0):
        return matrix_recurrence(x, a, h0, backend=backend)

    assert gradcheck(run, (x, a, h0))
    assert gradgradcheck(run, (x, a, h0))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_matrix_recurrence_streams(backend):
    g = torch.Generator().manual_seed(5)
    x = random_signal((2, 200, 2), torch.float64, g)
    a = 0.6 * torch.randn(2, 200, 2, 2, generator=g, dtype=torch.float64)
    whole = matrix_recurrence(x, a, backend=backend)
    state, parts = None, []
    for start, stop in ((0, 1), (1, 77), (77, 200)):
        part = matrix_recurrence(x[:, start:stop], a[:, start:stop], state, backend=backend)
        state = part[:, -1]
        parts.append(part)
    assert torch.allclose(torch.cat(parts, 1), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ballistics_matches_loop(backend, dtype):
    g = torch.Generator().manual_seed(11)
    # A rectified noise burst then silence: both branches taken many times.
    x = (torch.rand(3, 2000, generator=g, dtype=torch.float64) * (torch.arange(2000) < 1200)).to(dtype)
    up = torch.tensor([0.3], dtype=dtype)
    down = (0.001 + 0.05 * torch.rand(3, 2000, generator=g, dtype=torch.float64)).to(dtype)
    y0 = torch.tensor([0.0, 0.5, 2.0], dtype=dtype)
    y = ballistics(x, up, down, y0, backend=backend)
    assert rel_error(y, reference_ballistics(x, up, down, y0)) < TOL[dtype]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_ballistics_gradcheck(backend):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 40, generator=g, dtype=torch.float64).requires_grad_()
    up = torch.tensor([0.4], dtype=torch.float64, requires_grad=True)
    down = torch.full((2, 40), 0.05, dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([0.1, 0.9], dtype=torch.float64, requires_grad=True)
    # Finite differences of 1e-6 never flip a branch here: the closest |x[t] - y[t-1]| is ~1e-3.
    assert gradcheck(lambda *args: ballistics(*args, backend=backend), (x, up, down, y0))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_ballistics_batch_may_come_from_either_coefficient(backend):
    x = torch.rand(1, 50, dtype=torch.float64)
    down = torch.tensor([[0.01], [0.1], [0.5]], dtype=torch.float64)
    y = ballistics(x, torch.tensor([[0.3]], dtype=torch.float64), down, backend=backend)
    assert y.shape == (3, 50)
    for row in range(3):
        assert rel_error(y[row], reference_ballistics(x[0], 0.3, down[row], 0.0)) < 1e-12


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: matrix_recurrence(torch.zeros(5, 2), torch.zeros(1, 3, 3)), "must be"),
        (lambda: matrix_recurrence(torch.zeros(5, 2), torch.zeros(4, 2, 2)), "T=5 or 1"),
        (lambda: matrix_recurrence(torch.zeros(5, 2), torch.full((1, 2, 2), float("nan"))), "NaN"),
        (lambda: ballistics(torch.zeros(5), torch.tensor([0.0]), torch.tensor([0.5])), r"\(0, 1\]"),
        (lambda: ballistics(torch.zeros(5), torch.tensor([0.5]), torch.tensor([1.5])), r"\(0, 1\]"),
    ],
)
def test_state_space_and_ballistics_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
