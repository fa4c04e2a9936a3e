"""Losses (ddsp_kit.losses) and evaluation metrics (ddsp_kit.metrics)."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_kit import losses, metrics

pytest.importorskip("auraloss")
pytest.importorskip("pyloudnorm")

RATE = 16000


def _signals(seed=0, shape=(3, 2, 64), dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(shape, generator=generator, dtype=dtype)
    pred = target + 0.3 * torch.randn(shape, generator=generator, dtype=dtype)
    return pred, target


# --- losses against hand-computed values -------------------------------------


def test_esr_matches_numpy_per_item_and_mean():
    pred, target = _signals()
    p, t = pred.numpy(), target.numpy()
    expected = ((t - p) ** 2).sum(axis=(1, 2)) / (t**2).sum(axis=(1, 2))
    per_item = losses.esr(pred, target, eps=0.0, reduction="none")
    np.testing.assert_allclose(per_item.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(losses.esr(pred, target, eps=0.0).item(), expected.mean(), rtol=1e-12)


def test_esr_reference_values():
    _, target = _signals()
    assert losses.esr(target, target).item() == 0.0
    assert losses.esr(torch.zeros_like(target), target).item() == pytest.approx(1.0, abs=1e-9)
    assert losses.esr(-target, target).item() == pytest.approx(4.0, abs=1e-9)


@pytest.mark.parametrize("coefficient", [0.95, 0.85, -0.5])
def test_pre_emphasis_matches_lfilter(coefficient):
    _, target = _signals()
    expected = scipy.signal.lfilter([1, -coefficient], [1], target.numpy(), axis=-1)
    np.testing.assert_allclose(losses.pre_emphasis(target, coefficient).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_esr_with_pre_emphasis_matches_numpy():
    pred, target = _signals()
    p = scipy.signal.lfilter([1, -0.95], [1], pred.numpy(), axis=-1)
    t = scipy.signal.lfilter([1, -0.95], [1], target.numpy(), axis=-1)
    expected = ((t - p) ** 2).sum(axis=(1, 2)) / (t**2).sum(axis=(1, 2))
    value = losses.esr(pred, target, pre_emphasis=0.95, eps=0.0, reduction="none")
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-12)


def test_l1_and_dc_match_numpy():
    pred, target = _signals()
    p, t = pred.numpy(), target.numpy()
    np.testing.assert_allclose(
        losses.l1(pred, target, reduction="none").numpy(), np.abs(t - p).mean(axis=(1, 2)), rtol=1e-12
    )
    dc = ((t - p).mean(axis=-1) ** 2).mean(axis=-1) / (t**2).mean(axis=(1, 2))
    np.testing.assert_allclose(losses.dc_loss(pred, target, eps=0.0, reduction="none").numpy(), dc, rtol=1e-12)
    # A pure offset of 0.5 on a zero-mean square wave of power 1: 0.25.
    square = torch.tensor([1.0, -1.0] * 8).reshape(1, 1, -1)
    assert losses.dc_loss(square + 0.5, square).item() == pytest.approx(0.25, rel=1e-6)


# --- gradients -----------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        losses.esr,
        lambda p, t: losses.esr(p, t, pre_emphasis=0.95),
        losses.l1,
        losses.dc_loss,
    ],
    ids=["esr", "esr_pre_emphasis", "l1", "dc"],
)
def test_gradcheck(loss):
    pred, target = _signals(shape=(2, 1, 16))
    pred.requires_grad_(True)
    target.requires_grad_(True)
    assert torch.autograd.gradcheck(loss, (pred, target))


def test_mrstft_gradient_is_finite_and_loss_orders():
    generator = torch.Generator().manual_seed(1)
    target = torch.randn(2, 1, 4096, generator=generator)
    pred = (target + 0.5 * torch.randn(2, 1, 4096, generator=generator)).requires_grad_(True)
    value = losses.mrstft(pred, target)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert losses.mrstft(target, target).item() < 1e-6
    assert losses.mrstft(pred.detach(), target, reduction="none").shape == (2,)


def test_mrstft_options_and_short_signal():
    target = torch.randn(1, 1, 1000)
    assert losses.mrstft(0.5 * target, target, fft_sizes=[256], hop_sizes=[64], win_lengths=[256]).item() > 0
    with pytest.raises(ValueError, match="at least 1025 samples"):
        losses.mrstft(target, target)
    with pytest.raises(ValueError, match="one length"):
        losses.MRSTFTLoss(fft_sizes=[512, 1024], hop_sizes=[128], win_lengths=[512])
    with pytest.raises(ValueError, match="window"):
        losses.MRSTFTLoss(window="no_such_window")


# --- CompositeLoss -------------------------------------------------------------


def test_composite_loss_from_config():
    pred, target = _signals(shape=(2, 1, 4096))
    config = {"esr": 1.0, "mrstft": 0.1, "dc": 0.5}
    loss = losses.CompositeLoss(config, esr={"pre_emphasis": 0.95})
    total, terms = loss(pred, target)
    assert set(terms) == set(config)
    expected_esr = losses.esr(pred, target, pre_emphasis=0.95)
    torch.testing.assert_close(terms["esr"], expected_esr)
    torch.testing.assert_close(terms["mrstft"], losses.mrstft(pred, target))
    torch.testing.assert_close(total, sum(config[name] * value for name, value in terms.items()))
    per_item = loss(pred, target, reduction="none")
    assert per_item.total.shape == (2,)
    torch.testing.assert_close(per_item.total.mean(), total)


def test_composite_loss_backward():
    pred, target = _signals(shape=(1, 1, 2048), dtype=torch.float32)
    pred.requires_grad_(True)
    losses.CompositeLoss({"esr": 1.0, "l1": 1.0, "mrstft": 0.1})(pred, target).total.backward()
    assert torch.isfinite(pred.grad).all()


def test_composite_loss_errors():
    with pytest.raises(ValueError, match=r"unknown loss name\(s\) \['spectral'\]"):
        losses.CompositeLoss({"esr": 1.0, "spectral": 1.0})
    with pytest.raises(ValueError, match="non-empty"):
        losses.CompositeLoss({})
    with pytest.raises(ValueError, match="weight of 'esr'"):
        losses.CompositeLoss({"esr": -1.0})
    with pytest.raises(ValueError, match="not among the terms"):
        losses.CompositeLoss({"esr": 1.0}, mrstft={"fft_sizes": [256]})
    with pytest.raises(TypeError):
        losses.CompositeLoss({"esr": 1.0}, esr={"no_such_option": 1})


# --- metrics -----------------------------------------------------------------


def _tone(seconds=1.0, rate=RATE, channels=1):
    t = torch.arange(round(seconds * rate), dtype=torch.float64) / rate
    generator = torch.Generator().manual_seed(2)
    noise = 0.05 * torch.randn(channels, t.numel(), generator=generator, dtype=torch.float64)
    return (0.3 * torch.sin(2 * math.pi * 440 * t) + noise).expand(2, channels, -1).contiguous()


def test_esr_metrics():
    _, target = _signals()
    assert metrics.esr(0.5 * target, target) == pytest.approx(0.25, rel=1e-6)
    assert metrics.esr_db(0.9 * target, target) == pytest.approx(-20.0, abs=1e-6)
    assert metrics.esr_db(target, target) == -math.inf


@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_difference_of_6_db(channels):
    target = _tone(channels=channels)
    louder = target * 10 ** (6 / 20)
    assert metrics.loudness_difference_lu(louder, target, RATE) == pytest.approx(6.0, abs=1e-6)
    assert metrics.loudness_difference_lu(target, louder, RATE) == pytest.approx(-6.0, abs=1e-6)
    assert metrics.loudness_difference_lu(target, target, RATE) == 0.0


def test_loudness_errors():
    target = _tone(seconds=0.3)
    with pytest.raises(ValueError, match="400 ms gating block"):
        metrics.loudness_difference_lu(target, target, RATE)
    silent = torch.zeros(1, 1, RATE)
    with pytest.raises(ValueError, match="silent"):
        metrics.loudness_difference_lu(silent, silent, RATE)
    assert metrics.loudness_difference_lu(silent, _tone()[:1], RATE) == -math.inf
    with pytest.raises(ValueError, match="at most 5 channels"):
        wide = torch.randn(1, 6, RATE)
        metrics.loudness_difference_lu(wide, wide, RATE)
    with pytest.raises(ValueError, match="sample_rate"):
        metrics.loudness_difference_lu(_tone(), _tone(), 0)


def test_polarity_detects_an_inverted_prediction():
    pred, target = _signals()
    report = metrics.polarity(-pred, target)
    assert report["inverted"] is True
    assert report["esr"] > 3 and report["esr_inverted"] < 0.2
    assert report["esr_inverted"] == pytest.approx(metrics.esr(pred, target))
    report = metrics.polarity(pred, target)
    assert report["inverted"] is False and report["esr"] < report["esr_inverted"]


@pytest.mark.parametrize("delay", [0, 1, 7, -5, 40])
def test_lag_recovers_integer_delays_with_noise(delay):
    generator = torch.Generator().manual_seed(3)
    source = torch.randn(2, 2, 3000, generator=generator, dtype=torch.float64)
    target = source[..., 100:2100]
    pred = source[..., 100 - delay : 2100 - delay] + 0.3 * torch.randn(2, 2, 2000, generator=generator, dtype=torch.float64)
    found = metrics.lag(pred, target, max_lag=50)
    assert found.samples == delay
    assert 0.85 < found.peak <= 1.0
    inverted = metrics.lag(-pred, target, max_lag=50)
    assert inverted.samples == delay and inverted.peak == pytest.approx(-found.peak)


def test_lag_errors_and_silence():
    _, target = _signals()
    with pytest.raises(ValueError, match="max_lag"):
        metrics.lag(target, target, max_lag=64)
    with pytest.raises(ValueError, match="max_lag"):
        metrics.lag(target, target, max_lag=-1)
    assert metrics.lag(torch.zeros_like(target), target, 5) == (0, 0.0)


def test_evaluate_reports_every_metric():
    target = _tone()
    pred = -torch.nn.functional.pad(target, (3, 0))[..., :-3]
    report = metrics.evaluate(pred, target, RATE)
    assert set(report) == {
        "esr", "esr_db", "mrstft", "l1", "dc", "loudness_difference_lu",
        "inverted", "esr_inverted", "lag_samples", "lag_peak",
    }  # fmt: skip
    assert report["inverted"] is True and report["lag_samples"] == 3
    assert report["lag_peak"] < -0.9
    assert abs(report["loudness_difference_lu"]) < 0.1
    assert all(isinstance(value, (bool, int, float)) for value in report.values())


# --- bad input -----------------------------------------------------------------

FUNCTIONS = [
    losses.esr,
    losses.l1,
    losses.dc_loss,
    losses.mrstft,
    metrics.esr,
    metrics.polarity,
    lambda p, t: metrics.lag(p, t, 0),
    lambda p, t: metrics.loudness_difference_lu(p, t, RATE),
    lambda p, t: metrics.evaluate(p, t, RATE),
]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_bad_input(function):
    good = torch.randn(1, 1, RATE)
    with pytest.raises(ValueError, match="same shape"):
        function(good, torch.randn(1, 2, RATE))
    bad = good.clone()
    bad[0, 0, 5] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        function(bad, good)
    with pytest.raises(ValueError, match="Inf"):
        function(good, bad.nan_to_num(posinf=0.0, nan=math.inf))
    with pytest.raises(ValueError, match="samples > 0"):
        function(torch.zeros(1, 1, 0), torch.zeros(1, 1, 0))
    with pytest.raises(ValueError, match=r"\(batch, channels, samples\)"):
        function(good[0], good[0])
    with pytest.raises(TypeError):
        function(good.numpy(), good)


def test_bad_options():
    _, target = _signals()
    with pytest.raises(ValueError, match="reduction"):
        losses.esr(target, target, reduction="sum")
    with pytest.raises(ValueError, match="pre-emphasis coefficient"):
        losses.esr(target, target, pre_emphasis=math.nan)
    with pytest.raises(ValueError, match="eps"):
        losses.dc_loss(target, target, eps=-1.0)
