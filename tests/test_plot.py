"""Plots draw the numbers they claim to draw."""

import numpy as np
import pytest
import torch

from ddsp_kit.plot import frequency_response, plot_controls, plot_frequency_response, plot_transfer_curve
from ddsp_kit.processors.filters import Biquad, OnePole, ParametricEQ


def test_frequency_response_matches_the_design():
    eq = ParametricEQ(48000, bands=1, shelves=False, peak1_frequency=2000.0, peak1_gain_db=-9.0, peak1_q=2.0).double()
    frequencies, response = frequency_response(eq, n_fft=4800)
    assert frequencies[200] == pytest.approx(2000.0)
    assert 20 * np.log10(abs(response[200])) == pytest.approx(-9.0, abs=1e-3)  # truncation of a decayed IR
    figure = plot_frequency_response({"eq": eq, "lp": OnePole(48000, "lowpass", 300.0)}, n_fft=4800)
    line = figure.axes[0].lines[0]
    assert np.interp(2000.0, line.get_xdata(), line.get_ydata()) == pytest.approx(-9.0, abs=1e-3)
    assert len(figure.axes[1].lines) == 2


def test_transfer_curve_of_a_linear_block_is_the_identity():
    figure = plot_transfer_curve(Biquad(48000, "allpass", 20000.0, 0.1))
    line = figure.axes[0].lines[0]
    # A ramp through an all-pass at 20 kHz comes out delayed a little: check the middle of the ramp.
    assert np.allclose(line.get_ydata()[400:600], line.get_xdata()[400:600], atol=0.01)


def test_plot_controls_draws_static_and_per_sample_values_with_units():
    eq = Biquad(48000, "peak")
    params = {"frequency": torch.full((1, 1, 1), 1000.0), "gain_db": torch.linspace(-3, 3, 480).reshape(1, 1, -1)}
    figure = plot_controls(params, 48000, processor=eq)
    assert [ax.get_ylabel() for ax in figure.axes] == ["frequency (Hz)", "gain_db (dB)"]
    assert figure.axes[0].lines[0].get_ydata().shape == (480,)
    assert figure.axes[1].lines[0].get_xdata()[-1] == pytest.approx(479 / 48000)


def test_plots_reject_empty_input():
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_frequency_response({})
    with pytest.raises(ValueError, match="no parameters"):
        plot_controls({}, 48000)


def test_transfer_curve_of_a_compressor_is_its_static_curve():
    from ddsp_kit.plot import transfer_curve
    from ddsp_kit.processors import Compressor

    levels, outputs, unit = transfer_curve(Compressor(48000, threshold_db=-20.0, ratio=4.0, knee_db=6.0, makeup_db=3.0).double())
    assert unit == "dB"
    above = levels > -17.0  # beyond the knee: T + (x - T) / R + makeup
    np.testing.assert_allclose(outputs[above], -20.0 + (levels[above] + 20.0) / 4 + 3.0, atol=1e-4)
    below = levels < -23.0
    np.testing.assert_allclose(outputs[below], levels[below] + 3.0, atol=1e-4)
    assert plot_transfer_curve(Compressor(48000)).axes[0].get_xlabel() == "input (dB)"
