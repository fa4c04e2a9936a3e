"""ddsp_kit: differentiable audio DSP, from a recording of a real effect to a plugin."""

__version__ = "0.1.0"
