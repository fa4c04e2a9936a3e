"""Running a trained model on audio files: ``ddsp-kit process MODEL in.wav out.wav``.

The model streams through the file in blocks, carrying its state, exactly as a
plugin would (block-wise processing equals one pass; see
:class:`~ddsp_kit.processors.Processor`). Files are read and written with
soundfile as float32; the file's sample rate must be the model's (no silent
resampling).
"""

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .export import load_model
from .processors import Processor

PathLike = Union[str, Path]


def process_audio(
    model: Processor,
    audio: torch.Tensor,
    block_size: Optional[int] = None,
    knobs: Optional[Sequence[float]] = None,
    compensate_latency: bool = False,
) -> torch.Tensor:
    """Stream ``audio`` ``(channels, samples)`` through ``model`` in blocks of ``block_size`` (all at once if None).

    Args:
        model: the processor or model.
        audio: ``(channels, samples)`` at ``model.sample_rate``.
        block_size: samples per block, >= 1; None processes the whole signal in one block.
        knobs: the knob values in [0, 1] for a model that reads knobs.
        compensate_latency: shift the output earlier by ``model.latency`` samples
            (the input is padded with that many zeros so nothing is cut).

    Returns:
        ``(channels_out, samples)``.

    Example:
        >>> from ddsp_kit.processors import Gain
        >>> process_audio(Gain(48000, -6.0), torch.ones(1, 4), block_size=3).round(decimals=3)
        tensor([[0.5010, 0.5010, 0.5010, 0.5010]])
    """
    if audio.dim() != 2 or audio.shape[-1] == 0:
        raise ValueError(f"audio must be (channels, samples) with samples > 0, got {tuple(audio.shape)}")
    if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be an int >= 1 or None, got {block_size!r}")
    extra = {}
    if model.num_knobs:
        if knobs is None:
            raise ValueError(f"the model reads {model.num_knobs} knobs: pass their values in [0, 1]")
        extra["knobs"] = torch.tensor([list(knobs)], dtype=torch.float32)
    elif knobs:
        raise ValueError("the model reads no knobs")
    dtype = next(model.parameters(), torch.zeros(())).dtype
    samples = audio.shape[-1]
    lag = int(model.latency) if compensate_latency else 0
    x = torch.nn.functional.pad(audio.to(dtype), (0, lag)).unsqueeze(0)
    step = x.shape[-1] if block_size is None else block_size
    outputs, state = [], None
    with torch.no_grad():
        for start in range(0, x.shape[-1], step):
            result = model(x[..., start:start + step], state=state, **extra)
            outputs.append(result.audio)
            state = result.state
    return torch.cat(outputs, -1)[0, :, lag:lag + samples]


def process_file(
    model: Union[Processor, PathLike],
    input_path: PathLike,
    output_path: PathLike,
    block_size: Optional[int] = 512,
    knobs: Optional[Sequence[float]] = None,
    compensate_latency: bool = False,
) -> Path:
    """Read ``input_path``, run :func:`process_audio`, write ``output_path`` (float WAV); returns the output path."""
    import soundfile

    if not isinstance(model, Processor):
        model = load_model(model)
    try:
        audio, rate = soundfile.read(str(input_path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise ValueError(f"{input_path}: cannot read audio ({error})") from None
    if rate != model.sample_rate:
        raise ValueError(f"{input_path}: sample rate {rate} Hz, the model runs at {model.sample_rate:g} Hz; resample the file first")
    if not np.isfinite(audio).all():
        raise ValueError(f"{input_path}: holds NaN or Inf samples")
    y = process_audio(model, torch.from_numpy(audio.T.copy()), block_size, knobs, compensate_latency)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(output_path), y.T.float().numpy(), rate, subtype="FLOAT")
    return output_path
