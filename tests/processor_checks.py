"""Checks every processor must pass: streaming equality and gradients to every parameter."""

import torch
from torch.autograd import gradcheck


def block_sizes(total: int, seed: int = 0) -> list:
    """Random block sizes covering ``total`` samples, starting with blocks of 1."""
    g = torch.Generator().manual_seed(seed)
    sizes = [1, 1]
    while sum(sizes) < total:
        sizes.append(int(torch.randint(1, 97, (1,), generator=g)))
    sizes[-1] -= sum(sizes) - total
    return [s for s in sizes if s > 0]


def stream(processor, x, controls=None, sizes=None, knobs=None, **inputs):
    """Process ``x`` block by block, carrying the state and slicing per-sample controls and inputs."""
    controls = controls or {}
    sizes = sizes or block_sizes(x.shape[-1])
    state, outputs, start = None, [], 0
    for size in sizes:
        stop = start + size
        block_controls = {k: v if v.shape[-1] == 1 else v[..., start:stop] for k, v in controls.items()}
        block_inputs = {k: v[..., start:stop] for k, v in inputs.items()}
        if knobs is not None:
            block_inputs["knobs"] = knobs
        result = processor(x[..., start:stop], block_controls, state, **block_inputs)
        outputs.append(result.audio)
        state = result.state
        start = stop
    return torch.cat(outputs, -1)


def assert_streams(processor, x, controls=None, atol=1e-5, knobs=None, **inputs):
    """Blocks of random sizes (including 1) give the one-pass output."""
    whole = processor(x, controls, **inputs, **({} if knobs is None else {"knobs": knobs})).audio
    parts = stream(processor, x, controls, knobs=knobs, **inputs)
    error = (parts - whole).abs().max().item()
    assert error <= atol, f"streaming differs from one pass by {error:.3g} (atol {atol:g})"


def raw_controls(processor, steps: int, per_sample: bool, seed: int = 0) -> dict:
    """float64 unconstrained controls near the processor's values: static or per-sample (a slow wobble)."""
    g = torch.Generator().manual_seed(seed)
    controls = {}
    for name in processor.specs:
        base = processor.raw[name].detach().double().reshape(1, 1, 1)
        if per_sample:
            phase = 6.283 * torch.rand(1, generator=g, dtype=torch.float64)
            base = base + 0.3 * torch.sin(torch.linspace(0, 3, steps, dtype=torch.float64) + phase).reshape(1, 1, -1)
        controls[name] = base.clone().requires_grad_()
    return controls


def assert_gradients(processor, x, per_sample: bool = False, **inputs):
    """float64 gradcheck of the output with respect to the input and every parameter's control."""
    processor = processor.double()
    x = x.double().requires_grad_()
    controls = raw_controls(processor, x.shape[-1], per_sample)
    names = list(controls)

    def run(x, *values):
        return processor(x, dict(zip(names, values)), **inputs).audio

    assert gradcheck(run, (x, *controls.values()), eps=1e-6, atol=1e-5, rtol=1e-4)
    # Every parameter must actually move the output.
    loss = run(x, *controls.values()).square().sum()
    grads = torch.autograd.grad(loss, list(controls.values()))
    for name, grad in zip(names, grads):
        assert grad.abs().sum() > 0, f"no gradient reaches {name!r}"


def perturbed(module, scale: float = 0.05, seed: int = 0):
    """``module`` with every parameter moved off its initial value, as training would (in place)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return module
