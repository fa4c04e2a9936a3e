"""Filters in ddsp_kit.functional against scipy.signal and per-sample references.

Tolerances (relative to the reference's peak):
- float64: 1e-9. The modal cascade and scipy's direct form round differently;
  for the 8th-order elliptic filter below the difference is ~1e-10.
- float32 with poles at radius 0.9999 (20 Hz at 48 kHz) over 2^20 samples:
  1e-4 (the issue's bound), against scipy in float64 on the same float32
  coefficients. Measured here: ~1e-6 (numba), ~4e-6 (torch).
"""

import numpy as np
import pytest
import scipy.signal as ss
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from ddsp_kit.functional import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv
from ddsp_kit.kernels import available_backends
from reference import modal_section_reference

BACKENDS = available_backends()
FS = 48000


def rel_error(y, ref):
    y = y.detach().numpy() if isinstance(y, torch.Tensor) else y
    return np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30)


def t64(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


DESIGNS = {
    "butter2_low": ss.butter(2, 1000, fs=FS),
    "ellip8_low": ss.ellip(8, 1, 60, 0.2),
    "first_order": ([0.3, 0.2], [1.0, -0.7]),
    "fir_longer_than_iir": ([1.0, 0.2, 0.3, 0.4, 0.5], [2.0, -1.0]),
    "repeated_poles": (np.poly([0.5, 0.5, 0.5]), np.poly([0.9, 0.9, -0.3])),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("design", list(DESIGNS))
def test_lfilter_matches_scipy_float64(backend, design):
    b, a = DESIGNS[design]
    x = np.random.default_rng(0).standard_normal((2, 3, 3000))
    y = lfilter(t64(x), t64(b), t64(a), backend=backend)
    assert rel_error(y, ss.lfilter(b, a, x)) <= 1e-9
    size = max(len(a), len(b)) - 1
    zi = np.random.default_rng(1).standard_normal((2, 3, size))
    ref, zf_ref = ss.lfilter(b, a, x, zi=zi)
    y, zf = lfilter(t64(x), t64(b), t64(a), t64(zi), backend=backend)
    assert rel_error(y, ref) <= 1e-9
    assert rel_error(zf, zf_ref) <= 1e-9


def test_lfilter_on_an_ill_conditioned_polynomial_beats_scipy():
    """An 8th-order band-pass at 300-3000 Hz as one polynomial: its roots are
    ill-conditioned, so no method reproduces another to 1e-9. Against the exact
    cascade from the design's own poles, ours is at least as close as scipy's."""
    design = dict(N=4, rp=1, Wn=[300, 3000], btype="bandpass", fs=FS)
    b, a = ss.cheby1(**design)
    exact_sos = ss.cheby1(**design, output="sos")
    x = np.random.default_rng(0).standard_normal(5000)
    truth = ss.sosfilt(exact_sos, x)
    ours = rel_error(lfilter(t64(x), t64(b), t64(a)), truth)
    assert ours <= rel_error(ss.lfilter(b, a, x), truth)
    assert ours <= 1e-7


def test_lfilter_refuses_a_direct_form_that_rounding_made_unstable():
    # A 10th-order 100 Hz Butterworth as one polynomial has roots outside the
    # unit circle after rounding; scipy.signal.lfilter silently diverges (1e30).
    b, a = ss.butter(10, 100, fs=FS)
    with pytest.raises(ValueError, match="unstable"):
        lfilter(torch.randn(100, dtype=torch.float64), t64(b), t64(a))


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_lfilter_initial_state_on_blocks_shorter_than_the_state(steps):
    b, a = DESIGNS["ellip8_low"]
    x = np.random.default_rng(2).standard_normal(steps)
    zi = np.random.default_rng(3).standard_normal(8)
    ref, zf_ref = ss.lfilter(b, a, x, zi=zi)
    y, zf = lfilter(t64(x), t64(b), t64(a), t64(zi))
    assert rel_error(y, ref) <= 1e-9 and rel_error(zf, zf_ref) <= 1e-9


def test_lfilter_batched_coefficients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 1000))
    designs = [ss.butter(2, f, fs=FS) for f in (200, 2000, 9000)]
    b = np.stack([d[0] for d in designs])
    a = np.stack([d[1] for d in designs])
    y = lfilter(t64(x), t64(b), t64(a))
    for row in range(3):
        assert rel_error(y[row], ss.lfilter(b[row], a[row], x[row])) <= 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_near_the_unit_circle(backend):
    pole = 0.9999 * np.exp(2j * np.pi * 20 / FS)
    a = np.real(np.poly([pole, np.conj(pole)])).astype(np.float32)
    b = np.array([1.0, 0.3, 0.1], dtype=np.float32)
    x = np.random.default_rng(5).standard_normal((2, 2**20)).astype(np.float32)
    ref = ss.lfilter(b.astype(np.float64), a.astype(np.float64), x.astype(np.float64))
    y = lfilter(torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(a), backend=backend)
    assert y.dtype == torch.float32
    assert rel_error(y, ref) <= 1e-4
    sos = np.concatenate([b, a])[None].astype(np.float32)
    y = sosfilt(torch.from_numpy(x), torch.from_numpy(sos), backend=backend)
    assert rel_error(y, ref) <= 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_sosfilt_matches_scipy(backend):
    sos = ss.butter(6, [300, 3000], "bandpass", fs=FS, output="sos")
    x = np.random.default_rng(6).standard_normal((2, 4000))
    assert rel_error(sosfilt(t64(x), t64(sos), backend=backend), ss.sosfilt(sos, x)) <= 1e-9
    zi = np.random.default_rng(7).standard_normal((sos.shape[0], 2))
    ref, zf_ref = ss.sosfilt(sos, x[0], zi=zi)
    y, zf = sosfilt(t64(x[0]), t64(sos), t64(zi), backend=backend)
    assert rel_error(y, ref) <= 1e-9 and rel_error(zf, zf_ref) <= 1e-9


def swept_sections(steps, rng):
    """Per-sample resonant sections whose frequency and radius move, one with real poles."""
    t = np.arange(steps) / FS
    freq = 500 + 400 * np.sin(2 * np.pi * 3 * t)
    radius = 0.97 + 0.02 * np.sin(2 * np.pi * 5 * t)
    pole = radius * np.exp(2j * np.pi * freq / FS)
    resonant = np.stack([np.full(steps, 0.1), 0.2 * np.ones(steps), rng.uniform(0, 0.1, steps),
                         np.ones(steps), -2 * pole.real, np.abs(pole) ** 2], -1)
    real_poles = np.stack([np.ones(steps), np.zeros(steps), np.zeros(steps), np.ones(steps),
                           -(0.5 + 0.3 * np.sin(2 * np.pi * 2 * t)), np.full(steps, 0.06)], -1)
    return np.stack([resonant, real_poles])  # (2, T, 6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sosfilt_tv_matches_per_sample_reference(backend):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(3000)
    sos = swept_sections(3000, rng)
    ref = x
    for section in sos:
        p = np.stack([np.roots(section[t, 3:]) for t in range(len(x))]).astype(np.complex128)
        ref = modal_section_reference(ref, section[:, :3], p[:, 0], p[:, 1])
    assert rel_error(sosfilt_tv(t64(x), t64(sos), backend=backend), ref) <= 1e-9


def test_sosfilt_tv_constant_equals_sosfilt():
    sos = ss.ellip(6, 1, 50, 0.3, output="sos")
    x = torch.randn(2, 2000, dtype=torch.float64)
    torch.testing.assert_close(sosfilt_tv(x, t64(sos)[:, None, :]), sosfilt(x, t64(sos)), rtol=0, atol=1e-12)


def test_biquad_matches_scipy():
    pole, zero, gain = 0.95 * np.exp(0.3j), 0.7 * np.exp(1.1j), 0.5
    b = gain * np.real(np.poly([zero, np.conj(zero)]))
    a = np.real(np.poly([pole, np.conj(pole)]))
    x = np.random.default_rng(9).standard_normal((2, 2000))
    y = biquad(t64(x), torch.tensor([pole]), torch.tensor([zero]), gain)
    assert rel_error(y, ss.lfilter(b, a, x)) <= 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_allpole_matches_reference(backend):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 2000))
    poles = 0.9 * np.exp(1j * np.array([0.2, 0.9, 2.0]))
    a = np.real(np.poly(np.concatenate([poles, poles.conj()])))
    y = allpole(t64(x), t64(a[1:])[None], backend=backend)
    assert rel_error(y, ss.lfilter([1.0], a, x)) <= 1e-9
    # Time-varying: a per-sample loop in float64.
    coeffs = 0.2 * rng.standard_normal((2, 2000, 4))
    ref = np.zeros_like(x)
    for t in range(x.shape[-1]):
        past = np.stack([ref[:, t - k] if t - k >= 0 else np.zeros(2) for k in range(1, 5)], -1)
        ref[:, t] = x[:, t] - np.sum(coeffs[:, t] * past, -1)
    assert rel_error(allpole(t64(x), t64(coeffs), backend=backend), ref) <= 1e-9


def _stream(filter_block, x, state, generator):
    parts, start = [], 0
    while start < x.shape[-1]:
        size = 1 if not parts else int(torch.randint(1, 400, (1,), generator=generator))
        y, state = filter_block(start, start + size, state)
        parts.append(y)
        start += size
    return torch.cat(parts, -1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_filter_streams(backend):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3000, generator=g)
    b, a = (torch.tensor(c, dtype=torch.float32) for c in DESIGNS["ellip8_low"])
    sos = torch.tensor(ss.butter(4, 2000, fs=FS, output="sos"), dtype=torch.float32)
    sos_tv = torch.tensor(swept_sections(3000, np.random.default_rng(12)), dtype=torch.float32)
    pole = torch.polar(torch.full((2, 3000), 0.98), torch.linspace(0.1, 0.5, 3000).expand(2, -1))
    lpc = 0.1 * torch.randn(2, 3000, 6, generator=g)
    cases = {
        "lfilter": (lambda s, e, z: lfilter(x[..., s:e], b, a, z, backend=backend), torch.zeros(2, 8),
                    lfilter(x, b, a, torch.zeros(8), backend=backend)[0]),
        "sosfilt": (lambda s, e, z: sosfilt(x[..., s:e], sos, z, backend=backend), torch.zeros(2, 2, 2),
                    sosfilt(x, sos, backend=backend)),
        "sosfilt_tv": (lambda s, e, z: sosfilt_tv(x[..., s:e], sos_tv[..., s:e, :], z, backend=backend),
                       torch.zeros(2, 6), sosfilt_tv(x, sos_tv, backend=backend)),
        "biquad": (lambda s, e, z: biquad(x[..., s:e], pole[..., s:e], state=z, backend=backend),
                   torch.zeros(2, 6), biquad(x, pole, backend=backend)),
        "allpole": (lambda s, e, z: allpole(x[..., s:e], lpc[..., s:e, :], z, backend=backend),
                    torch.zeros(2, 6), allpole(x, lpc, backend=backend)),
    }
    for name, (block, state, whole) in cases.items():
        streamed = _stream(block, x, state, g)
        assert rel_error(streamed, whole.numpy()) <= 1e-6, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_filter_gradients(backend):
    x = torch.randn(2, 12, dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.5, 0.2, 0.1], dtype=torch.float64, requires_grad=True)
    a = torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64, requires_grad=True)
    zi = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, b, a, zi: lfilter(x, b, a, zi, backend=backend), (x, b, a, zi))
    pole = torch.polar(torch.rand(2, 12, dtype=torch.float64) * 0.9,
                       torch.rand(2, 12, dtype=torch.float64) * 3).requires_grad_()
    zero = torch.randn(2, 1, dtype=torch.complex128, requires_grad=True)
    gain = torch.rand(2, 12, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, p, q, g: biquad(x, p, q, g, backend=backend), (x, pole, zero, gain))
    assert gradgradcheck(lambda x, p: biquad(x, p, backend=backend), (x, pole))
    lpc = (0.2 * torch.randn(2, 12, 3, dtype=torch.float64)).requires_grad_()
    assert gradcheck(lambda x, a: allpole(x, a, backend=backend), (x, lpc))


def test_lfilter_second_derivatives():
    x = torch.randn(2, 10, dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.5, 0.2, 0.1], dtype=torch.float64, requires_grad=True)
    a = torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64, requires_grad=True)
    for backend in BACKENDS:
        assert gradgradcheck(lambda x, b, a: lfilter(x, b, a, backend=backend), (x, b, a))


def test_lfilter_gradients_agree_across_backends_with_batched_coefficients():
    """The fused first-derivative pass (numba) against the composed one (torch)."""
    g = torch.Generator().manual_seed(13)
    x = torch.randn(4, 2, 700, generator=g, dtype=torch.float64)
    b = torch.randn(2, 4, generator=g, dtype=torch.float64)
    a = torch.stack([t64(ss.butter(3, f, fs=FS)[1]) for f in (300, 5000)])
    weights = torch.randn(4, 2, 700, generator=g, dtype=torch.float64)
    grads = []
    for backend in BACKENDS:
        leaves = [t.clone().requires_grad_() for t in (x, b, a)]
        (lfilter(*leaves, backend=backend) * weights).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    for other in grads[1:]:
        for mine, theirs in zip(grads[0], other):
            assert rel_error(theirs, mine.numpy()) <= 1e-9


def test_polynomial_roots():
    torch.testing.assert_close(polynomial_roots(t64([2.0, -3.0, 1.0])).real, t64([1.0, 0.5]))
    with pytest.raises(ValueError, match="leading coefficient"):
        polynomial_roots(t64([0.0, 1.0, 1.0]))
    for coeffs in ([1.0, -1.5, 0.5], [1.0, 0.0, 0.25], [1.0, 1e-9, 1e-12], [1.0, 0.0, 0.0], np.poly([0.3, -0.2, 0.9j, -0.9j])):
        roots = polynomial_roots(t64(coeffs)).numpy()
        np.testing.assert_allclose(np.sort_complex(roots), np.sort_complex(np.roots(coeffs)), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: lfilter(torch.randn(10), [1.0], [1.0, -1.0]), "unstable"),
        (lambda: lfilter(torch.randn(10), [1.0], [1.0, -2.5, 1.0]), "unstable"),
        (lambda: lfilter(torch.randn(10), [1.0], [0.0, 1.0]), r"a\[\.\.\., 0\] must be non-zero"),
        (lambda: lfilter(torch.randn(10), [float("nan")], [1.0]), "b holds NaN"),
        (lambda: lfilter(torch.randn(10), [1.0], [1.0, float("inf")]), "a holds NaN"),
        (lambda: lfilter(torch.randn(10), [1.0], [1.0, -0.5], torch.zeros(2)), "zi must end with"),
        (lambda: lfilter(torch.randn(10, dtype=torch.complex64), [1.0], [1.0]), "float32 or float64"),
        (lambda: lfilter(torch.randn(3, 10), torch.ones(2, 2), [1.0, -0.5]), "broadcast"),
        (lambda: lfilter(torch.randn(10), torch.ones(2, 2, dtype=torch.int64), [1.0]), "float32 or float64"),
        (lambda: sosfilt(torch.randn(10), torch.ones(2, 5)), r"n_sections, 6"),
        (lambda: sosfilt(torch.randn(10), torch.tensor([[1.0, 0, 0, 1, -0.5, 0]]), torch.zeros(2, 2)), "zi must be"),
        (lambda: sosfilt_tv(torch.randn(10), torch.tensor([1.0, 0, 0, 1, -1.2, 0.5]).expand(1, 9, 6)), "T=10 or 1"),
        (lambda: sosfilt_tv(torch.randn(10), torch.tensor([1.0, 0, 0, 1, -2.0, 1.01]).expand(1, 10, 6)), "unstable"),
        (lambda: biquad(torch.randn(10), torch.tensor([1.01 + 0j])), "unstable"),
        (lambda: biquad(torch.randn(10), torch.tensor([0.5])), "complex"),
        (lambda: biquad(torch.randn(10), torch.full((9,), 0.5j)), r"pole must be \(\.\.\., T=10 or 1\)"),
        (lambda: biquad(torch.randn(2, 10), torch.full((3, 1), 0.5j)), "do not broadcast"),
        (lambda: biquad(torch.randn(10), torch.tensor([0.5j]), state=torch.full((6,), float("nan"))), "state holds NaN"),
        (lambda: sosfilt_tv(torch.randn(2, 10), torch.tensor([1.0, 0, 0, 1, -0.5, 0]).expand(3, 1, 1, 6)),
         "do not broadcast"),
        (lambda: lfilter(torch.randn(10), [1.0], [1.0, -0.5], torch.tensor([float("inf")])), "zi holds NaN"),
        (lambda: biquad(torch.randn(10), torch.tensor([0.5j]), gain=torch.tensor([1j])), "gain must be real"),
        (lambda: biquad(torch.randn(10), torch.tensor([0.5j]), zero=0.3j), "zero must be a complex tensor"),
        (lambda: allpole(torch.randn(10), torch.tensor([[-1.5, 0.9, 0.5]])), "unstable"),
        (lambda: allpole(torch.randn(10), F.pad(torch.full((1, 2), float("nan")), (0, 0, 5, 4))), "a holds NaN"),
        (lambda: sosfilt_tv(torch.randn(10), torch.tensor([1.0, 0, 0, 1, -0.5, 0]).repeat(1, 10, 1).index_put_(
            (torch.tensor(0), torch.tensor(4), torch.tensor(1)), torch.tensor(float("inf")))), "sos holds NaN"),
        (lambda: allpole(torch.randn(10), torch.tensor([[-0.5]]), torch.zeros(3)), "order"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sosfilt_tv_is_continuous_when_real_poles_swap_sides():
    """Two real poles +-0.5: a1 crossing 0 must not reorder the cascade."""
    x = torch.randn(400, dtype=torch.float64)
    sos = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, -0.25], dtype=torch.float64).repeat(1, 400, 1)
    nudged = sos.clone()
    nudged[0, :200, 4] = 1e-12
    nudged[0, 200:, 4] = -1e-12
    assert (sosfilt_tv(x, nudged) - sosfilt_tv(x, sos)).abs().max() <= 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_inputs(backend):
    x = torch.randn(5, 3, 400).transpose(0, 1)
    lpc = (0.1 * torch.randn(5, 3, 400, 2)).transpose(0, 1)
    pole = torch.polar(torch.full((5, 3, 400), 0.9), torch.rand(5, 3, 400)).transpose(0, 1)
    b, a = DESIGNS["butter2_low"]
    for f in (lambda x, l, p: lfilter(x, t64(b).float(), t64(a).float(), backend=backend),
              lambda x, l, p: allpole(x, l, backend=backend),
              lambda x, l, p: biquad(x, p, backend=backend)):
        torch.testing.assert_close(f(x, lpc, pole), f(x.contiguous(), lpc.contiguous(), pole.contiguous()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_signals(backend):
    x = torch.randn(2, 0)
    assert lfilter(x, [1.0, 0.5], [1.0, -0.5], backend=backend).shape == (2, 0)
    y, zf = lfilter(x, [1.0, 0.5], [1.0, -0.5], torch.ones(2, 1), backend=backend)
    assert y.shape == (2, 0) and torch.equal(zf, torch.ones(2, 1, dtype=zf.dtype))
    assert sosfilt(x, torch.tensor([[1.0, 0, 0, 1, -0.5, 0]]), backend=backend).shape == (2, 0)
    assert sosfilt_tv(x, torch.tensor([1.0, 0, 0, 1, -0.5, 0]).expand(1, 1, 6), backend=backend).shape == (2, 0)
    assert biquad(x, torch.tensor([0.5j]), backend=backend).shape == (2, 0)
    assert allpole(x, torch.tensor([[-0.5]]), backend=backend).shape == (2, 0)


def test_gain_only_filters_and_state_batches():
    x = torch.randn(10, dtype=torch.float64)
    y, zf = lfilter(x, [2.0], [1.0], torch.zeros(0))
    assert torch.allclose(y, 2 * x) and zf.shape == (0,)
    # A state with a batch the signal lacks filters the signal once per state.
    y, zf = lfilter(x, [1.0, 0.5], [1.0, -0.5], torch.randn(3, 1, dtype=torch.float64))
    assert y.shape == (3, 10) and zf.shape == (3, 1)
    y, state = biquad(x[:1], torch.tensor([0.5j]), state=torch.zeros(4, 6))
    assert y.shape == (4, 1) and state.shape == (4, 6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_filter_gradients(backend):
    def t(*shape, scale=1.0):
        return (scale * torch.randn(*shape, dtype=torch.float64)).requires_grad_()

    x = t(2, 9)
    sos = torch.tensor([[0.5, 0.2, 0.1, 1.0, -0.6, 0.3], [1.0, -0.4, 0.2, 1.0, 0.5, 0.2]], dtype=torch.float64)
    sos = (sos[:, None, :] + 0.01 * torch.randn(2, 9, 6, dtype=torch.float64)).requires_grad_()
    state = t(2, 2, 6)

    def tv(x, sos, state):
        y, final = sosfilt_tv(x, sos, state, backend=backend)
        return y, final

    assert gradcheck(tv, (x, sos, state))
    pole = torch.polar(torch.full((2, 9), 0.8, dtype=torch.float64), torch.rand(2, 9, dtype=torch.float64))
    pole.requires_grad_()
    assert gradgradcheck(lambda x, p, s: biquad(x, p, state=s, backend=backend), (x, pole, t(2, 6)))
    lpc, zi = t(2, 9, 3, scale=0.2), t(2, 3)
    assert gradcheck(lambda x, a, zi: allpole(x, a, zi, backend=backend), (x, lpc, zi))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_filters_on_cuda_match_cpu():
    x = torch.randn(2, 3000)
    b, a = (torch.tensor(c, dtype=torch.float32) for c in DESIGNS["ellip8_low"])
    pole = torch.polar(torch.full((2, 3000), 0.98), torch.linspace(0.1, 0.5, 3000).expand(2, -1))
    lpc = 0.1 * torch.randn(2, 3000, 6)
    cases = [
        lambda d: lfilter(x.to(d), b.to(d), a.to(d), backend="torch"),
        lambda d: biquad(x.to(d), pole.to(d), backend="torch"),
        lambda d: allpole(x.to(d), lpc.to(d), backend="torch"),
    ]
    for case in cases:
        assert rel_error(case("cuda").cpu(), case("cpu").numpy()) <= 1e-5


def test_sosfilt_tv_gradients_stay_finite_at_repeated_poles():
    """An identity section (a1 = a2 = 0) is a natural initialisation; its
    gradient must not be NaN, and for a1 it is the direct form's -y[t-1]."""
    x = torch.randn(2, 50, dtype=torch.float64)
    sos = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64).repeat(1, 50, 1).requires_grad_()
    weights = torch.randn(2, 50, dtype=torch.float64)
    (sosfilt_tv(x, sos) * weights).sum().backward()
    assert torch.isfinite(sos.grad).all()
    # y = x here, and dy[t]/da1[t+1] = -y[t]: with the pole at 0 the mean's derivative is exact for a1.
    torch.testing.assert_close(sos.grad[0, 1:, 4], -(weights[:, 1:] * x[:, :-1]).sum(0))


def test_constant_sections_differentiate_like_sosfilt_at_a_double_pole():
    """Critically damped (double pole at 0.6): constant sections take sosfilt's exact gradients."""
    x = torch.randn(2, 300, dtype=torch.float64)
    weights = torch.randn(2, 300, dtype=torch.float64)
    base = torch.tensor([0.3, 0.1, 0.0, 1.0, -1.2, 0.36], dtype=torch.float64)
    grads = []
    for run in (lambda s: sosfilt_tv(x, s[None, None]), lambda s: sosfilt(x, s[None])):
        sos = base.clone().requires_grad_()
        (run(sos) * weights).sum().backward()
        grads.append(sos.grad)
    torch.testing.assert_close(grads[0], grads[1])
