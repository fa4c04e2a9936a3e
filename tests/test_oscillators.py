"""Oscillators and the ADSR envelope: pitch and level by FFT, aliasing, phase continuity, streaming, gradients.

Measurements: :func:`tone` finds a partial's frequency and amplitude from a
Blackman-Harris-windowed spectrum (peak bin, then parabolic interpolation of
the windowed DTFT on shrinking spacings); on a pure float64 sine of 2**15
samples it is exact to 1e-6 Hz and 1e-6 dB, and the window's -92 dB
sidelobes bound the leakage from other partials to about 1e-4 dB. So:

* frequencies are checked to 1e-3 Hz (the phase accumulates in float64);
* amplitudes to 0.01 dB against the exact expectation: the partial's
  amplitude times sinc^4(f / fs) for the polyBLEP waveforms, whose output is
  the ideal waveform smoothed by a cubic B-spline (float32 output rounding
  is far below this);
* aliasing against the same model's prediction (-30.5 dB for the strongest
  alias of a 5 kHz sawtooth at 48 kHz), with 0.5 dB of margin.
"""

import math

import numpy as np
import pytest
import torch
from scipy.signal.windows import blackmanharris
from torch.autograd import gradcheck

from ddsp_kit.export import load_model, save_model
from ddsp_kit.functional.oscillators import adsr, harmonic_synth, nyquist_fade, oscillator_phase, sawtooth, sine, square, wavetable
from ddsp_kit.processors.oscillators import ADSR, HarmonicSynth, Sawtooth, Sine, Square, Triangle, Wavetable
from processor_checks import assert_gradients, assert_streams

FS = 48000
STEPS = 1 << 15


def tone(y, near, fs=FS):
    """(frequency Hz, amplitude) of the partial nearest ``near`` Hz in ``y`` (see the module notes)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    n = len(y)
    window = blackmanharris(n)
    spectrum = np.abs(np.fft.rfft(y * window))
    centre = int(round(near * n / fs))
    position = float(centre - 4 + np.argmax(spectrum[centre - 4 : centre + 5]))
    steps = np.arange(n)

    def level(where):
        return np.log(abs(np.sum(window * y * np.exp(-2j * np.pi * where * steps / n))))

    for spacing in (1.0, 0.05, 0.002):
        a, b, c = level(position - spacing), level(position), level(position + spacing)
        position += 0.5 * spacing * (a - c) / (a - 2 * b + c)
    return position * fs / n, 2 * np.exp(level(position)) / window.sum()


def worst_alias_db(y, f, below=None, fs=FS):
    """The largest spectral peak away from the harmonics of ``f`` (and from DC), in dB relative to the fundamental."""
    y = np.asarray(y, dtype=np.float64).ravel()
    window = blackmanharris(len(y))
    spectrum = np.abs(np.fft.rfft(y * window))
    frequencies = np.fft.rfftfreq(len(y), 1 / fs)
    away = frequencies > 20
    for k in range(1, int(fs / 2 / f) + 1):
        away &= np.abs(frequencies - k * f) > 6 * fs / len(y)  # the window's main lobe is 4 bins wide
    if below is not None:
        away &= frequencies < below
    fundamental = spectrum[np.abs(frequencies - f) < 3 * fs / len(y)].max()
    return 20 * np.log10(spectrum[away].max() / fundamental)


def db(ratio):
    return 20 * math.log10(ratio)


def run(processor, steps=STEPS, controls=None, x=0.0, **inputs):
    """The output for a constant input ``x``: 0 for the generators (the pure signal), 1 for the envelope."""
    return processor.double()(torch.full((1, 1, steps), x, dtype=torch.float64), controls, **inputs).audio.detach().numpy()


def pitch(processor):
    """The oscillator's frequency in Hz, after the round trip through its raw value."""
    values = processor.values()
    return values["frequency"] if "frequency" in values else values["f0"]


def sinc4(f):
    return np.sinc(f / FS) ** 4


SAW_TABLE = torch.linspace(-1, 1, 2049, dtype=torch.float64)[:-1]  # a naive sawtooth, one period

# name: (processor, its fundamental's expected amplitude), at 0.8 amplitude
FUNDAMENTALS = {
    "sine": (lambda f: Sine(FS, f, 0.8), lambda f: 0.8),
    "sawtooth": (lambda f: Sawtooth(FS, f, 0.8), lambda f: 0.8 * 2 / math.pi * sinc4(f)),
    "square": (lambda f: Square(FS, f, 0.8), lambda f: 0.8 * 4 / math.pi * sinc4(f)),
    "triangle": (lambda f: Triangle(FS, f, 0.8), lambda f: 0.8 * 8 / math.pi**2 * sinc4(f)),
    "wavetable_sine": (lambda f: Wavetable(FS, None, f, 0.8), lambda f: 0.8),
    # The naive table's own fundamental: its DFT bin 1 (the mipmaps keep it at every level).
    "wavetable_saw": (lambda f: Wavetable(FS, SAW_TABLE, f, 0.8), lambda f: 0.8 * 2 * abs(torch.fft.rfft(SAW_TABLE)[1].item()) / 2048),
    "harmonic": (lambda f: HarmonicSynth(FS, 3, f, 0.8, harmonic1=0.6), lambda f: 0.8 * 0.6),
}


@pytest.mark.parametrize("name", FUNDAMENTALS)
@pytest.mark.parametrize("frequency", [110.0, 1234.5, 5000.0])
def test_frequency_and_amplitude_by_fft(name, frequency):
    make, expected = FUNDAMENTALS[name]
    processor = make(frequency).double()
    actual = pitch(processor)
    measured_frequency, measured_amplitude = tone(run(processor), actual)
    assert measured_frequency == pytest.approx(actual, abs=1e-3)
    assert db(measured_amplitude / expected(actual)) == pytest.approx(0.0, abs=0.01)


def test_harmonic_synth_sets_every_harmonic_and_normalises():
    synth = HarmonicSynth(FS, 4, 700.0, 0.5, harmonic1=0.4, harmonic2=0.3, harmonic3=0.2, harmonic4=0.1).double()
    y = run(synth)
    f0, values = pitch(synth), synth.values()
    for k in range(1, 5):
        frequency, amplitude = tone(y, k * f0)
        assert frequency == pytest.approx(k * f0, abs=1e-3)
        assert db(amplitude / (0.5 * values[f"harmonic{k}"])) == pytest.approx(0.0, abs=0.01)
    normalised = HarmonicSynth(FS, 4, 700.0, 0.5, normalize=True, harmonic1=0.4, harmonic2=0.3, harmonic3=0.2, harmonic4=0.1)
    total = sum(values[f"harmonic{k}"] for k in range(1, 5))
    assert db(tone(run(normalised), 2 * f0)[1] / (0.5 * values["harmonic2"] / total)) == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize(
    "make, worst, audible",
    [
        # Predicted by the sinc^4 model: the 5th harmonic (25 kHz) folds to 23 kHz at -30.5 dB;
        # below 16 kHz the worst is the 7th (35 kHz -> 13 kHz) at -55.0 dB.
        (lambda: Sawtooth(FS, 5000.0, 0.5), -30.0, -54.5),
        (lambda: Square(FS, 5000.0, 0.5), -30.0, -54.5),
        # Odd harmonics falling as 1/k^2: the 5th at -44.5 dB, the 7th at -71.9 dB.
        (lambda: Triangle(FS, 5000.0, 0.5), -44.0, -71.4),
        # No partial above Nyquist: the window's -92 dB sidelobes are the floor of this measurement.
        (lambda: Wavetable(FS, SAW_TABLE, 5000.0, 0.5), -90.0, -90.0),
        (lambda: HarmonicSynth(FS, 8, 5000.0, 0.5), -90.0, -90.0),
    ],
)
def test_band_limited_waveforms_alias_little(make, worst, audible):
    processor = make().double()
    frequency = pitch(processor)
    y = run(processor)
    assert worst_alias_db(y, frequency) < worst
    assert worst_alias_db(y, frequency, below=16000) < audible


def test_polyblep_partials_follow_the_cubic_b_spline():
    # Harmonics 2..5 of a 2.95 kHz sawtooth: (2 / pi k) sinc^4(k f / fs). (Not 3 kHz: with fs / f
    # a whole number every alias lands on a harmonic and beats with it.)
    saw = Sawtooth(FS, 2950.0, 1.0).double()
    f = pitch(saw)
    y = run(saw)
    for k in (2, 3, 4, 5):
        assert db(tone(y, k * f)[1] / (2 / (math.pi * k) * sinc4(k * f))) == pytest.approx(0.0, abs=0.01)
    # A pulse of width w: (4 / pi k) |sin(pi k w)| sinc^4(k f / fs).
    pulse = Square(FS, 2950.0, 1.0, width=0.3).double()
    width = pulse.values()["width"]
    y = run(pulse)
    for k in (1, 2, 3, 4):
        expected = 4 / (math.pi * k) * abs(math.sin(math.pi * k * width)) * sinc4(k * f)
        assert db(tone(y, k * f)[1] / expected) == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("eighths", [440 * 8, 98765])
def test_phase_stays_exact_over_long_signals(eighths):
    # 2**22 samples (87 s at 48 kHz) in one pass, at 440 Hz and 12345.625 Hz: the exact phase of
    # sample n is (eighths n mod 8 fs) / (8 fs), in integers. Measured errors: 2e-12 and 6e-12 cycles
    # (a plain float64 cumsum is off by 2e-6).
    steps, period = 1 << 22, 8 * FS
    phase, following = oscillator_phase(torch.full((steps,), eighths / 8, dtype=torch.float64), sample_rate=FS)
    exact = (torch.arange(steps + 1, dtype=torch.int64) * eighths % period).double() / period
    error = (torch.cat([phase, following]) - exact).abs()
    assert float(torch.minimum(error, 1 - error).max()) < 1e-10


PROCESSORS = {
    "sine": lambda: Sine(FS, 3000.0, 0.7),
    "sawtooth": lambda: Sawtooth(FS, 3000.0, 0.7),
    "square": lambda: Square(FS, 3000.0, 0.7, width=0.3),
    "triangle": lambda: Triangle(FS, 3000.0, 0.7),
    "wavetable": lambda: Wavetable(FS, SAW_TABLE[::32].clone(), 3000.0, 0.7),
    "harmonic": lambda: HarmonicSynth(FS, 3, 3000.0, 0.7),
}


@pytest.mark.parametrize("name", PROCESSORS)
@pytest.mark.parametrize("per_sample", [False, True])
def test_streaming_equals_one_pass(name, per_sample):
    # Blocks of random sizes, starting with blocks of 1, carry the phase: equal to one pass to rounding.
    processor = PROCESSORS[name]().double()
    x = torch.randn(2, 2, 600, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    controls = None
    if per_sample:
        t = torch.linspace(0, 1, 600, dtype=torch.float64).reshape(1, 1, -1)
        controls = {n: processor.raw[n].detach().reshape(1, 1, 1) + 0.5 * torch.sin(6 * t) for n in processor.specs}
    assert_streams(processor, x, controls, atol=1e-9)


def in_frames(processor, x, controls, hop, counts):
    """``x`` streamed in blocks of ``counts`` whole frames, frame-rate controls sliced per frame
    (the shared helper slices per sample). Blocks of one frame are left out: a single value
    reads as a static control."""
    state, parts, start = None, [], 0
    for count in counts:
        block = {name: value[..., start : start + count] for name, value in controls.items()}
        out = processor(x[..., start * hop : (start + count) * hop], block, state)
        parts.append(out.audio)
        state, start = out.state, start + count
    return torch.cat(parts, -1)


def test_frame_rate_sweep_streams_in_whole_frames_without_a_phase_jump():
    hop, frames, counts = 96, 40, (2, 3, 2, 7, 4, 6, 16)
    x = torch.zeros(1, 1, hop * frames, dtype=torch.float64)
    synth = HarmonicSynth(FS, 4, 200.0, 0.5).double()
    hz = torch.logspace(math.log10(100.0), math.log10(3000.0), frames, dtype=torch.float64).reshape(1, 1, -1)
    controls = {"f0": synth.to_raw("f0", hz), "harmonic2": torch.linspace(-3, 3, frames, dtype=torch.float64).reshape(1, 1, -1)}
    assert torch.allclose(in_frames(synth, x, controls, hop, counts), synth(x, controls).audio, rtol=0, atol=1e-10)
    # No phase jump, at block boundaries or anywhere: a sine's step from sample n is at most 2 pi a f[n] / fs.
    osc = Sine(FS, amplitude=0.5).double()
    sweep = {"frequency": controls["f0"]}
    bound = 2 * math.pi * 0.5 * osc(x, sweep).params["frequency"][..., :-1] / FS
    assert bool((in_frames(osc, x, sweep, hop, counts).diff().abs() <= bound + 1e-12).all())


def test_harmonic_crossing_nyquist_fades_without_a_click():
    # f0 sweeps 10 -> 14 kHz over one second: harmonic 2 crosses Nyquist at f0 = 12 kHz.
    steps = FS
    f0 = torch.linspace(10000.0, 14000.0, steps, dtype=torch.float64)
    both, _ = harmonic_synth(f0, torch.tensor([[1.0], [1.0]], dtype=torch.float64), sample_rate=FS)
    fundamental, _ = sine(f0, sample_rate=FS)
    cycles, _ = oscillator_phase(f0, sample_rate=FS)
    second = both - fundamental
    # The second harmonic's gain: its samples over the unit wave, where that wave is not small.
    wave = torch.sin(4 * math.pi * cycles)
    usable = wave.abs() > 0.5
    gain = second[usable] / wave[usable]
    expected = nyquist_fade(2 * f0, sample_rate=FS)[usable]
    assert torch.allclose(gain, expected, atol=1e-9)
    assert float(gain[f0[usable] < 10800].min()) > 1 - 1e-9  # full level below 0.9 Nyquist
    assert float(second[f0 >= 12000].abs().max()) < 1e-12  # nothing at or above Nyquist
    # The fade is gradual: 0.3 s long, its gain moving at most 1.2e-4 per sample (a hard mask jumps by 1).
    assert float(nyquist_fade(2 * f0, sample_rate=FS).diff().abs().max()) < 1.2e-4


def adsr_reference(gate, attack, decay, sustain, release, fs):
    """Per-sample state machine: linear attack from the level at gate-on to 1 in ``attack`` ms,
    then exponential decay to ``sustain``; exponential release after the gate; times in ms."""
    a, d, r = attack * fs / 1000, decay * fs / 1000, release * fs / 1000
    level, progress, held, out = 0.0, 0.0, False, []
    for g in gate:
        if g > 0.5:
            if not held:
                progress, start = 0.0, level
            before = progress
            progress += 1 / a
            if progress <= 1:
                level = 1 - (1 - start) * (1 - progress)
            else:
                after = min((progress - max(before, 1)) * a, 1.0)  # the part of the sample after the peak
                level = sustain + ((1.0 if before < 1 else level) - sustain) * math.exp(-after / d)
        else:
            level *= math.exp(-1 / r)
        held = g > 0.5
        out.append(level)
    return np.array(out)


def test_adsr_matches_a_per_sample_state_machine():
    # A note, a re-trigger during the release (the attack starts from the current level), and a
    # gate released during the attack.
    gate = np.r_[np.ones(300), np.zeros(100), np.ones(250), np.zeros(80), np.ones(20), np.zeros(250)]
    envelope = ADSR(FS, attack_ms=2.3, decay_ms=1.1, sustain=0.4, release_ms=3.0).double()
    values = envelope.values()
    ours = run(envelope, len(gate), x=1.0, gate=torch.tensor(gate).reshape(1, 1, -1))[0, 0]
    ref = adsr_reference(gate, values["attack_ms"], values["decay_ms"], values["sustain"], values["release_ms"], FS)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    # The attack is the straight line from 0 reaching 1 after attack_ms.
    attack = values["attack_ms"] * FS / 1000
    rising = int(attack)
    np.testing.assert_allclose(ours[:rising], np.arange(1, rising + 1) / attack, atol=1e-12)
    assert ours.max() <= 1


def test_adsr_without_gate_holds_and_streams_with_a_gate():
    envelope = ADSR(FS, attack_ms=1.0, decay_ms=5.0, sustain=0.3).double()
    assert run(envelope, 6000, x=1.0)[0, 0, -1] == pytest.approx(0.3, abs=1e-6)  # 25 decay times: at the sustain level
    gate = (torch.arange(900) % 300 < 170).double().reshape(1, 1, -1)
    x = torch.randn(2, 1, 900, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert_streams(envelope, x, atol=1e-12, gate=gate)
    t = torch.linspace(0, 1, 900, dtype=torch.float64).reshape(1, 1, -1)
    controls = {n: envelope.raw[n].detach().reshape(1, 1, 1) + 0.5 * torch.sin(5 * t) for n in envelope.specs}
    assert_streams(envelope, x, controls, atol=1e-12, gate=gate)


GRADIENTS = {
    "sine": lambda: Sine(FS, 2000.0, 0.6),
    "sawtooth": lambda: Sawtooth(FS, 7000.0, 0.6),  # a jump every ~7 samples: the polyBLEP edges are in play
    "square": lambda: Square(FS, 7000.0, 0.6, width=0.35),
    "triangle": lambda: Triangle(FS, 7000.0, 0.6),
    "wavetable": lambda: Wavetable(FS, SAW_TABLE[::64].clone(), 2017.3, 0.6),  # off the table's grid (its kinks)
    "harmonic": lambda: HarmonicSynth(FS, 3, 7000.0, 0.6),  # harmonic 3 at 21.6 kHz: in the Nyquist fade
}


@pytest.mark.parametrize("name", GRADIENTS)
@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_reach_every_parameter(name, per_sample):
    assert_gradients(GRADIENTS[name](), torch.zeros(1, 1, 24 if per_sample else 40), per_sample=per_sample)


@pytest.mark.parametrize("per_sample", [False, True])
def test_adsr_gradients_reach_every_time(per_sample):
    # At 8 kHz: a 2.3-sample attack, a 4-sample decay, a 5-sample release within 30 samples.
    gate = torch.tensor([1.0] * 11 + [0.0] * 8 + [1.0] * 11, dtype=torch.float64).reshape(1, 1, -1)
    envelope = ADSR(8000, attack_ms=0.29, decay_ms=0.5, sustain=0.4, release_ms=0.6)
    x = 1 + torch.rand(1, 1, 30, generator=torch.Generator().manual_seed(3))
    assert_gradients(envelope, x, per_sample=per_sample, gate=gate)


def test_wavetable_table_gets_gradients():
    table = SAW_TABLE[::128].clone().requires_grad_()
    frequency = torch.full((1, 1, 60), 1500.0, dtype=torch.float64)
    assert gradcheck(lambda table: wavetable(frequency, table, sample_rate=FS)[0], (table,))


@pytest.mark.parametrize("name", PROCESSORS)
def test_model_file_round_trip(name, tmp_path):
    processor = PROCESSORS[name]()
    with torch.no_grad():  # move every learnable value off its initial one
        for value in processor.parameters():
            value.add_(0.1)
    loaded = load_model(save_model(processor, tmp_path / f"{name}.safetensors"))
    x = torch.zeros(2, 1, 300)
    assert torch.equal(processor(x).audio, loaded(x).audio)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Sine("48k"), TypeError, "sample_rate"),
        (lambda: Sine(FS, frequency=30000.0), ValueError, "frequency must lie"),
        (lambda: Sawtooth(16000, frequency=9000.0), ValueError, "frequency must lie"),
        (lambda: Square(FS, width=1.0), ValueError, "width must lie"),
        (lambda: HarmonicSynth(FS, n_harmonics=0), ValueError, "n_harmonics"),
        (lambda: HarmonicSynth(FS, n_harmonics=2, harmonic3=0.1), ValueError, "no parameter"),
        (lambda: Wavetable(FS, torch.zeros(2, 8)), ValueError, "table"),
        (lambda: Wavetable(FS, torch.tensor([0.0, float("nan")])), ValueError, "NaN"),
        (lambda: ADSR(FS, sustain=1.5), ValueError, "sustain must lie"),
        (lambda: ADSR(FS, attack_ms=0.0), ValueError, "attack_ms must lie"),
        (lambda: ADSR(FS)(torch.zeros(1, 2, 10), gate=torch.ones(1, 3, 10)), ValueError, "gate of shape"),
        (lambda: ADSR(FS)(torch.zeros(1, 2, 10), gate=torch.ones(1, 2, 9)), ValueError, "does not fit"),
        (lambda: Sine(FS)(torch.zeros(1, 1, 10), state={"phase": torch.zeros(1, 1, 2)}), ValueError, r"phase must be \(\.\.\., 1\)"),
        (lambda: sawtooth(torch.full((4,), 24000.0), sample_rate=FS), ValueError, "below Nyquist"),
        (lambda: square(torch.full((4,), 100.0), 1.5, sample_rate=FS), ValueError, "width must lie"),
        (lambda: sine(torch.full((4,), 100.0), sample_rate=0), ValueError, "sample_rate"),
        (lambda: harmonic_synth(torch.full((4,), 100.0), torch.ones(3, 2), sample_rate=FS), ValueError, "amplitudes must be"),
        (lambda: wavetable(torch.full((4,), 100.0), torch.ones(1), sample_rate=FS), ValueError, "table must be"),
        (lambda: adsr(torch.ones(4), 0.0, 1.0, 0.5, 1.0, sample_rate=FS), ValueError, "attack_ms must lie"),
        (lambda: adsr(torch.ones(4), 1.0, 1.0, 0.5, 1.0, sample_rate=FS, state={"envelope": torch.zeros(1)}), ValueError, "missing"),
    ],
)
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()
