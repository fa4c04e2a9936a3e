"""Plots of processors: frequency responses, static curves, control trajectories.

Every function returns a :class:`matplotlib.figure.Figure` built without
``pyplot`` (no global state, no display needed), ready for
``fig.savefig(...)`` or a logger's ``add_figure``.
"""

from typing import Dict, Mapping, Optional, Union

import numpy as np
import torch
from matplotlib.figure import Figure

from .processors.base import Processor

Tensor = torch.Tensor
Processors = Union[Processor, Mapping[str, Processor]]

__all__ = ["frequency_response", "plot_controls", "plot_frequency_response", "plot_transfer_curve", "transfer_curve"]


def _named(processors: Processors) -> Dict[str, Processor]:
    if isinstance(processors, Processor):
        return {type(processors).__name__: processors}
    if not processors:
        raise ValueError("nothing to plot: pass a processor or a non-empty mapping of them")
    return dict(processors)


@torch.no_grad()
def frequency_response(processor: Processor, n_fft: int = 8192, channels: int = 1):
    """Frequencies (Hz) and complex response of a *linear* processor, from its impulse response.

    Args:
        processor: a linear, time-invariant processor (filters, EQs, FIR ...).
        n_fft: impulse-response length and FFT size (resolution ``sample_rate / n_fft``).
        channels: channels of the impulse (the first channel's response is returned).

    Returns:
        ``(frequencies, response)``: numpy arrays of ``n_fft // 2 + 1`` values.

    Example:
        >>> import math
        >>> from ddsp_kit.processors.filters import Biquad
        >>> f, h = frequency_response(Biquad(48000, "peak", 1000.0, 2.0, 6.0), n_fft=4800)
        >>> round(20 * math.log10(abs(h[100])), 2)  # 100 bins of 10 Hz: 1 kHz
        6.0
    """
    if n_fft < 2:
        raise ValueError(f"n_fft must be >= 2, got {n_fft}")
    impulse = torch.zeros(1, channels, n_fft, dtype=next(processor.parameters(), torch.zeros(())).dtype)
    impulse[..., 0] = 1.0
    response = torch.fft.rfft(processor(impulse).audio[0, 0].double()).numpy()
    return np.fft.rfftfreq(n_fft, 1 / processor.sample_rate), response


def plot_frequency_response(processors: Processors, n_fft: int = 8192, min_hz: float = 20.0) -> Figure:
    """Magnitude (dB) and phase (degrees) against log frequency, one line per processor.

    Args:
        processors: a linear processor or a mapping ``label -> processor``.
        n_fft: FFT size of the impulse responses.
        min_hz: lowest frequency shown.

    Example:
        >>> from ddsp_kit.processors.filters import OnePole
        >>> fig = plot_frequency_response({"lp": OnePole(48000, "lowpass", 500.0)})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['magnitude (dB)', 'phase (degrees)']
    """
    figure = Figure(figsize=(7, 5), layout="constrained")
    magnitude, phase = figure.subplots(2, 1, sharex=True)
    for label, processor in _named(processors).items():
        frequencies, response = frequency_response(processor, n_fft)
        shown = frequencies >= min_hz
        magnitude.semilogx(frequencies[shown], 20 * np.log10(np.maximum(np.abs(response[shown]), 1e-12)), label=label)
        phase.semilogx(frequencies[shown], np.degrees(np.unwrap(np.angle(response)))[shown], label=label)
    magnitude.set_ylabel("magnitude (dB)")
    phase.set_ylabel("phase (degrees)")
    phase.set_xlabel("frequency (Hz)")
    magnitude.legend()
    for ax in (magnitude, phase):
        ax.grid(True, which="both", alpha=0.3)
    return figure


@torch.no_grad()
def transfer_curve(processor: Processor, amplitude: float = 1.5, points: int = 1001):
    """Static input/output curve of a processor.

    Processors with a ``static_curve(level_db)`` method (dynamics) are asked
    for output level against input level in dB, from -80 dB to +6 dB;
    others (memoryless waveshapers) get a ramp from ``-amplitude`` to
    ``amplitude`` sample by sample.

    Returns:
        ``(inputs, outputs)`` numpy arrays, and the axis unit (``"dB"`` or ``""``).
    """
    static_curve = getattr(processor, "static_curve", None)
    if callable(static_curve):
        levels = torch.linspace(-80.0, 6.0, points, dtype=torch.float64)
        return levels.numpy(), static_curve(levels).double().numpy(), "dB"
    ramp = torch.linspace(-amplitude, amplitude, points).reshape(1, 1, -1)
    return ramp.flatten().numpy(), processor(ramp).audio.flatten().double().numpy(), ""


def plot_transfer_curve(processors: Processors, amplitude: float = 1.5) -> Figure:
    """Static curves (see :func:`transfer_curve`), one line per processor, with the identity dashed.

    Example:
        >>> from ddsp_kit.processors.filters import OnePole
        >>> plot_transfer_curve(OnePole(48000, "lowpass", 20000.0)).axes[0].get_xlabel()
        'input'
    """
    figure = Figure(figsize=(5, 5), layout="constrained")
    ax = figure.subplots()
    unit = ""
    for label, processor in _named(processors).items():
        inputs, outputs, unit = transfer_curve(processor, amplitude)
        ax.plot(inputs, outputs, label=label)
    ax.plot(inputs, inputs, "k--", linewidth=0.8, label="identity")
    suffix = f" ({unit})" if unit else ""
    ax.set_xlabel("input" + suffix)
    ax.set_ylabel("output" + suffix)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return figure


def plot_controls(
    params: Mapping[str, Tensor], sample_rate: float, processor: Optional[Processor] = None, item: int = 0, channel: int = 0
) -> Figure:
    """Physical parameter trajectories over time, one panel per parameter.

    Args:
        params: the ``params`` of a :class:`~ddsp_kit.processors.Processed` result.
        sample_rate: Hz, for the time axis.
        processor: labels each panel with the parameter's unit when given.
        item, channel: which batch item and channel to draw.

    Example:
        >>> fig = plot_controls({"gain_db": torch.linspace(-6, 6, 480).reshape(1, 1, -1)}, 48000)
        >>> fig.axes[0].get_ylabel()
        'gain_db'
    """
    if not params:
        raise ValueError("no parameters to plot")
    figure = Figure(figsize=(7, 1.6 * len(params) + 0.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(len(params), 1, sharex=True, squeeze=False)[:, 0])
    longest = max(value.shape[-1] for value in params.values())
    for ax, (name, value) in zip(axes, params.items()):
        series = value.detach().double()
        series = series[min(item, series.shape[0] - 1), min(channel, series.shape[1] - 1)].numpy()
        if series.shape[-1] == 1:  # static: a flat line over the block
            series = np.repeat(series, longest)
        ax.plot(np.arange(series.shape[-1]) / sample_rate, series)
        unit = processor.specs[name].unit if processor is not None and name in processor.specs else ""
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
        if processor is not None and name in processor.specs and processor.specs[name].scale == "log":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    return figure

