"""Filter designs against an independent reference: scipy's bilinear transform of
each analog prototype, pre-warped to the centre frequency (coefficients agree to
1e-12, float64), plus the closed-form gains the designs promise."""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch
from torch.autograd import gradcheck

from ddsp_kit.functional import sosfilt, sosfilt_tv
from reference import modal_section_reference
from ddsp_kit.functional.design import BIQUAD_KINDS, biquad_design, one_pole_design

FS = 48000.0


def prototype(kind, q, gain_db):
    """Analog prototype numerator and denominator in s normalised to the centre frequency."""
    amp = 10 ** (gain_db / 40)
    root = math.sqrt(amp)
    den = [1.0, 1 / q, 1.0]
    return {
        "lowpass": ([0.0, 0.0, 1.0], den),
        "highpass": ([1.0, 0.0, 0.0], den),
        "bandpass": ([0.0, 1 / q, 0.0], den),
        "notch": ([1.0, 0.0, 1.0], den),
        "allpass": ([1.0, -1 / q, 1.0], den),
        "peak": ([1.0, amp / q, 1.0], [1.0, 1 / (amp * q), 1.0]),
        "lowshelf": ([amp, amp * root / q, amp * amp], [amp, root / q, 1.0]),
        "highshelf": ([amp * amp, amp * root / q, amp], [1.0, root / q, amp]),
    }[kind]


def reference(kind, frequency, q, gain_db):
    omega = 2 * FS * math.tan(math.pi * frequency / FS)  # pre-warped centre, rad/s
    num, den = prototype(kind, q, gain_db)
    scale = [omega**-2, omega**-1, 1.0]
    b, a = ss.bilinear([c * s for c, s in zip(num, scale)], [c * s for c, s in zip(den, scale)], FS)
    return np.concatenate([b / a[0], a / a[0]])


@pytest.mark.parametrize("kind", BIQUAD_KINDS)
@pytest.mark.parametrize("frequency,q,gain_db", [(30.0, 0.5, -12.0), (1000.0, 0.7071, 6.0), (15000.0, 4.0, 3.0)])
def test_matches_bilinear_transform_of_the_prototype(kind, frequency, q, gain_db):
    ours = biquad_design(kind, frequency, q, gain_db, sample_rate=FS).numpy()
    np.testing.assert_allclose(ours, reference(kind, frequency, q, gain_db), rtol=0, atol=1e-12)


def magnitude_db(sos, hz):
    _, h = ss.sosfreqz(sos.numpy()[None], worN=[hz], fs=FS)
    return 20 * np.log10(np.abs(h[0]))


def test_closed_form_gains():
    f0, q = 2000.0, 2.0
    assert magnitude_db(biquad_design("lowpass", f0, q, sample_rate=FS), f0) == pytest.approx(20 * math.log10(q))
    assert magnitude_db(biquad_design("highpass", f0, q, sample_rate=FS), f0) == pytest.approx(20 * math.log10(q))
    assert magnitude_db(biquad_design("bandpass", f0, q, sample_rate=FS), f0) == pytest.approx(0.0, abs=1e-9)
    assert magnitude_db(biquad_design("notch", f0, q, sample_rate=FS), f0) < -200
    assert magnitude_db(biquad_design("peak", f0, q, 7.5, sample_rate=FS), f0) == pytest.approx(7.5)
    assert magnitude_db(biquad_design("lowshelf", f0, 0.7071, -9.0, sample_rate=FS), 1.0) == pytest.approx(-9.0, abs=1e-4)
    assert magnitude_db(biquad_design("highshelf", f0, 0.7071, 4.0, sample_rate=FS), 23999.0) == pytest.approx(
        4.0, abs=1e-3)
    for hz in (10.0, f0, 20000.0):
        assert magnitude_db(biquad_design("allpass", f0, q, sample_rate=FS), hz) == pytest.approx(0.0, abs=1e-9)


def test_per_sample_design_runs_as_a_time_varying_filter():
    steps = 600
    frequency = torch.linspace(200.0, 8000.0, steps, dtype=torch.float64)
    sos = biquad_design("lowpass", frequency, 0.9, sample_rate=FS)
    assert sos.shape == (steps, 6)
    x = torch.randn(steps, dtype=torch.float64)
    for t in (0, steps // 2, steps - 1):  # each sample's section is that frequency's design
        torch.testing.assert_close(sos[t], biquad_design("lowpass", float(frequency[t]), 0.9, sample_rate=FS))
    poles = np.stack([np.roots(row[3:]) for row in sos.numpy()])
    poles = poles[np.arange(steps)[:, None], np.argsort(-poles.imag, axis=1)]  # positive imaginary part first
    expected = modal_section_reference(x.numpy(), sos.numpy()[:, :3], poles[:, 0], poles[:, 1])
    np.testing.assert_allclose(sosfilt_tv(x, sos[None]).numpy(), expected, rtol=0, atol=1e-9)


def test_batches_of_designs_and_dtypes():
    frequency = torch.tensor([300.0, 3000.0], dtype=torch.float32)
    sos = biquad_design("peak", frequency, 2.0, 6.0, sample_rate=FS)
    assert sos.dtype == torch.float32  # Python numbers do not widen the result
    x = torch.randn(2, 1000)
    y = sosfilt(x, sos.unsqueeze(-2))  # one section per signal, not a cascade
    for row in range(2):
        torch.testing.assert_close(y[row], sosfilt(x[row], sos[row:row + 1]))
    # Computed in double precision: float32 designs agree with the float64 ones to rounding.
    exact = biquad_design("peak", frequency.double(), 2.0, 6.0, sample_rate=FS)
    torch.testing.assert_close(sos, exact.float())
    with pytest.raises(ValueError, match="do not broadcast"):
        biquad_design("peak", torch.ones(3) * 100, torch.ones(2), sample_rate=FS)
    with pytest.raises(ValueError, match="finite"):
        biquad_design("peak", 100.0, sample_rate=math.inf)
    assert biquad_design("peak", 100.0, sample_rate=np.float32(48000.0)).shape == (6,)


@pytest.mark.parametrize("kind", BIQUAD_KINDS)
def test_gradients_reach_every_parameter(kind):
    frequency = torch.tensor([20.0, 500.0, 23000.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 3.0, 40.0], dtype=torch.float64, requires_grad=True)
    gain = torch.tensor([0.0, 9.0, -30.0], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda f, q, g: biquad_design(kind, f, q, g, sample_rate=FS), (frequency, q, gain))
    # Through the filter, including Q = 0.5 (a double pole): sosfilt never differentiates roots.
    x = torch.randn(3, 64, dtype=torch.float64)
    assert gradcheck(lambda f, q: sosfilt(x, biquad_design(kind, f, q, 3.0, sample_rate=FS).unsqueeze(-2)),
                     (frequency, q))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(kind="lowpas", frequency=100.0), "kind must be one of"),
        (dict(kind="lowpass", frequency=24000.0), r"frequency must lie in \(0, 24000\) Hz"),
        (dict(kind="lowpass", frequency=-5.0), "frequency must lie"),
        (dict(kind="lowpass", frequency=100.0, q=0.0), "q must lie"),
        (dict(kind="peak", frequency=100.0, gain_db=float("nan")), "gain_db holds NaN"),
        (dict(kind="lowpass", frequency=torch.tensor([100, 200])), "floating-point"),
        (dict(kind="lowpass", frequency=100.0, sample_rate="48k"), "sample_rate"),
        (dict(kind="lowpass", frequency=100.0, sample_rate=True), "sample_rate"),
    ],
)
def test_bad_input(kwargs, message):
    kwargs.setdefault("sample_rate", FS)
    with pytest.raises((TypeError, ValueError), match=message):  # TypeError for a sample rate that is no number
        biquad_design(**kwargs)


@pytest.mark.parametrize("kind,numerator", [("lowpass", [0.0, 1.0]), ("highpass", [1.0, 0.0])])
@pytest.mark.parametrize("frequency", [20.0, 1000.0, 20000.0])
def test_one_pole_matches_bilinear_transform(kind, numerator, frequency):
    omega = 2 * FS * math.tan(math.pi * frequency / FS)
    b, a = ss.bilinear([numerator[0] / omega, numerator[1]], [1 / omega, 1.0], FS)
    ours = one_pole_design(kind, frequency, sample_rate=FS).numpy()
    np.testing.assert_allclose(ours[[0, 1, 3, 4]], np.concatenate([b / a[0], a / a[0]]), rtol=0, atol=1e-12)
    assert ours[2] == 0 and ours[5] == 0
    assert magnitude_db(torch.from_numpy(ours), frequency) == pytest.approx(-10 * math.log10(2), abs=1e-9)


def test_dc_blocker():
    sos = one_pole_design("dcblock", 10.0, sample_rate=FS)
    assert sos[4].item() == pytest.approx(-math.exp(-2 * math.pi * 10 / FS))
    assert magnitude_db(sos, FS / 2 - 1e-6) == pytest.approx(0.0, abs=1e-9)
    x = torch.full((1, 48000), 0.5, dtype=torch.float64)  # a pure offset dies out
    assert sosfilt(x, sos[None])[0, -100:].abs().max() < 1e-3


def test_one_pole_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        one_pole_design("bandpass", 100.0, sample_rate=FS)
    with pytest.raises(ValueError, match="frequency must lie"):
        one_pole_design("lowpass", 0.0, sample_rate=FS)
