"""Black-box models (recurrent, TCN, S4D) and their knob conditioning (FiLM, TFiLM):
streaming, the S4D's two modes, the TCN's receptive field, gradients,
parameter counts against NablAFx's configurations, rebuilding, bad input.

Tolerances: float64 streaming and mode agreement to 1e-10 (block sizes only
change the order of a few roundings of O(1) values); float32 to 1e-5 (the
S4D's convolution mode goes through FFTs of twice the signal length).
"""

import functools
import json
import math

import pytest
import torch
from torch.autograd import gradcheck

from processor_checks import assert_streams

from ddsp_kit.models.conditioning import FiLM, TFiLM
from ddsp_kit.models.recurrent import RecurrentModel
from ddsp_kit.models.ssm import S4DLayer, S4DModel
from ddsp_kit.models.tcn import TCN

FS = 48000.0
KNOBS = 2

# Small models covering every conditioning path: (class, constructor arguments).
CONFIGS = [
    (RecurrentModel, dict(hidden=6)),
    (RecurrentModel, dict(hidden=5, cell="gru", layers=2, in_channels=2, out_channels=2, residual=True)),
    (RecurrentModel, dict(hidden=6, num_knobs=KNOBS)),
    (RecurrentModel, dict(hidden=6, cell="gru", num_knobs=KNOBS, modulation="film")),
    (RecurrentModel, dict(hidden=6, num_knobs=KNOBS, concat_knobs=False, modulation="tfilm", block_size=16)),
    (TCN, dict(channels=4, blocks=3, kernel_size=3, dilation_growth=3)),
    (TCN, dict(channels=4, blocks=4, kernel_size=3, stack_size=2, in_channels=2, out_channels=3, num_knobs=KNOBS)),
    (TCN, dict(channels=4, blocks=2, kernel_size=5, modulation="tfilm", block_size=16)),
    (TCN, dict(channels=3, blocks=2, kernel_size=3, num_knobs=KNOBS, modulation="tfilm", block_size=7)),
    (S4DModel, dict(channels=4, layers=2, state_size=3)),
    (S4DModel, dict(channels=3, layers=2, state_size=2, in_channels=2, out_channels=2, num_knobs=KNOBS)),
    (S4DModel, dict(channels=3, layers=2, state_size=2, num_knobs=KNOBS, modulation="tfilm", block_size=16)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CONFIGS)]


def build(cls, kwargs, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return cls(FS, **kwargs).to(dtype)


def knobs_for(model, batch=1, dtype=torch.float64, seed=1):
    if not model.num_knobs:
        return {}
    g = torch.Generator().manual_seed(seed)
    return {"knobs": 0.2 + 0.6 * torch.rand(batch, model.num_knobs, generator=g, dtype=dtype)}


def signal(model, samples=300, batch=2, dtype=torch.float64, seed=2):
    g = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(batch, model.in_channels, samples, generator=g, dtype=dtype)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


def lstm_count(inputs, hidden, gates=4):
    """torch's LSTM (4 gates) or GRU (3): input and recurrent weights, two biases per gate."""
    return gates * hidden * (inputs + hidden + 2)


def conv_count(inputs, outputs, kernel=1, bias=True):
    return outputs * inputs * kernel + (outputs if bias else 0)


# -- streaming -----------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=IDS)
def test_blocks_of_any_size_equal_one_pass_float64(cls, kwargs):
    model = build(cls, kwargs)
    knobs = knobs_for(model, batch=2)
    assert_streams(functools.partial(model, **knobs), signal(model), atol=1e-10)


@pytest.mark.parametrize("cls, kwargs", [CONFIGS[4], CONFIGS[6], CONFIGS[11]], ids=["lstm", "tcn", "s4d"])
def test_blocks_of_any_size_equal_one_pass_float32(cls, kwargs):
    model = build(cls, kwargs, torch.float32)
    knobs = knobs_for(model, dtype=torch.float32)
    assert_streams(functools.partial(model, **knobs), signal(model, dtype=torch.float32), atol=1e-5)


def test_tfilm_streams_across_its_block_grid():
    torch.manual_seed(0)
    tfilm = TFiLM(channels=3, num_knobs=1, block_size=5).double()
    x = torch.randn(2, 3, 23, dtype=torch.float64)
    knobs = torch.tensor([[0.3]], dtype=torch.float64)
    whole, state = tfilm(x, knobs, {})
    assert int(state["count"]) == 23 % 5
    parts, state = [], {}
    for start, stop in [(0, 1), (1, 4), (4, 5), (5, 16), (16, 23)]:
        y, state = tfilm(x[..., start:stop], knobs, state)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, -1), whole, rtol=0, atol=1e-12)


def test_tfilm_is_causal_per_block():
    """A change in block k leaves blocks <= k's modulation alone: only block k's own samples move."""
    torch.manual_seed(0)
    tfilm = TFiLM(channels=2, block_size=4).double()
    x = torch.randn(1, 2, 16, dtype=torch.float64)
    changed = x.clone()
    changed[..., 5] += 1.0  # block 1
    before, after = tfilm(x, None, {})[0], tfilm(changed, None, {})[0]
    moved = (before - after).abs().amax(1)[0] > 0
    assert moved[:5].sum() == 0 and moved[5] and moved[6:8].sum() == 0 and moved[8:].all()


# -- S4D -------------------------------------------------------------------------


def test_s4d_convolution_mode_equals_recurrent_mode():
    torch.manual_seed(0)
    model = S4DModel(FS, channels=8, layers=3, state_size=16)  # recurrence cost kept small; S4-L-16 below
    x = 0.5 * torch.randn(2, 1, 2048)
    for dtype, tolerance in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        model = model.to(dtype)
        with torch.no_grad():
            convolution = model(x.to(dtype))
            recurrent = model(x.to(dtype), state=model.initial_state(batch=2))
        error = (convolution.audio - recurrent.audio).abs().max().item()
        state_error = max((convolution.state[k] - recurrent.state[k]).abs().max().item() for k in recurrent.state)
        print(f"\nS4D convolution vs recurrent mode, {dtype}: output {error:.2e}, final state {state_error:.2e}")
        assert error < tolerance and state_error < tolerance


def test_s4d_default_size_modes_agree_in_float32():
    torch.manual_seed(0)
    model = S4DModel(FS)
    x = 0.5 * torch.randn(1, 1, 1024)
    with torch.no_grad():
        error = (model(x).audio - model(x, state=model.initial_state()).audio).abs().max().item()
    print(f"\nS4-L-16 size, float32, 1024 samples: convolution vs recurrent {error:.2e}")
    assert error < 1e-5


def test_s4d_layer_kernel_is_the_impulse_response_and_decays():
    torch.manual_seed(0)
    layer = S4DLayer(channels=3, state_size=4, dt_min=0.01, dt_max=0.5).double()
    with torch.no_grad():
        layer.log_decay.uniform_(-8, 3)  # any value: the real part of A stays negative
        impulse = torch.zeros(1, 3, 200, dtype=torch.float64)
        impulse[..., 0] = 1
        response, _ = layer(impulse, torch.zeros(1, 3, 4, 2, dtype=torch.float64))
        expected = layer.kernel(200) + layer.d.unsqueeze(-1) * impulse[0]
        torch.testing.assert_close(response[0], expected, rtol=0, atol=1e-12)
        dta, _ = layer.discretize()
        assert bool((dta.real < 0).all()) and bool((torch.exp(dta).abs() < 1).all())


def test_s4d_initial_state_selects_the_recurrent_mode_and_rejects_bad_batches():
    model = build(S4DModel, CONFIGS[9][1])
    state = model.initial_state(batch=3)
    assert sorted(state) == ["layer0", "layer1"] and state["layer0"].shape == (3, 4, 3, 2)
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        model.initial_state(batch=0)


# -- TCN receptive field ---------------------------------------------------------


def test_tcn_receptive_field_bounds_the_effect_of_an_impulse():
    model = build(TCN, dict(channels=4, blocks=3, kernel_size=3, dilation_growth=2))
    field = model.receptive_field
    assert field == 1 + 2 * (1 + 2 + 4) == 15
    silence = torch.zeros(1, 1, 64, dtype=torch.float64)
    impulse = silence.clone()
    at = 20
    impulse[..., at] = 1.0
    with torch.no_grad():
        moved = (model(impulse).audio - model(silence).audio).abs()[0, 0] > 1e-14
    assert moved[at] and moved[at + field - 1]  # the bound is tight at both ends
    assert moved[:at].sum() == 0 and moved[at + field :].sum() == 0


def test_tcn_receptive_field_of_the_default_size_and_with_tfilm():
    # NablAFx's compute_receptive_field for TCN-45-S-16: 7 + 6 * (4 + 16 + 64 + 256) = 2047.
    assert TCN(FS).receptive_field == 1 + 6 * (1 + 4 + 16 + 64 + 256) == 2047
    assert TCN(FS, blocks=4, dilation_growth=2, stack_size=2).dilations == [1, 2, 1, 2]
    assert TCN(FS, modulation="tfilm").receptive_field == math.inf
    assert RecurrentModel(FS).receptive_field == math.inf == S4DModel(FS, layers=1).receptive_field


# -- conditioning and gradients ----------------------------------------------------


CONDITIONED = [(config, name) for config, name in zip(CONFIGS, IDS) if config[1].get("num_knobs")]


@pytest.mark.parametrize("cls, kwargs", [config for config, _ in CONDITIONED], ids=[name for _, name in CONDITIONED])
def test_changing_a_knob_changes_the_output(cls, kwargs):
    model = build(cls, kwargs)
    x = signal(model, samples=64)
    knobs = torch.full((1, model.num_knobs), 0.5, dtype=torch.float64)
    with torch.no_grad():
        reference = model(x, knobs=knobs).audio
        for k in range(model.num_knobs):
            turned = knobs.clone()
            turned[0, k] = 0.9
            assert (model(x, knobs=turned).audio - reference).abs().max() > 1e-6, f"knob {k} does nothing"


TINY = [
    (RecurrentModel, dict(hidden=3, num_knobs=KNOBS, modulation="film", film_hidden=3)),
    (RecurrentModel, dict(hidden=3, cell="gru", num_knobs=KNOBS, modulation="tfilm", block_size=4, film_hidden=3)),
    (TCN, dict(channels=2, blocks=2, kernel_size=2, num_knobs=KNOBS, film_hidden=3)),
    (TCN, dict(channels=2, blocks=2, kernel_size=2, num_knobs=KNOBS, modulation="tfilm", block_size=4, film_hidden=3)),
    (S4DModel, dict(channels=2, layers=2, state_size=2, num_knobs=KNOBS, film_hidden=3)),
    (S4DModel, dict(channels=2, layers=2, state_size=2, num_knobs=KNOBS, modulation="tfilm", block_size=4,
                    film_hidden=3)),
]


@pytest.mark.parametrize("cls, kwargs", TINY, ids=[f"{cls.__name__}-{kwargs.get('modulation', 'film')}" for cls, kwargs in TINY])
def test_gradients_reach_inputs_knobs_and_every_weight(cls, kwargs):
    model = build(cls, kwargs)
    x = signal(model, samples=12, batch=2).requires_grad_()
    knobs = knobs_for(model, batch=2)["knobs"].requires_grad_()
    runs = [lambda x, k: model(x, knobs=k).audio]
    if cls is S4DModel:  # the recurrent mode too
        runs.append(lambda x, k: model(x, state=model.initial_state(batch=2), knobs=k).audio)
    for run in runs:
        assert gradcheck(run, (x, knobs), eps=1e-6, atol=1e-6, rtol=1e-5)
    model.zero_grad()
    runs[0](x, knobs).square().sum().backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not silent, f"no gradient reaches {silent}"
    assert x.grad.abs().sum() > 0 and knobs.grad.abs().sum() > 0


def test_film_is_an_affine_map_from_the_knobs():
    torch.manual_seed(0)
    film = FiLM(channels=3, num_knobs=2, hidden=4).double()
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    knobs = torch.rand(2, 2, dtype=torch.float64)
    y, state = film(x, knobs, {})
    gamma, beta = film.net(knobs).unsqueeze(-1).chunk(2, 1)
    torch.testing.assert_close(y, x * (1 + gamma) + beta, rtol=0, atol=1e-15)
    assert state == {}


# -- sizes -------------------------------------------------------------------------


def test_parameter_counts_of_the_nablafx_sizes():
    counts = {}
    # LSTM-32 / LSTM-96: nn.LSTM(1, H) and a linear H -> 1, NablAFx's exact shape.
    for hidden in (32, 96):
        model = RecurrentModel(FS, hidden=hidden)
        by_hand = lstm_count(1, hidden) + conv_count(hidden, 1)
        counts[f"LSTM-{hidden}"] = (parameter_count(model), by_hand)
    # NablAFx LSTM-32: 4*32*(1+32+2) + 33 = 4513; LSTM-96: 4*96*(1+96+2) + 97 = 38113.
    nablafx = {"LSTM-32": 4513, "LSTM-96": 38113}

    # TCN-45-S-16: 5 blocks, kernel 7, 16 channels, dilations 1..256, biases;
    # residual: a 1x1 projection 1 -> 16 into the first block, identity after.
    model = TCN(FS)
    by_hand = conv_count(1, 16, 7) + 4 * conv_count(16, 16, 7) + conv_count(1, 16, bias=False) + conv_count(16, 1)
    counts["TCN-45-S-16"] = (parameter_count(model), by_hand)
    # NablAFx: the same convolutions (128 + 4 * 1808 + 17) plus a depthwise 1x1
    # residual gain per block (16 * 5): 7457.
    nablafx["TCN-45-S-16"] = 7457

    # S4-L-16: 8 layers of 16 channels, 32 complex modes; per layer a 16x16 mixer
    # and the S4D (log_dt, log_decay, frequency, C re/im, D): 16 * (4 * 32 + 2).
    model = S4DModel(FS)
    by_hand = conv_count(1, 16) + 8 * (conv_count(16, 16) + 16 * (4 * 32 + 2)) + conv_count(16, 1)
    counts["S4-L-16"] = (parameter_count(model), by_hand)
    # NablAFx: expand 32, per block linear 272 + DSSM 2080 + residual gain 16, contract 17: 18993.
    nablafx["S4-L-16"] = 18993

    print()
    for name, (ours, by_hand) in counts.items():
        print(f"{name:12s} ours {ours:6d}   NablAFx {nablafx[name]:6d}")
        assert ours == by_hand, name
    assert counts["LSTM-32"][0] == nablafx["LSTM-32"] and counts["LSTM-96"][0] == nablafx["LSTM-96"]


def test_conditioning_parameter_counts():
    hidden, channels = 16, 16
    film = FiLM(channels, KNOBS, hidden)
    assert parameter_count(film) == KNOBS * hidden + hidden + hidden * 2 * channels + 2 * channels
    tfilm = TFiLM(channels, KNOBS, 128, hidden)
    assert parameter_count(tfilm) == lstm_count(channels + KNOBS, hidden) + conv_count(hidden, 2 * channels)
    model = TCN(FS, num_knobs=KNOBS)
    assert parameter_count(model) == parameter_count(TCN(FS)) + 5 * parameter_count(film)


# -- rebuilding --------------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=IDS)
def test_models_rebuild_from_their_arguments(cls, kwargs):
    model = build(cls, kwargs, torch.float32, seed=3)
    arguments = json.loads(json.dumps(model.init_arguments))  # JSON values only
    assert arguments["sample_rate"] == FS and all(arguments[k] == v for k, v in kwargs.items())
    torch.manual_seed(99)  # different initial weights, replaced by the loaded ones
    rebuilt = cls(**arguments)
    rebuilt.load_state_dict(model.state_dict())
    x = signal(model, dtype=torch.float32)
    knobs = knobs_for(model, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x, **knobs).audio, model(x, **knobs).audio)


# -- bad input ---------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    mono = RecurrentModel(FS, hidden=4)
    conditioned = TCN(FS, channels=2, blocks=1, num_knobs=2)
    x = torch.zeros(1, 1, 8)
    with pytest.raises(ValueError, match="takes 1 input channel"):
        mono(torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match="takes 2 input channel"):
        S4DModel(FS, layers=1, in_channels=2)(x)
    with pytest.raises(ValueError, match="reads no knobs"):
        mono(x, knobs=torch.zeros(1, 1))
    with pytest.raises(ValueError, match="needs knobs"):
        conditioned(x)
    with pytest.raises(ValueError, match=r"knobs must be \(batch or 1, 2\)"):
        conditioned(x, knobs=torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"knobs must lie in \[0, 1\]"):
        conditioned(x, knobs=torch.full((1, 2), 1.5))
    with pytest.raises(ValueError, match="must be \\(batch, channels, samples\\)"):
        mono(torch.zeros(1, 8))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RecurrentModel(FS, cell="rnn"), "cell must be one of"),
        (lambda: RecurrentModel(FS, hidden=0), "hidden must be an int >= 1"),
        (lambda: RecurrentModel(FS, in_channels=1, out_channels=2, residual=True), "residual needs"),
        (lambda: RecurrentModel(FS, num_knobs=1, concat_knobs=False), "the knobs would reach nothing"),
        (lambda: TCN(FS, num_knobs=2, modulation="none"), "the knobs would reach nothing"),
        (lambda: TCN(FS, modulation="attention"), "modulation must be one of"),
        (lambda: TCN(FS, kernel_size=0), "kernel_size must be an int >= 1"),
        (lambda: TCN(FS, blocks=2.0), "blocks must be an int >= 1"),
        (lambda: S4DModel(FS, dt_min=0.2, dt_max=0.1), "dt_min <= dt_max"),
        (lambda: S4DModel(FS, num_knobs=-1), "num_knobs must be an int >= 0"),
        (lambda: TFiLM(4, block_size=0), "block_size must be an int >= 1"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
