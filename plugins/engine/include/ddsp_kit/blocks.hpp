// The engine's blocks: the same DSP as ddsp_kit's Python processors, from the same design parameters.
//
// Each block is built from its JSON description (load time: may allocate and throw), prepared for a
// sample rate and channel count (allocates), then processes planar audio in place in chunks of at most
// kChunk samples (no allocation, no exceptions, no locks). Filter designs and time constants are recomputed
// from the physical parameters at the host's rate with the formulas of ddsp_kit.functional; filter state
// is double precision.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <complex>
#include <cstring>

#include <Eigen/Dense>

#include "fft.hpp"
#include "file.hpp"

namespace ddsp_kit {

// Largest chunk a block processes at once; the engine splits host blocks of any size into chunks.
inline constexpr int kChunk = 32;
inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kDbPerNeper = 8.68588963806503655302;  // 20 / ln(10)

inline double dbToGain(double db) { return std::pow(10.0, db / 20.0); }

class Block {
public:
    virtual ~Block() = default;

    // Allocate state for `channels` channels at `sampleRate` and recompute the design. Load time.
    virtual void prepare(double sampleRate, int channels) = 0;
    // Clear the state (silence in the past).
    virtual void reset() = 0;
    // Recompute derived coefficients after parameter values changed. Audio thread: no allocation.
    virtual void update() {}
    // Process `n` <= kChunk samples of each channel in place. Audio thread.
    virtual void process(float* const* audio, int n) noexcept = 0;
    // Delay of the output in samples at the prepared rate.
    virtual int latency() const { return 0; }
    // Set knob input `index` (a black-box net's conditioning value in [0, 1]).
    virtual void setKnobInput(int /*index*/, double /*value*/) noexcept {}
    // This block and every block inside it.
    virtual void collect(std::vector<Block*>& out) { out.push_back(this); }
    // Its parameters will move every sample (a time-varying controller): blocks whose realisation matters
    // under moving coefficients switch to the one Python uses then. Load time.
    virtual void runTimeVarying() {}

    int parameterIndex(const std::string& name) const {
        for (size_t i = 0; i < names.size(); ++i)
            if (names[i] == name) return static_cast<int>(i);
        return -1;
    }
    void setParameter(int index, double value) noexcept {
        if (values[index] != value) {
            values[index] = value;
            dirty = true;
        }
    }

    std::string type, path;
    std::vector<std::string> names;
    std::vector<double> values;
    bool dirty = false;

protected:
    // The type, path and design parameters every block's description carries (load time).
    explicit Block(const json& node) : type(node.at("type").get<std::string>()), path(node.at("path").get<std::string>()) {
        for (auto& [name, value] : node.at("params").items()) {
            if (!value.is_number()) throw FileError(path + ": parameter " + name + " is not a number");
            names.push_back(name);
            values.push_back(value.get<double>());
            if (!std::isfinite(values.back())) throw FileError(path + ": parameter " + name + " is not finite");
        }
    }
    // Index of a parameter the block needs (load time).
    int need(const std::string& name) const {
        const int i = parameterIndex(name);
        if (i < 0) throw FileError(type + " at '" + path + "' has no parameter " + name);
        return i;
    }
};

// ---------------------------------------------------------------------------------------- filters

struct Section {
    double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
};

enum class FilterKind { Lowpass, Highpass, Bandpass, Notch, Allpass, Peak, Lowshelf, Highshelf, DcBlock };

inline FilterKind filterKind(const std::string& kind, bool firstOrder) {
    if (kind == "lowpass") return FilterKind::Lowpass;
    if (kind == "highpass") return FilterKind::Highpass;
    if (firstOrder && kind == "dcblock") return FilterKind::DcBlock;
    if (!firstOrder) {
        if (kind == "bandpass") return FilterKind::Bandpass;
        if (kind == "notch") return FilterKind::Notch;
        if (kind == "allpass") return FilterKind::Allpass;
        if (kind == "peak") return FilterKind::Peak;
        if (kind == "lowshelf") return FilterKind::Lowshelf;
        if (kind == "highshelf") return FilterKind::Highshelf;
    }
    throw FileError("unknown filter kind '" + kind + "'");
}

// Frequencies stay below Nyquist at any host rate (the Python range stops at 0.49 of the training rate).
inline double clampFrequency(double frequency, double sampleRate) {
    return std::min(std::max(frequency, 1e-3), 0.49 * sampleRate);
}

// ddsp_kit.functional.design.one_pole_design, in the second-order layout.
inline Section onePoleDesign(FilterKind kind, double frequency, double sampleRate) {
    frequency = clampFrequency(frequency, sampleRate);
    Section s;
    if (kind == FilterKind::DcBlock) {
        const double radius = std::exp(-2 * kPi * frequency / sampleRate), gain = (1 + radius) / 2;
        s.b0 = gain, s.b1 = -gain, s.a1 = -radius;
        return s;
    }
    const double k = std::tan(kPi * frequency / sampleRate), a0 = k + 1;
    if (kind == FilterKind::Lowpass) s.b0 = k / a0, s.b1 = k / a0;
    else s.b0 = 1 / a0, s.b1 = -1 / a0;
    s.a1 = (k - 1) / a0;
    return s;
}

// ddsp_kit.functional.design.biquad_design (RBJ cookbook, pre-warped centre frequency).
inline Section biquadDesign(FilterKind kind, double frequency, double q, double gainDb, double sampleRate) {
    frequency = clampFrequency(frequency, sampleRate);
    q = std::max(q, 1e-6);
    const double w0 = 2 * kPi * frequency / sampleRate, cosw = std::cos(w0), alpha = std::sin(w0) / (2 * q);
    const double amp = std::pow(10.0, gainDb / 40);
    double b0, b1, b2, a0, a1, a2;
    a0 = 1 + alpha, a1 = -2 * cosw, a2 = 1 - alpha;
    switch (kind) {
    case FilterKind::Lowpass: b0 = (1 - cosw) / 2, b1 = 1 - cosw, b2 = (1 - cosw) / 2; break;
    case FilterKind::Highpass: b0 = (1 + cosw) / 2, b1 = -(1 + cosw), b2 = (1 + cosw) / 2; break;
    case FilterKind::Bandpass: b0 = alpha, b1 = 0, b2 = -alpha; break;
    case FilterKind::Notch: b0 = 1, b1 = -2 * cosw, b2 = 1; break;
    case FilterKind::Allpass: b0 = 1 - alpha, b1 = -2 * cosw, b2 = 1 + alpha; break;
    case FilterKind::Peak:
        b0 = 1 + alpha * amp, b1 = -2 * cosw, b2 = 1 - alpha * amp;
        a0 = 1 + alpha / amp, a2 = 1 - alpha / amp;
        break;
    default: {
        const double shelf = 2 * std::sqrt(amp) * alpha, sign = kind == FilterKind::Lowshelf ? 1.0 : -1.0;
        b0 = amp * ((amp + 1) - sign * (amp - 1) * cosw + shelf);
        b1 = sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cosw);
        b2 = amp * ((amp + 1) - sign * (amp - 1) * cosw - shelf);
        a0 = (amp + 1) + sign * (amp - 1) * cosw + shelf;
        a1 = -sign * 2 * ((amp - 1) + sign * (amp + 1) * cosw);
        a2 = (amp + 1) + sign * (amp - 1) * cosw - shelf;
    }
    }
    return {b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0};
}

// A cascade of second-order sections run in transposed direct form II with double state.
class SectionFilter : public Block {
public:
    struct Band {
        FilterKind kind;
        bool firstOrder;
        int frequency, q, gain;  // parameter indices (-1: absent)
    };

    explicit SectionFilter(const json& node) : Block(node) {
        if (type == "ParametricEQ") {
            for (const json& band : node.at("bands")) {
                const std::string name = band.at("name").get<std::string>();
                bands_.push_back({filterKind(band.at("kind").get<std::string>(), false), false, need(name + "_frequency"),
                                  need(name + "_q"), need(name + "_gain_db")});
            }
        } else {
            const bool first = type == "OnePole";
            const FilterKind kind = filterKind(node.at("kind").get<std::string>(), first);
            bands_.push_back({kind, first, need("frequency"), first ? -1 : need("q"), parameterIndex("gain_db")});
        }
        if (bands_.empty()) throw FileError(path + ": a filter needs at least one section");
        sections_.resize(bands_.size());
    }

    void prepare(double sampleRate, int channels) override {
        sampleRate_ = sampleRate;
        state_.assign(static_cast<size_t>(channels) * bands_.size() * (modal_ ? 6 : 2), 0.0);
        kernel_ = modal_ ? nullptr : kernelFor(static_cast<int>(bands_.size()), channels, std::make_integer_sequence<int, kMaxRegisterSections>());
        poles_.resize(bands_.size());
        update();
    }
    void reset() override { std::fill(state_.begin(), state_.end(), 0.0); }
    void runTimeVarying() override { modal_ = true; }
    void update() override {
        for (size_t i = 0; i < bands_.size(); ++i) {
            const Band& b = bands_[i];
            sections_[i] = b.firstOrder ? onePoleDesign(b.kind, values[b.frequency], sampleRate_)
                                        : biquadDesign(b.kind, values[b.frequency], values[b.q],
                                                       b.gain >= 0 ? values[b.gain] : 0.0, sampleRate_);
            if (modal_) poles_[i] = sectionPoles(sections_[i]);
        }
        dirty = false;
    }
    void process(float* const* audio, int n) noexcept override {
        if (modal_) return processModal(audio, n);
        if (kernel_) return (this->*kernel_)(audio, n);
        // Any other shape: the same recurrence with the state in memory.
        const size_t sections = sections_.size(), channels = state_.size() / (2 * sections);
        for (int t = 0; t < n; ++t) {
            for (size_t c = 0; c < channels; ++c) {
                double* state = state_.data() + c * sections * 2;
                double v = audio[c][t];
                for (size_t i = 0; i < sections; ++i) {
                    const Section& s = sections_[i];
                    const double out = s.b0 * v + state[2 * i];
                    state[2 * i] = s.b1 * v - s.a1 * out + state[2 * i + 1];
                    state[2 * i + 1] = s.b2 * v - s.a2 * out;
                    v = out;
                }
                audio[c][t] = static_cast<float>(v);
            }
        }
    }

private:
    using Complex = std::complex<double>;
    // The poles of 1 + a1 z^-1 + a2 z^-2 in ddsp_kit.functional.polynomial_roots' order (a complex pair
    // with the positive imaginary part first, real roots the larger first), which the cascade relies on.
    static std::pair<Complex, Complex> sectionPoles(const Section& s) {
        const double disc = s.a1 * s.a1 - 4 * s.a2, half = -s.a1 / 2;
        if (disc == 0) return {half, half};
        const double root = std::sqrt(std::abs(disc));
        if (disc < 0) return {Complex(half, root / 2), Complex(half, -root / 2)};
        const double q = -(s.a1 + (s.a1 >= 0 ? root : -root)) / 2, other = s.a2 / q;
        return {std::max(q, other), std::min(q, other)};
    }
    // ddsp_kit.functional.sosfilt_tv, the realisation Python runs under moving coefficients: the numerator
    // as a FIR of the input, then the two poles as complex one-poles in cascade (state per section: two past
    // inputs, two complex states). Equal to the direct form for constant coefficients.
    void processModal(float* const* audio, int n) noexcept {
        const size_t sections = sections_.size(), channels = state_.size() / (6 * sections);
        for (int t = 0; t < n; ++t)
            for (size_t c = 0; c < channels; ++c) {
                double* state = state_.data() + c * sections * 6;
                double v = audio[c][t];
                for (size_t i = 0; i < sections; ++i, state += 6) {
                    const Section& s = sections_[i];
                    const double u = s.b0 * v + s.b1 * state[0] + s.b2 * state[1];
                    state[1] = state[0], state[0] = v;
                    const Complex h1 = poles_[i].first * Complex(state[2], state[3]) + u;
                    const Complex h2 = poles_[i].second * Complex(state[4], state[5]) + h1;
                    state[2] = h1.real(), state[3] = h1.imag(), state[4] = h2.real(), state[5] = h2.imag();
                    v = h2.real();
                }
                audio[c][t] = static_cast<float>(v);
            }
    }

    // TDF-II cascade, sample-outer and section-inner (each section's recurrence is its own dependency chain,
    // so the out-of-order core overlaps the sections), with the S sections' coefficients and state in
    // registers for the chunk: V is a double (mono) or a vector of two (a stereo pair in one register).
    template <int S, typename V, int C>
    void cascade(float* const* audio, int n) noexcept {
        V b0[S], b1[S], b2[S], a1[S], a2[S], s0[S], s1[S];
        for (int i = 0; i < S; ++i) {
            const Section& s = sections_[i];
            b0[i] = V{} + s.b0, b1[i] = V{} + s.b1, b2[i] = V{} + s.b2, a1[i] = V{} + s.a1, a2[i] = V{} + s.a2;
            for (int c = 0; c < C; ++c) setLane(s0[i], c, state_[(c * S + i) * 2]), setLane(s1[i], c, state_[(c * S + i) * 2 + 1]);
        }
        for (int t = 0; t < n; ++t) {
            V v;
            for (int c = 0; c < C; ++c) setLane(v, c, audio[c][t]);
            for (int i = 0; i < S; ++i) {
                const V out = b0[i] * v + s0[i];
                s0[i] = b1[i] * v - a1[i] * out + s1[i];
                s1[i] = b2[i] * v - a2[i] * out;
                v = out;
            }
            for (int c = 0; c < C; ++c) audio[c][t] = static_cast<float>(getLane(v, c));
        }
        for (int i = 0; i < S; ++i)
            for (int c = 0; c < C; ++c) state_[(c * S + i) * 2] = getLane(s0[i], c), state_[(c * S + i) * 2 + 1] = getLane(s1[i], c);
    }
    static void setLane(double& v, int, double x) noexcept { v = x; }
    static double getLane(double v, int) noexcept { return v; }
#if defined(__GNUC__)
    typedef double Pair __attribute__((vector_size(16)));
    static void setLane(Pair& v, int c, double x) noexcept { v[c] = x; }
    static double getLane(const Pair& v, int c) noexcept { return v[c]; }
#endif
    using Kernel = void (SectionFilter::*)(float* const*, int) noexcept;
    static constexpr int kMaxRegisterSections = 8;
    // The kernel for `sections` sections and `channels` channels, or nullptr (the generic loop).
    template <int... S>
    static Kernel kernelFor(int sections, int channels, std::integer_sequence<int, S...>) noexcept {
        static constexpr Kernel mono[] = {&SectionFilter::cascade<S + 1, double, 1>...};
#if defined(__GNUC__)
        static constexpr Kernel stereo[] = {&SectionFilter::cascade<S + 1, Pair, 2>...};
        if (channels == 2 && sections <= kMaxRegisterSections) return stereo[sections - 1];
#endif
        if (channels == 1 && sections <= kMaxRegisterSections) return mono[sections - 1];
        return nullptr;
    }

    std::vector<Band> bands_;
    std::vector<Section> sections_;
    std::vector<std::pair<Complex, Complex>> poles_;
    std::vector<double> state_;
    double sampleRate_ = 48000;
    bool modal_ = false;
    Kernel kernel_ = nullptr;
};

// ---------------------------------------------------------------------------------------- gain, shapers

class GainBlock : public Block {
public:
    explicit GainBlock(const json& node) : Block(node) {
        gainDb_ = need("gain_db");
    }
    void prepare(double, int channels) override { channels_ = channels, update(); }
    void reset() override {}
    void update() override { gain_ = dbToGain(values[gainDb_]), dirty = false; }
    void process(float* const* audio, int n) noexcept override {
        for (int c = 0; c < channels_; ++c)
            for (int t = 0; t < n; ++t) audio[c][t] = static_cast<float>(audio[c][t] * gain_);
    }

private:
    int gainDb_, channels_ = 1;
    double gain_ = 1;
};

// One 2x stage of ddsp_kit.functional.nonlinear.oversample, streaming: up() inserts a zero after each
// sample and filters with 2 * up (in polyphase form), down() filters with `down` and keeps every other
// sample. Double-precision histories; at most kChunk << 3 samples at the stage's input rate.
class HalfbandStage {
public:
    HalfbandStage(const Tensor& up, const Tensor& down, const std::string& where) {
        if (up.shape.size() != 1 || down.shape.size() != 1 || up.values.empty() || down.values.empty())
            throw FileError(where + ": oversampling taps must be two non-empty vectors");
        phases_ = static_cast<int>((up.values.size() + 1) / 2);
        for (int r = 0; r < 2; ++r)  // phase r, reversed: y[2t + r] = sum_j phase[r][j] x[t - (P - 1) + j]
            for (int j = 0; j < phases_; ++j) {
                const size_t k = 2 * static_cast<size_t>(phases_ - 1 - j) + r;
                phase_[r].push_back(k < up.values.size() ? 2.0 * up.values[k] : 0.0);
            }
        for (size_t k = down.values.size(); k-- > 0;) downReversed_.push_back(down.values[k]);
    }
    void prepare(int channels, int maxInput) {
        maxInput_ = maxInput;
        upLine_.assign(static_cast<size_t>(channels) * (phases_ - 1 + maxInput), 0.0);
        downLine_.assign(static_cast<size_t>(channels) * (downReversed_.size() - 1 + 2 * maxInput), 0.0);
    }
    void reset() {
        std::fill(upLine_.begin(), upLine_.end(), 0.0);
        std::fill(downLine_.begin(), downLine_.end(), 0.0);
    }
    void up(int channel, const float* x, int n, float* y) noexcept {
        const int keep = phases_ - 1;
        double* line = upLine_.data() + static_cast<size_t>(channel) * (keep + maxInput_);
        for (int t = 0; t < n; ++t) line[keep + t] = x[t];
        for (int r = 0; r < 2; ++r) {
            Eigen::Map<const Eigen::VectorXd> taps(phase_[r].data(), phases_);
            for (int t = 0; t < n; ++t) y[2 * t + r] = static_cast<float>(taps.dot(Eigen::Map<const Eigen::VectorXd>(line + t, phases_)));
        }
        std::copy(line + n, line + n + keep, line);
    }
    void down(int channel, const float* x, int n, float* y) noexcept {  // n input samples (even) -> n / 2
        const int length = static_cast<int>(downReversed_.size()), keep = length - 1;
        double* line = downLine_.data() + static_cast<size_t>(channel) * (keep + 2 * maxInput_);
        for (int t = 0; t < n; ++t) line[keep + t] = x[t];
        Eigen::Map<const Eigen::VectorXd> taps(downReversed_.data(), length);
        for (int j = 0; j < n / 2; ++j) y[j] = static_cast<float>(taps.dot(Eigen::Map<const Eigen::VectorXd>(line + 2 * j, length)));
        std::copy(line + n, line + n + keep, line);
    }

private:
    int phases_ = 1, maxInput_ = 0;
    std::vector<double> phase_[2], downReversed_, upLine_, downLine_;
};

enum class Shape { Tanh, BiasedTanh, HardClip, Rational, Chebyshev, Mlp };

// ddsp_kit.processors.nonlinear: input gain, the curve (oversampled 2x, 4x or 8x through half-band
// stages when exported so), output gain.
class Waveshaper : public Block {
public:
    Waveshaper(const json& node, const EngineFile& file) : Block(node) {
        const std::string shape = node.at("shape").get<std::string>();
        inputGain_ = need("input_gain_db"), outputGain_ = need("output_gain_db");
        if (shape == "tanh") shape_ = Shape::Tanh;
        else if (shape == "biased_tanh") shape_ = Shape::BiasedTanh, extra_ = need("bias");
        else if (shape == "hard_clip") shape_ = Shape::HardClip, extra_ = need("knee");
        else if (shape == "rational") {
            shape_ = Shape::Rational;
            for (int k = 1; k <= node.at("numerator").get<int>(); ++k) numerator_.push_back(need("numerator_" + std::to_string(k)));
            for (int k = 1; k <= node.at("denominator").get<int>(); ++k) denominator_.push_back(need("denominator_" + std::to_string(k)));
            if (numerator_.empty() || denominator_.empty()) throw FileError(path + ": a rational shaper needs coefficients");
        } else if (shape == "chebyshev") {
            shape_ = Shape::Chebyshev;
            for (int k = 1; k <= node.at("order").get<int>(); ++k) numerator_.push_back(need("harmonic_" + std::to_string(k)));
            if (numerator_.empty() || numerator_.size() > 64) throw FileError(path + ": a Chebyshev shaper needs 1 to 64 harmonics");
        } else if (shape == "mlp") {
            shape_ = Shape::Mlp;
            const json& names = node.at("tensors");
            const Tensor& w1 = file.tensor(names.at("hidden_weight").get<std::string>());
            const Tensor& b1 = file.tensor(names.at("hidden_bias").get<std::string>());
            const Tensor& w2 = file.tensor(names.at("output_weight").get<std::string>());
            const size_t hidden = b1.values.size();
            if (hidden < 1 || hidden > 1024 || w1.values.size() != hidden || w2.values.size() != hidden)
                throw FileError(path + ": the MLP shaper's weights do not fit one hidden layer");
            w1_ = Eigen::Map<const Eigen::ArrayXf>(w1.values.data(), hidden);
            b1_ = Eigen::Map<const Eigen::ArrayXf>(b1.values.data(), hidden);
            w2_ = Eigen::Map<const Eigen::RowVectorXf>(w2.values.data(), hidden);
            mlpAtZero_ = w2_.dot(b1_.tanh().matrix());
        } else throw FileError(path + ": unknown shape '" + shape + "'");
        a_.resize(numerator_.size()), b_.resize(denominator_.size());
        factor_ = node.value("oversampling", 1), latency_ = node.value("latency", 0);
        if (factor_ != 1 && factor_ != 2 && factor_ != 4 && factor_ != 8) throw FileError(path + ": oversampling must be 1, 2, 4 or 8");
        if (latency_ < 0 || latency_ > 4096) throw FileError(path + ": bad latency");
        for (int s = 1; s < factor_; s *= 2) {
            const std::string k = std::to_string(stages_.size() + 1);
            const json& names = node.at("tensors");
            stages_.emplace_back(file.tensor(names.at("up" + k).get<std::string>()), file.tensor(names.at("down" + k).get<std::string>()), path);
        }
    }
    void prepare(double, int channels) override {
        channels_ = channels;
        for (size_t s = 0; s < stages_.size(); ++s) stages_[s].prepare(channels, kChunk << s);
        high_[0].assign(static_cast<size_t>(kChunk) * factor_, 0.0f), high_[1].assign(high_[0].size(), 0.0f);
        if (shape_ == Shape::Mlp) hidden_.resize(w1_.size(), kChunk * factor_), mlpOut_.resize(kChunk * factor_);
        update();
    }
    void reset() override {
        for (auto& stage : stages_) stage.reset();
    }
    void update() override {
        in_ = dbToGain(values[inputGain_]), out_ = dbToGain(values[outputGain_]);
        if (extra_ >= 0) p_ = values[extra_], offset_ = std::tanh(p_);
        for (size_t k = 0; k < numerator_.size(); ++k) a_[k] = values[numerator_[k]];
        for (size_t k = 0; k < denominator_.size(); ++k) b_[k] = values[denominator_[k]];
        dirty = false;
    }
    int latency() const override { return latency_; }
    void process(float* const* audio, int n) noexcept override {
        for (int c = 0; c < channels_; ++c) {
            float* x = audio[c];
            for (int t = 0; t < n; ++t) x[t] = static_cast<float>(in_ * x[t]);
            if (stages_.empty()) {
                shapeBlock(x, n);
            } else {  // up through the stages, shape at the top rate, back down
                const float* source = x;
                int m = n, which = 0;
                for (auto& stage : stages_) stage.up(c, source, m, high_[which].data()), source = high_[which].data(), m *= 2, which ^= 1;
                float* top = high_[which ^ 1].data();
                shapeBlock(top, m);
                for (size_t s = stages_.size(); s-- > 0;) {
                    float* target = s == 0 ? x : high_[which].data();
                    stages_[s].down(c, top, m, target);
                    top = target, m /= 2, which ^= 1;
                }
            }
            for (int t = 0; t < n; ++t) x[t] = static_cast<float>(out_ * x[t]);
        }
    }

private:
    // The curve on `m` samples in place (the tanh and MLP curves vectorised, in float: ~1e-7).
    void shapeBlock(float* x, int m) noexcept {
        Eigen::Map<Eigen::ArrayXf> v(x, m);
        switch (shape_) {
        case Shape::Tanh:
        case Shape::BiasedTanh: v = (v + static_cast<float>(p_)).tanh() - static_cast<float>(offset_); return;
        case Shape::Mlp: {  // f(x) - f(0), f(x) = w2 . tanh(w1 x + b1)
            auto h = hidden_.leftCols(m);
            h.matrix().noalias() = w1_.matrix() * v.matrix().transpose();  // into preallocated buffers: no temporaries
            h = (h.colwise() + b1_).tanh();
            mlpOut_.head(m).noalias() = w2_ * h.matrix();
            v = mlpOut_.head(m).array().transpose() - mlpAtZero_;
            return;
        }
        default:
            for (int t = 0; t < m; ++t) x[t] = static_cast<float>(shape(x[t]));
        }
    }
    // The polynomial shapes, per sample.
    double shape(double x) const noexcept {
        if (shape_ == Shape::HardClip) {  // ddsp_kit.functional.nonlinear.hard_clip with threshold 1
            const double m = std::abs(x), half = p_ / 2;
            const double y = m <= 1 - half ? m : m >= 1 + half ? 1.0 : m - (m - 1 + half) * (m - 1 + half) / (2 * p_);
            return std::copysign(y, x);
        }
        if (shape_ == Shape::Chebyshev) {  // sum_k c_k (T_k(x) - T_k(0)) on x clamped to [-1, 1]
            x = std::min(std::max(x, -1.0), 1.0);
            double previous = 1, current = x, y = a_[0] * x;
            for (size_t k = 2; k <= a_.size(); ++k) {
                const double next = 2 * x * current - previous;
                previous = current, current = next;
                const double atZero = k % 2 ? 0.0 : (k / 2 % 2 ? -1.0 : 1.0);
                y += a_[k - 1] * (current - atZero);
            }
            return y;
        }
        double p = a_.back(), s = b_.back();  // rational: P(x) / sqrt(1 + S(x)^2), P without constant term
        for (size_t k = a_.size() - 1; k-- > 0;) p = p * x + a_[k];
        for (size_t k = b_.size() - 1; k-- > 0;) s = s * x + b_[k];
        p *= x, s *= x;
        return p / std::sqrt(1 + s * s);
    }
    Shape shape_ = Shape::Tanh;
    int inputGain_, outputGain_, extra_ = -1, channels_ = 1, factor_ = 1, latency_ = 0;
    std::vector<int> numerator_, denominator_;
    std::vector<double> a_, b_;
    double in_ = 1, out_ = 1, p_ = 0, offset_ = 0;
    Eigen::ArrayXf w1_, b1_;
    Eigen::RowVectorXf w2_, mlpOut_;
    float mlpAtZero_ = 0;
    Eigen::ArrayXXf hidden_;
    std::vector<HalfbandStage> stages_;
    std::vector<float> high_[2];
};

// ---------------------------------------------------------------------------------------- dynamics

// ddsp_kit.functional.dynamics.dynamics: detector, static curve with quadratic knee, attack/release.
class Dynamics : public Block {
public:
    explicit Dynamics(const json& node) : Block(node) {
        const std::string mode = node.at("mode").get<std::string>();
        mode_ = mode == "compressor" ? 0 : mode == "limiter" ? 1 : mode == "expander" ? 2 : mode == "gate" ? 3 : -1;
        if (mode_ < 0) throw FileError(path + ": unknown dynamics mode '" + mode + "'");
        rms_ = node.at("detector").get<std::string>() == "rms";
        rmsMs_ = node.at("rms_ms").get<double>();
        smoothLevel_ = node.at("smoothing").get<std::string>() == "level";
        const std::string link = node.at("link").get<std::string>();
        link_ = link == "max" ? 1 : link == "mean" ? 2 : 0;
        lookaheadMs_ = node.at("lookahead_ms").get<double>();
        if (!(rmsMs_ > 0) || !(lookaheadMs_ >= 0) || lookaheadMs_ > 1000) throw FileError(path + ": bad rms_ms or lookahead_ms");
        threshold_ = need("threshold_db"), attack_ = need("attack_ms"), release_ = need("release_ms");
        knee_ = parameterIndex("knee_db"), makeup_ = parameterIndex("makeup_db");
        ratio_ = mode_ == 1 ? -1 : need("ratio");
        range_ = mode_ == 3 ? need("range_db") : -1;
    }

    void prepare(double sampleRate, int channels) override {
        sampleRate_ = sampleRate, channels_ = channels;
        lookahead_ = static_cast<int>(std::lround(lookaheadMs_ * sampleRate / 1000.0));
        rmsAlpha_ = -std::expm1(-1000.0 / (rmsMs_ * sampleRate));  // fixed: not a parameter
        detectors_ = link_ ? 1 : channels;
        envelope_.assign(detectors_, 0.0), meanSquare_.assign(channels, 0.0);
        gain_.resize(kChunk, detectors_);
        delay_.assign(static_cast<size_t>(channels) * std::max(lookahead_, 1), 0.0f);
        update();
        reset();
    }
    void reset() override {
        std::fill(meanSquare_.begin(), meanSquare_.end(), 0.0);
        std::fill(delay_.begin(), delay_.end(), 0.0f);
        delayPosition_ = 0;
        // Gain smoothing starts from the gain at silence, level smoothing from a zero level.
        std::fill(envelope_.begin(), envelope_.end(), smoothLevel_ ? 0.0 : sign() * curve(kFloorDb));
        gain_.setOnes();
    }
    void update() override {
        up_ = -std::expm1(-1000.0 / (values[attack_] * sampleRate_));
        down_ = -std::expm1(-1000.0 / (values[release_] * sampleRate_));
        makeupGain_ = makeup_ >= 0 ? values[makeup_] : 0.0;
        thresholdDb_ = values[threshold_], kneeDb_ = knee_ >= 0 ? values[knee_] : 0.0;
        slope_ = mode_ == 0 ? 1 / values[ratio_] - 1 : mode_ == 1 ? -1.0 : 1 - values[ratio_];
        lowestDb_ = mode_ == 3 ? std::max(-values[range_], kFloorDb) : kFloorDb;
        dirty = false;
    }
    int latency() const override { return lookahead_; }

    // Passes over the chunk: detector levels, their logarithm (vectorised), the static curve, the
    // attack/release recurrence (the one sequential step), the exponential (vectorised), the gain.
    void process(float* const* audio, int n) noexcept override {
        using Chunk = Eigen::Array<float, kChunk, 1>;
        for (int d = 0; d < detectors_; ++d) {
            Chunk level;
            for (int t = 0; t < n; ++t) {
                double combined = 0.0;
                for (int c = link_ ? 0 : d; c < (link_ ? channels_ : d + 1); ++c) {
                    const double s = audio[c][t];
                    double l = std::abs(s);
                    if (rms_) {
                        meanSquare_[c] = (1 - rmsAlpha_) * meanSquare_[c] + rmsAlpha_ * s * s;
                        l = std::sqrt(std::max(meanSquare_[c], 2.2250738585072014e-308));
                    }
                    combined = link_ == 1 ? std::max(combined, l) : combined + l;
                }
                level[t] = static_cast<float>(link_ == 2 ? combined / channels_ : combined);
            }
            // The envelope recurrence is the one sequential loop: the curve runs as separate, branch-free
            // passes that vectorise, and the attack/release choice is a select, not a branch.
            Chunk gainDb;
            double envelope = envelope_[d];
            const double up = up_, down = down_, sign = this->sign();
            if (smoothLevel_) {  // smooth the level, then the curve on it
                for (int t = 0; t < n; ++t) level[t] = static_cast<float>(envelope = ballistic(level[t], envelope, up, down));
                toDb(level, gainDb, n);
                for (int t = 0; t < n; ++t) gainDb[t] = static_cast<float>(curve(gainDb[t]));
            } else {  // the curve on the level, then smooth the gain
                toDb(level, gainDb, n);
                double target[kChunk];
                for (int t = 0; t < n; ++t) target[t] = sign * curve(gainDb[t]);
                for (int t = 0; t < n; ++t) gainDb[t] = static_cast<float>(sign * (envelope = ballistic(target[t], envelope, up, down)));
            }
            envelope_[d] = envelope;
            gain_.col(d).head(n) = ((gainDb.head(n) + static_cast<float>(makeupGain_)) * static_cast<float>(1 / kDbPerNeper)).exp();
        }
        for (int c = 0; c < channels_; ++c) {
            float* x = audio[c];
            const float* g = gain_.col(link_ ? 0 : c).data();
            if (lookahead_) {
                float* line = delay_.data() + static_cast<size_t>(c) * lookahead_;
                int position = delayPosition_;
                for (int t = 0; t < n; ++t) {
                    const float delayed = line[position];
                    line[position] = x[t];
                    x[t] = delayed * g[t];
                    if (++position == lookahead_) position = 0;
                }
            } else {
                for (int t = 0; t < n; ++t) x[t] *= g[t];
            }
        }
        if (lookahead_) delayPosition_ = static_cast<int>((delayPosition_ + n) % lookahead_);
    }

private:
    static constexpr double kFloorDb = -120.0;
    double sign() const { return mode_ <= 1 ? -1.0 : 1.0; }
    // Levels in dB, floored at -120 dB (1e-6) as in Python; single-precision, vectorised log (and exp
    // below): their 1e-7 relative error is far below the 1e-5 the engine keeps.
    static void toDb(const Eigen::Array<float, kChunk, 1>& amplitude, Eigen::Array<float, kChunk, 1>& db, int n) noexcept {
        db.head(n) = static_cast<float>(kDbPerNeper) * amplitude.head(n).max(1e-6f).log();
    }
    // The static curve; slope_ is (1/R - 1), -1 or (1 - R) by mode. The knee's three pieces (0 below the
    // knee, (d + K/2)^2 / 2K inside, d above) as clamps, so that a loop over it has no branch.
    double curve(double levelDb) const noexcept {
        const double over = (mode_ <= 1 ? 1.0 : -1.0) * (levelDb - thresholdDb_), half = kneeDb_ / 2;
        const double inKnee = std::min(std::max(over + half, 0.0), kneeDb_);
        const double ramp = (kneeDb_ > 0 ? inKnee * inKnee / (2 * kneeDb_) : 0.0) + std::max(over - half, 0.0);
        return std::max(slope_ * ramp, lowestDb_);
    }
    static double ballistic(double x, double y, double up, double down) noexcept { return y + (x > y ? up : down) * (x - y); }

    int mode_, link_, threshold_, attack_, release_, knee_, makeup_, ratio_, range_;
    bool rms_, smoothLevel_;
    double rmsMs_, lookaheadMs_, sampleRate_ = 48000, up_ = 0, down_ = 0, rmsAlpha_ = 0, makeupGain_ = 0;
    double thresholdDb_ = 0, kneeDb_ = 0, slope_ = 0, lowestDb_ = kFloorDb;
    int channels_ = 1, detectors_ = 1, lookahead_ = 0, delayPosition_ = 0;
    std::vector<double> envelope_, meanSquare_;
    std::vector<float> delay_;
    Eigen::ArrayXXf gain_;  // (kChunk, detectors): the linear gain of the chunk
};

// ---------------------------------------------------------------------------------------- FIR

// Partitioned convolution with no latency (ddsp_kit.functional.partitioned_convolution computes the same sum):
// the first P taps as a direct FIR, then up to two levels of uniform overlap-save partitions in the frequency
// domain (Gardner's non-uniform scheme): taps [P, Q) in blocks of P, taps [Q, M) in blocks of Q. A level
// with block B keeps the spectra of its last input blocks in a delay line; when an input block completes,
// the next B outputs of its taps are the inverse FFT of sum_j X[m + 1 - j] H_j. A measured cost model picks P
// and Q (powers of two, P <= 256 and Q <= 4096, which bounds the burst of work at a block's end), or all
// direct where that is cheaper. Impulse responses: one row shared by every channel, or one per channel.
// Double precision throughout.
class PartitionedConvolver {
    using Spectra = Eigen::ArrayXXd;  // (B + 1, partitions): real or imaginary parts

    // One level: taps [B, B * (partitions + 1)) in blocks of B.
    struct Level {
        int block = 0, partitions = 0, phase = 0;
        std::vector<Spectra> filterRe, filterIm;  // per row
        std::vector<Spectra> inputRe, inputIm;    // per channel: the delay line of input spectra
        std::vector<int> newest;                  // per channel: the slot of the newest input spectrum
        std::vector<double> window, tail, time;   // per channel: 2B inputs, B outputs; scratch of 2B
        Eigen::ArrayXd accRe, accIm;
        RealFft fft;
    };

public:
    // Size for `rows` IRs of `length` taps and `channels` channels (allocates; the IRs are then zero).
    void prepare(int rows, int length, int channels) {
        rows_ = rows, length_ = length, channels_ = channels;
        choosePartitions(length);
        head_.assign(static_cast<size_t>(rows) * headSize_, 0.0);
        line_.assign(static_cast<size_t>(channels) * (headSize_ - 1 + kChunk), 0.0);
        levels_.clear();
        const int Q = levelBlock_ ? levelBlock_ : length;  // the first level stops at Q (or at the IR's end)
        if (length > headSize_) addLevel(headSize_, (std::min(Q, length) + headSize_ - 1) / headSize_ - 1);
        if (levelBlock_ && length > levelBlock_) addLevel(levelBlock_, (length + levelBlock_ - 1) / levelBlock_ - 1);
        reset();
    }
    void reset() {
        std::fill(line_.begin(), line_.end(), 0.0);
        for (Level& level : levels_) {
            std::fill(level.window.begin(), level.window.end(), 0.0), std::fill(level.tail.begin(), level.tail.end(), 0.0);
            for (auto& a : level.inputRe) a.setZero();
            for (auto& a : level.inputIm) a.setZero();
            std::fill(level.newest.begin(), level.newest.end(), 0);
            level.phase = 0;
        }
    }
    // Row `row` of the IRs from `taps(k)`, k < length (no allocation): the head taps reversed for the dot
    // product, and the spectra of the partitions scaled by 1/(2B) for the unscaled inverse FFT.
    template <typename Taps>
    void setImpulse(int row, const Taps& taps) noexcept {
        const int P = headSize_;
        const auto tap = [&](int k) { return k < length_ ? static_cast<double>(taps(k)) : 0.0; };
        for (int k = 0; k < P; ++k) head_[static_cast<size_t>(row) * P + k] = tap(P - 1 - k);
        for (Level& level : levels_) {
            const int B = level.block;
            for (int j = 1; j <= level.partitions; ++j) {
                for (int k = 0; k < 2 * B; ++k) level.time[k] = k < B ? tap(j * B + k) / (2.0 * B) : 0.0;
                level.fft.forward(level.time.data(), level.filterRe[row].col(j - 1).data(), level.filterIm[row].col(j - 1).data());
            }
        }
    }
    // Convolve `n` <= kChunk samples of every channel: in[c] -> out[c] (may be the same buffer).
    template <typename Output>
    void process(float* const* in, int n, Output&& out) noexcept {
        const int P = headSize_;
        for (int c = 0; c < channels_; ++c) {
            const int row = rows_ == 1 ? 0 : c;
            double* line = line_.data() + static_cast<size_t>(c) * (P - 1 + kChunk);
            for (int t = 0; t < n; ++t) line[P - 1 + t] = in[c][t];
            alignas(64) double y[kChunk];
            directHead(head_.data() + static_cast<size_t>(row) * P, line, y);
            for (Level& level : levels_) levelOutput(level, c, row, line + P - 1, n, y);
            for (int t = 0; t < n; ++t) out(c, t, line[P - 1 + t], y[t]);
            std::copy(line + n, line + n + P - 1, line);
        }
        for (Level& level : levels_) level.phase = (level.phase + n) % level.block;
    }

private:
    // Work per output sample in units of a direct tap, measured (bench: a forward and inverse FFT pair costs
    // ~170 taps per output sample at every size from 64 to 8192 points, one partition's spectral product ~10):
    // the head, then per level an FFT pair and its partitions.
    void choosePartitions(int length) {
        constexpr double kFftPair = 170.0, kPartition = 10.0;
        const auto levelCost = [&](int block, int covered) { return kFftPair + kPartition * ((covered + block - 1) / block - 1); };
        double best = length;  // all direct
        headSize_ = std::max(1, length), levelBlock_ = 0;
        for (int p = 32; p <= 256 && p < length; p *= 2) {
            for (int q = 0; q <= 4096; q = q ? 2 * q : 4 * p) {
                if (q && q >= length) break;
                const double cost = p + levelCost(p, q ? q : length) + (q ? levelCost(q, length) : 0.0);
                if (cost < best) best = cost, headSize_ = p, levelBlock_ = q;
            }
        }
    }
    void addLevel(int block, int partitions) {
        Level level;
        level.block = block, level.partitions = partitions;
        const int bins = block + 1;
        level.filterRe.assign(rows_, Spectra::Zero(bins, partitions)), level.filterIm.assign(rows_, Spectra::Zero(bins, partitions));
        level.inputRe.assign(channels_, Spectra::Zero(bins, partitions)), level.inputIm.assign(channels_, Spectra::Zero(bins, partitions));
        level.newest.assign(channels_, 0);
        level.window.assign(static_cast<size_t>(channels_) * 2 * block, 0.0), level.tail.assign(static_cast<size_t>(channels_) * block, 0.0);
        level.time.assign(2 * block, 0.0);
        level.accRe = Eigen::ArrayXd::Zero(bins), level.accIm = Eigen::ArrayXd::Zero(bins);
        level.fft.prepare(2 * block);
        levels_.push_back(std::move(level));
    }
    // Add one level's contribution to y[0..n) for channel c, feeding it the chunk's inputs x[0..n).
    void levelOutput(Level& level, int c, int row, const double* x, int n, double* y) noexcept {
        const int B = level.block;
        double* window = level.window.data() + static_cast<size_t>(c) * 2 * B;
        double* tail = level.tail.data() + static_cast<size_t>(c) * B;
        int phase = level.phase;
        for (int t = 0; t < n; ++t) {
            window[B + phase] = x[t];
            y[t] += tail[phase];
            if (++phase == B) phase = 0, blockDone(level, c, row, window, tail);
        }
    }
    // A block of input is complete: its window's spectrum enters the delay line and the next B outputs of
    // this level are the last B samples of the inverse FFT of sum_j X[m + 1 - j] H_j (overlap-save).
    void blockDone(Level& level, int c, int row, double* window, double* tail) noexcept {
        const int B = level.block, count = level.partitions;
        const int slot = level.newest[c] = (level.newest[c] + 1) % count;
        level.fft.forward(window, level.inputRe[c].col(slot).data(), level.inputIm[c].col(slot).data());
        level.accRe.setZero(), level.accIm.setZero();
        double* __restrict accRe = level.accRe.data();
        double* __restrict accIm = level.accIm.data();
        for (int j = 1; j <= count; ++j) {  // one pass over each pair of spectra (memory-bound for long IRs)
            const int i = ((slot - (j - 1)) % count + count) % count;
            const double *xr = level.inputRe[c].col(i).data(), *xi = level.inputIm[c].col(i).data();
            const double *hr = level.filterRe[row].col(j - 1).data(), *hi = level.filterIm[row].col(j - 1).data();
            for (int k = 0; k <= B; ++k) accRe[k] += xr[k] * hr[k] - xi[k] * hi[k], accIm[k] += xr[k] * hi[k] + xi[k] * hr[k];
        }
        level.fft.inverse(level.accRe.data(), level.accIm.data(), level.time.data());
        std::copy(level.time.begin() + B, level.time.end(), tail);
        std::copy(window + B, window + 2 * B, window);
    }
    // The first partition's output for a whole chunk: y[t] = sum_k h[k] x[t - k], tap-outer so that the
    // kChunk outputs stay in vector registers as independent accumulators (double precision). Outputs past
    // the chunk's length read stale samples and are ignored. GCC/clang vector types keep the accumulators
    // in registers (2.7x faster than the plain loop, which the compiler reloads through memory).
    void directHead(const double* reversed, const double* line, double* y) const noexcept {
        const int P = headSize_;
#if defined(__GNUC__)
        typedef double Lanes __attribute__((vector_size(32)));
        constexpr int kLanes = 4, kGroups = kChunk / kLanes;
        Lanes acc[kGroups] = {};
        for (int k = 0; k < P; ++k) {
            const double h = reversed[k];  // h[P - 1 - k], against the input P - 1 - k samples back
            for (int i = 0; i < kGroups; ++i) {
                Lanes x;
                std::memcpy(&x, line + k + kLanes * i, sizeof x);
                acc[i] += h * x;
            }
        }
        std::memcpy(y, acc, sizeof acc);
#else
        for (int t = 0; t < kChunk; ++t) y[t] = 0.0;
        for (int k = 0; k < P; ++k)
            for (int t = 0; t < kChunk; ++t) y[t] += reversed[k] * line[k + t];
#endif
    }
    int rows_ = 1, length_ = 1, channels_ = 1, headSize_ = 1, levelBlock_ = 0;
    std::vector<double> head_, line_;
    std::vector<Level> levels_;
};

// ddsp_kit.processors.FIRFilter: taps (M) shared, or (channels, M) per channel, partitioned convolution.
class FIRFilter : public Block {
public:
    FIRFilter(const json& node, const EngineFile& file) : Block(node) {
        const Tensor& taps = file.tensor(node.at("tensors").at("taps").get<std::string>());
        if (taps.shape.empty() || taps.shape.size() > 2 || taps.shape.back() < 1 || taps.shape.back() > (1 << 23))
            throw FileError(path + ": taps must be (M,) or (C, M)");
        length_ = static_cast<int>(taps.shape.back());
        rows_ = taps.shape.size() == 2 ? static_cast<int>(taps.shape[0]) : 1;
        taps_ = taps.values;
    }
    void prepare(double, int channels) override {
        if (rows_ != 1 && rows_ != channels)
            throw FileError(path + ": " + std::to_string(rows_) + " FIR filters for " + std::to_string(channels) + " channels");
        convolver_.prepare(rows_, length_, channels);
        for (int r = 0; r < rows_; ++r) convolver_.setImpulse(r, [&](int k) { return taps_[static_cast<size_t>(r) * length_ + k]; });
    }
    void reset() override { convolver_.reset(); }
    void process(float* const* audio, int n) noexcept override {
        convolver_.process(audio, n, [audio](int c, int t, double, double y) { audio[c][t] = static_cast<float>(y); });
    }

private:
    int length_, rows_;
    std::vector<float> taps_;
    PartitionedConvolver convolver_;
};

// ---------------------------------------------------------------------------------------- black-box nets

using RowMajorXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A (rows x cols) float matrix from a tensor of a net (torch writes row-major). Load time.
inline Eigen::MatrixXf netMatrix(const EngineFile& file, const json& names, const std::string& key, int rows, int cols) {
    if (!names.contains(key)) throw FileError("net: no tensor for " + key);
    const Tensor& t = file.tensor(names.at(key).get<std::string>());
    if (static_cast<int64_t>(t.values.size()) != static_cast<int64_t>(rows) * cols)
        throw FileError("net: tensor " + key + " has " + std::to_string(t.values.size()) + " values, expected " + std::to_string(rows) +
                        "x" + std::to_string(cols));
    return Eigen::Map<const RowMajorXf>(t.values.data(), rows, cols);
}

// The same in double precision: small layers computed only when something moves (controllers, FiLM, mixing).
inline Eigen::MatrixXd doubleMatrix(const EngineFile& file, const json& names, const std::string& key, int rows, int cols) {
    return netMatrix(file, names, key, rows, cols).cast<double>();
}

// ddsp_kit.models.conditioning.FiLM: features x -> x (1 + gamma) + beta per channel, (gamma, beta) from an
// MLP of the knob inputs (Linear, tanh, Linear), recomputed in double only when a knob moved.
class FilmModulator {
public:
    FilmModulator(const EngineFile& file, const json& names, const std::string& prefix, int channels, int knobs, int hidden) {
        w1_ = doubleMatrix(file, names, prefix + "hidden_weight", hidden, knobs);
        b1_ = doubleMatrix(file, names, prefix + "hidden_bias", hidden, 1);
        w2_ = doubleMatrix(file, names, prefix + "output_weight", 2 * channels, hidden);
        b2_ = doubleMatrix(file, names, prefix + "output_bias", 2 * channels, 1);
        scale_.resize(channels), shift_.resize(channels), hidden_.resize(hidden), out_.resize(2 * channels);
    }
    void update(const Eigen::VectorXd& knobs) noexcept {
        hidden_.noalias() = w1_ * knobs;
        hidden_ = (hidden_ + b1_.col(0)).array().tanh().matrix();
        out_.noalias() = w2_ * hidden_;
        out_ += b2_.col(0);
        const Eigen::Index channels = scale_.size();
        scale_ = (1.0 + out_.head(channels).array()).cast<float>();
        shift_ = out_.tail(channels).array().cast<float>();
    }
    // features (channels x n), in place
    template <typename Features>
    void apply(Features&& features) const noexcept {
        features.array() = (features.array().colwise() * scale_).colwise() + shift_;
    }

private:
    Eigen::MatrixXd w1_, b1_, w2_, b2_;
    Eigen::VectorXd hidden_, out_;
    Eigen::ArrayXf scale_, shift_;
};

// ddsp_kit.models.TCN: dilated causal convolutions, FiLM by the knobs, tanh, residual sums, a 1x1 output.
// Each layer keeps the last (kernel - 1) * dilation samples of its input; a net with one input channel runs
// once per channel. Float weights and activations (as the nets run in Python), products through Eigen.
class TCN : public Block {
    using Matrix = Eigen::MatrixXf;

public:
    TCN(const json& node, const EngineFile& file) : Block(node) {
        channels_ = node.at("channels").get<int>(), kernel_ = node.at("kernel_size").get<int>();
        inChannels_ = node.at("in_channels").get<int>(), outChannels_ = node.at("out_channels").get<int>();
        knobs_ = node.at("num_knobs").get<int>();
        const bool bias = node.at("bias").get<bool>(), film = node.at("film").get<bool>();
        const json& names = node.at("tensors");
        if (channels_ < 1 || channels_ > 1024 || kernel_ < 1 || kernel_ > 64 || inChannels_ < 1 || outChannels_ != inChannels_ || knobs_ < 0 ||
            knobs_ > 64 || (film && knobs_ < 1))
            throw FileError(path + ": unsupported TCN shape (the engine needs as many output channels as input)");
        for (const json& d : node.at("dilations")) {
            const int dilation = d.get<int>();
            if (dilation < 1 || static_cast<int64_t>(dilation) * (kernel_ - 1) > (1 << 20)) throw FileError(path + ": bad dilation");
            Layer layer;
            layer.dilation = dilation;
            const int inputs = layers_.empty() ? inChannels_ : channels_;
            const std::string n = std::to_string(layers_.size());
            const Matrix w = netMatrix(file, names, "conv" + n + "_weight", channels_, inputs * kernel_);  // (out, in * K)
            for (int k = 0; k < kernel_; ++k) {
                layer.taps.emplace_back(channels_, inputs);
                for (int i = 0; i < inputs; ++i) layer.taps.back().col(i) = w.col(i * kernel_ + k);
            }
            layer.bias = bias ? Eigen::VectorXf(netMatrix(file, names, "conv" + n + "_bias", channels_, 1).col(0)) : Eigen::VectorXf::Zero(channels_);
            if (film) layer.film = std::make_unique<FilmModulator>(file, names, "film" + n + ".", channels_, knobs_, node.at("film_hidden").get<int>());
            layers_.push_back(std::move(layer));
        }
        if (layers_.empty() || layers_.size() > 64) throw FileError(path + ": a TCN needs 1 to 64 layers");
        if (inChannels_ != channels_) project_ = netMatrix(file, names, "project_weight", channels_, inChannels_);
        outWeight_ = netMatrix(file, names, "output_weight", outChannels_, channels_);
        outBias_ = bias ? Eigen::VectorXf(netMatrix(file, names, "output_bias", outChannels_, 1).col(0)) : Eigen::VectorXf::Zero(outChannels_);
        knobValues_ = Eigen::VectorXd::Constant(knobs_, 0.5);
    }
    void prepare(double, int channels) override {
        if (inChannels_ != 1 && inChannels_ != channels)
            throw FileError(path + ": a net with " + std::to_string(inChannels_) + " input channels cannot run on " + std::to_string(channels));
        streams_ = inChannels_ == 1 ? channels : 1;
        history_.clear();
        for (int s = 0; s < streams_; ++s)
            for (size_t l = 0; l < layers_.size(); ++l) {
                const int span = (kernel_ - 1) * layers_[l].dilation;
                history_.push_back(Matrix::Zero(l == 0 ? inChannels_ : channels_, span + kChunk));
            }
        conv_ = Matrix::Zero(channels_, kChunk), out_ = Matrix::Zero(outChannels_, kChunk), residual_ = Matrix::Zero(channels_, kChunk);
        update();
    }
    void reset() override {
        for (auto& h : history_) h.setZero();
    }
    void update() override {
        for (auto& layer : layers_)
            if (layer.film) layer.film->update(knobValues_);
        dirty = false;
    }
    void setKnobInput(int index, double value) noexcept override {
        if (index >= 0 && index < knobs_ && knobValues_[index] != value) knobValues_[index] = value, dirty = true;
    }
    void process(float* const* audio, int n) noexcept override {
        for (int stream = 0; stream < streams_; ++stream) {
            Matrix* histories = history_.data() + static_cast<size_t>(stream) * layers_.size();
            for (size_t l = 0; l < layers_.size(); ++l) {
                const Layer& layer = layers_[l];
                Matrix& h = histories[l];
                const int span = static_cast<int>(h.cols()) - kChunk;
                if (l == 0)
                    for (int c = 0; c < inChannels_; ++c)
                        for (int t = 0; t < n; ++t) h(c, span + t) = audio[stream + c][t];
                auto conv = conv_.leftCols(n);
                conv.colwise() = layer.bias;
                for (int k = 0; k < kernel_; ++k) conv.noalias() += layer.taps[k] * h.middleCols(k * layer.dilation, n);
                if (layer.film) layer.film->apply(conv);
                conv = conv.array().tanh().matrix();
                // The layer's output (its input plus the activation) is the next layer's input.
                auto next = l + 1 < layers_.size() ? histories[l + 1].middleCols(histories[l + 1].cols() - kChunk, n) : residual_.leftCols(n);
                if (l == 0 && project_.size()) next.noalias() = project_ * h.middleCols(span, n);
                else next = h.middleCols(span, n);
                next += conv;
                // Keep the last `span` input samples in front.
                if (span) {
                    for (int c = 0; c < span; c += n) {  // column blocks, never overlapping the ones read
                        const int width = std::min(n, span - c);
                        h.middleCols(c, width) = h.middleCols(c + n, width);
                    }
                }
            }
            auto out = out_.leftCols(n);
            out.noalias() = outWeight_ * residual_.leftCols(n);
            out.colwise() += outBias_;
            for (int c = 0; c < outChannels_; ++c)
                for (int t = 0; t < n; ++t) audio[stream + c][t] = out(c, t);
        }
    }

private:
    struct Layer {
        int dilation = 1;
        std::vector<Matrix> taps;  // tap k: (channels, inputs)
        Eigen::VectorXf bias;
        std::unique_ptr<FilmModulator> film;
    };
    int channels_, kernel_, inChannels_, outChannels_, knobs_, streams_ = 1;
    std::vector<Layer> layers_;
    std::vector<Matrix> history_;  // per stream and layer: (inputs, span + kChunk), oldest first
    Matrix project_, outWeight_, conv_, out_, residual_;
    Eigen::VectorXf outBias_;
    Eigen::VectorXd knobValues_;
};

// ---------------------------------------------------------------------------------------- reverbs

inline constexpr double kDecay = 6.90775527898213705205;  // 3 ln(10): an RT60 in nepers

// ddsp_kit.processors.FeedbackDelayNetwork: N delay lines, an orthogonal mixing matrix, input and output
// gains, Jot's first-order absorption shelves per line (rt60_low / rt60_high either side of `crossover`),
// dry/wet `mix`. The line lengths are samples at the training rate, scaled to the host's (so that the echo
// times, and with the absorption redesigned the decay times, are the trained ones). Double state.
class FeedbackDelayNetwork : public Block {
public:
    FeedbackDelayNetwork(const json& node, const EngineFile& file) : Block(node) {
        low_ = need("rt60_low"), high_ = need("rt60_high"), crossover_ = need("crossover"), mix_ = need("mix");
        modelRate_ = node.at("rate").get<double>();
        for (const json& d : node.at("delays")) {
            trained_.push_back(d.get<int>());
            if (trained_.back() < 1 || trained_.back() > (1 << 22)) throw FileError(path + ": bad delay");
        }
        const int lines = static_cast<int>(trained_.size());
        if (lines < 1 || lines > 64 || !(modelRate_ > 0)) throw FileError(path + ": bad delay lines or rate");
        const json& names = node.at("tensors");
        matrix_ = doubleMatrix(file, names, "matrix", lines, lines);
        inputGains_ = doubleMatrix(file, names, "input_gains", lines, 1).col(0);
        outputGains_ = doubleMatrix(file, names, "output_gains", lines, 1).col(0);
        sections_.resize(lines);
    }
    void prepare(double sampleRate, int channels) override {
        sampleRate_ = sampleRate, channels_ = channels;
        const size_t lines = trained_.size();
        delays_.clear(), offsets_.clear();
        size_t total = 0;
        for (int d : trained_) {
            delays_.push_back(std::max(1, static_cast<int>(std::lround(d * sampleRate / modelRate_))));
            offsets_.push_back(total), total += delays_.back();
        }
        lineLength_ = total;
        buffer_.assign(total * channels, 0.0);
        filterState_.assign(lines * 2 * channels, 0.0);
        positions_.assign(lines, 0);
        absorbed_.resize(lines), fed_.resize(lines);
        update();
    }
    void reset() override {
        std::fill(buffer_.begin(), buffer_.end(), 0.0);
        std::fill(filterState_.begin(), filterState_.end(), 0.0);
        std::fill(positions_.begin(), positions_.end(), 0);
    }
    void update() override {  // ddsp_kit.functional.absorption_design at the host rate
        const double low = values[low_], high = values[high_], k = std::tan(kPi * clampFrequency(values[crossover_], sampleRate_) / sampleRate_);
        for (size_t i = 0; i < delays_.size(); ++i) {
            const double length = delays_[i] / sampleRate_;
            const double gain = std::exp(-kDecay * length / low), root = std::exp(-kDecay / 2 * length * (1 / high - 1 / low));
            const double a0 = k + 1 / root;
            sections_[i] = {gain * (k + root) / a0, gain * (k - root) / a0, 0, (k - 1 / root) / a0, 0};
        }
        mixValue_ = values[mix_];
        dirty = false;
    }
    void process(float* const* audio, int n) noexcept override {
        const size_t lines = delays_.size();
        std::vector<int>& position = positions_;
        for (int t = 0; t < n; ++t) {
            for (int c = 0; c < channels_; ++c) {
                double* line = buffer_.data() + c * lineLength_;
                double* state = filterState_.data() + c * lines * 2;  // per line: previous input, previous output
                const double x = audio[c][t];
                double wet = 0;
                for (size_t i = 0; i < lines; ++i) {
                    const double s = line[offsets_[i] + position[i]];
                    const Section& f = sections_[i];
                    const double a = f.b0 * s + f.b1 * state[2 * i] - f.a1 * state[2 * i + 1];
                    state[2 * i] = s, state[2 * i + 1] = a;
                    absorbed_[i] = a, wet += outputGains_[i] * a;
                }
                feed(x);
                for (size_t i = 0; i < lines; ++i) line[offsets_[i] + position[i]] = fed_[i];
                audio[c][t] = static_cast<float>(x + mixValue_ * (wet - x));
            }
            for (size_t i = 0; i < lines; ++i)
                if (++position[i] == delays_[i]) position[i] = 0;
        }
    }

private:
    // fed = b x + A a. Rows in groups of four lanes, each group's sum in two registers (even and odd
    // columns): the products of one sample do not wait on one another through memory, as column axpys
    // into fed do (a store-to-load chain per column).
    void feed(double x) noexcept {
        const int lines = static_cast<int>(delays_.size());
        const double *a = absorbed_.data(), *matrix = matrix_.data(), *in = inputGains_.data();
        double* fed = fed_.data();
        int i = 0;
#if defined(__GNUC__)
        typedef double Lanes __attribute__((vector_size(32)));
        for (; i + 4 <= lines; i += 4) {
            Lanes even, odd = {}, column;
            std::memcpy(&even, in + i, sizeof even);
            even *= x;
            int j = 0;
            for (; j + 2 <= lines; j += 2) {
                std::memcpy(&column, matrix + static_cast<size_t>(j) * lines + i, sizeof column), even += column * a[j];
                std::memcpy(&column, matrix + static_cast<size_t>(j + 1) * lines + i, sizeof column), odd += column * a[j + 1];
            }
            if (j < lines) std::memcpy(&column, matrix + static_cast<size_t>(j) * lines + i, sizeof column), even += column * a[j];
            even += odd;
            std::memcpy(fed + i, &even, sizeof even);
        }
#endif
        for (; i < lines; ++i) {
            double sum = in[i] * x;
            for (int j = 0; j < lines; ++j) sum += matrix[static_cast<size_t>(j) * lines + i] * a[j];
            fed[i] = sum;
        }
    }

    int low_, high_, crossover_, mix_, channels_ = 1;
    double modelRate_, sampleRate_ = 48000, mixValue_ = 0;
    std::vector<int> trained_, delays_, positions_;
    std::vector<size_t> offsets_;
    size_t lineLength_ = 0;
    Eigen::MatrixXd matrix_;
    Eigen::VectorXd inputGains_, outputGains_, absorbed_, fed_;
    std::vector<Section> sections_;
    std::vector<double> buffer_, filterState_;
};

// ddsp_kit.processors.ConvolutionReverb / NoiseReverb: convolution with an impulse response (partitioned,
// no latency), dry/wet `mix`. The IR is a tensor (one row, or one per channel), or NoiseReverb's decaying
// band noise sum_b 10^(level_b / 20) exp(-3 ln(10) t / (f_s T_b)) noise_b[t], rebuilt when the band
// parameters move (at most once per 256 samples, so that a gliding knob costs a bounded share of the audio
// thread). The IR holds samples at the training rate: at another rate it plays unchanged (rate-bound).
class Convolution : public Block {
public:
    Convolution(const json& node, const EngineFile& file) : Block(node) {
        mix_ = need("mix");
        const json& names = node.at("tensors");
        const std::string source = node.at("source").get<std::string>();
        if (source == "ir") {
            const Tensor& ir = file.tensor(names.at("ir").get<std::string>());
            if (ir.shape.empty() || ir.shape.size() > 2 || ir.shape.back() < 1) throw FileError(path + ": the IR must be (L,) or (C, L)");
            rows_ = ir.shape.size() == 2 ? static_cast<int>(ir.shape[0]) : 1, length_ = static_cast<int>(ir.shape.back());
            ir_.assign(ir.values.begin(), ir.values.end());
        } else if (source == "noise") {
            const Tensor& bands = file.tensor(names.at("bands").get<std::string>());
            if (bands.shape.size() != 2 || bands.shape[0] < 1 || bands.shape[0] > 64 || bands.shape[1] < 1) throw FileError(path + ": bad band noise");
            bandCount_ = static_cast<int>(bands.shape[0]), length_ = static_cast<int>(bands.shape[1]);
            bands_.assign(bands.values.begin(), bands.values.end());
            for (int b = 1; b <= bandCount_; ++b) rt60_.push_back(need("band" + std::to_string(b) + "_rt60")), level_.push_back(need("band" + std::to_string(b) + "_level_db"));
            modelRate_ = node.at("rate").get<double>();
            if (!(modelRate_ > 0)) throw FileError(path + ": bad rate");
            ir_.assign(length_, 0.0), designedValues_.assign(2 * bandCount_, 0.0);
        } else throw FileError(path + ": unknown IR source '" + source + "'");
        if (length_ > (1 << 23)) throw FileError(path + ": the IR is too long");
    }
    void prepare(double, int channels) override {
        if (rows_ != 1 && rows_ != channels)
            throw FileError(path + ": " + std::to_string(rows_) + " impulse responses for " + std::to_string(channels) + " channels");
        convolver_.prepare(rows_, length_, channels);
        designed_ = false;
        update();
    }
    void reset() override { convolver_.reset(); }
    void update() override {
        mixValue_ = values[mix_];
        const bool rebuild = !designed_ || (!bands_.empty() && bandsMoved());
        if (rebuild && designed_ && sinceDesign_ < kRedesignSamples) return;  // too soon: stays dirty, a later chunk rebuilds
        if (rebuild) design();
        dirty = false;
    }
    void process(float* const* audio, int n) noexcept override {
        const double mix = mixValue_;
        convolver_.process(audio, n, [audio, mix](int c, int t, double x, double wet) { audio[c][t] = static_cast<float>(x + mix * (wet - x)); });
        sinceDesign_ += n;
        // A deferred rebuild is retried here: the engine only updates blocks while their knobs move.
        if (dirty && sinceDesign_ >= kRedesignSamples) update();
    }

private:
    static constexpr int kRedesignSamples = 256;
    bool bandsMoved() const noexcept {
        for (int b = 0; b < bandCount_; ++b)
            if (designedValues_[2 * b] != values[rt60_[b]] || designedValues_[2 * b + 1] != values[level_[b]]) return true;
        return false;
    }
    void design() noexcept {
        if (!bands_.empty()) {  // decays by recurrence: no exp per sample
            std::fill(ir_.begin(), ir_.end(), 0.0);
            for (int b = 0; b < bandCount_; ++b) {
                const double ratio = std::exp(-kDecay / (modelRate_ * values[rt60_[b]]));
                double gain = dbToGain(values[level_[b]]);
                const float* noise = bands_.data() + static_cast<size_t>(b) * length_;
                for (int t = 0; t < length_; ++t) ir_[t] += gain * noise[t], gain *= ratio;
                designedValues_[2 * b] = values[rt60_[b]], designedValues_[2 * b + 1] = values[level_[b]];
            }
        }
        for (int r = 0; r < rows_; ++r) convolver_.setImpulse(r, [&](int k) { return ir_[static_cast<size_t>(r) * length_ + k]; });
        designed_ = true, sinceDesign_ = 0;
    }

    int mix_, rows_ = 1, length_ = 0, bandCount_ = 0;
    int64_t sinceDesign_ = 0;
    bool designed_ = false;
    double modelRate_ = 48000, mixValue_ = 0;
    std::vector<int> rt60_, level_;
    std::vector<float> bands_;
    std::vector<double> ir_, designedValues_;  // designedValues_: the (rt60, level) pairs the IR was built from
    PartitionedConvolver convolver_;
};

// ---------------------------------------------------------------------------------------- recurrent nets

// One step of torch's GRU (gate order reset, update, new; the reset gate scales W_hn h + b_hn), in the
// weights' precision, through preallocated gate and candidate vectors.
template <typename Weights, typename Bias, typename Input, typename Vector>
void gruStep(const Weights& wih, const Weights& whh, const Bias& bih, const Bias& bhh, const Input& u, Vector& h, Vector& gi, Vector& gh,
             Vector& candidate) noexcept {
    const Eigen::Index H = h.size();
    gi.noalias() = wih * u;
    gh.noalias() = whh * h;
    gi += bih, gh += bhh;
    auto r = (gi.segment(0, H) + gh.segment(0, H)).array().logistic();
    auto z = (gi.segment(H, H) + gh.segment(H, H)).array().logistic();
    candidate.array() = (gi.segment(2 * H, H).array() + r * gh.segment(2 * H, H).array()).tanh();
    h.array() = (1 - z) * candidate.array() + z * h.array();
}

// ddsp_kit.models.RecurrentModel: LSTM or GRU over the samples, a linear output, optional residual.
// A net with one input channel runs once per channel; otherwise its channels are the engine's.
class RecurrentModel : public Block {
    // Column-major weights: the matrix-vector products are sums of contiguous columns (vectorised axpy),
    // several times fewer instructions than row-major dot products for these short rows.
    using Matrix = Eigen::MatrixXf;
    using Vector = Eigen::VectorXf;

public:
    RecurrentModel(const json& node, const EngineFile& file) : Block(node) {
        lstm_ = node.at("cell").get<std::string>() == "lstm";
        hidden_ = node.at("hidden").get<int>(), layers_ = node.at("layers").get<int>();
        inChannels_ = node.at("in_channels").get<int>(), outChannels_ = node.at("out_channels").get<int>();
        knobs_ = node.at("num_knobs").get<int>(), residual_ = node.at("residual").get<bool>();
        // Knobs are concatenated to the input (format 1.0 had nothing else) and/or modulate the last layer (FiLM).
        const int allKnobs = knobs_;
        if (!node.value("concat_knobs", true)) knobs_ = 0;
        if (hidden_ < 1 || layers_ < 1 || inChannels_ < 1 || outChannels_ != inChannels_ || knobs_ < 0 || knobs_ > 64)
            throw FileError(path + ": unsupported net shape (the engine needs as many output channels as input)");
        const json& names = node.at("tensors");
        const int gates = (lstm_ ? 4 : 3) * hidden_;
        for (int l = 0; l < layers_; ++l) {
            const std::string s = std::to_string(l);
            const int inputs = l == 0 ? inChannels_ + knobs_ : hidden_;
            layer_.push_back({netMatrix(file, names, "weight_ih_l" + s, gates, inputs), netMatrix(file, names, "weight_hh_l" + s, gates, hidden_),
                              netMatrix(file, names, "bias_ih_l" + s, gates, 1), netMatrix(file, names, "bias_hh_l" + s, gates, 1), Matrix()});
            Layer& added = layer_.back();
            if (lstm_) {  // the LSTM only uses the sum of its biases, and [W_ih W_hh] [u; h] in one product
                added.biasIh += added.biasHh;
                added.stacked.resize(gates, inputs + hidden_);
                added.stacked << added.weightIh, added.weightHh;
            }
        }
        outWeight_ = netMatrix(file, names, "output_weight", outChannels_, hidden_);
        outBias_ = netMatrix(file, names, "output_bias", outChannels_, 1);
        knobValues_ = Vector::Constant(knobs_, 0.5f);
        if (node.value("film", false)) {
            if (allKnobs < 1) throw FileError(path + ": FiLM without knobs");
            film_ = std::make_unique<FilmModulator>(file, names, "film0.", hidden_, allKnobs, node.at("film_hidden").get<int>());
            filmKnobs_ = Eigen::VectorXd::Constant(allKnobs, 0.5);
        }
    }

    void prepare(double, int channels) override {
        if (inChannels_ != 1 && inChannels_ != channels)
            throw FileError(path + ": a net with " + std::to_string(inChannels_) + " input channels cannot run on " + std::to_string(channels));
        streams_ = inChannels_ == 1 ? channels : 1;
        const int gates = (lstm_ ? 4 : 3) * hidden_;
        state_.assign(static_cast<size_t>(streams_) * layers_, {Vector::Zero(hidden_), Vector::Zero(hidden_)});
        input_ = Vector::Zero(inChannels_ + knobs_), gatesIh_ = Vector::Zero(gates), gatesHh_ = Vector::Zero(gates);
        stackedInput_ = Vector::Zero(std::max(inChannels_ + knobs_, hidden_) + hidden_);
        candidate_ = Vector::Zero(hidden_), out_ = Vector::Zero(outChannels_), modulated_ = Vector::Zero(hidden_);
        update();
    }
    void update() override {
        if (film_) film_->update(filmKnobs_);
        dirty = false;
    }
    void reset() override {
        for (auto& s : state_) s.h.setZero(), s.c.setZero();
    }
    void setKnobInput(int index, double value) noexcept override {
        if (index >= 0 && index < knobs_) knobValues_[index] = static_cast<float>(value);
        if (film_ && index >= 0 && index < filmKnobs_.size() && filmKnobs_[index] != value) filmKnobs_[index] = value, dirty = true;
    }
    void process(float* const* audio, int n) noexcept override {
        for (int stream = 0; stream < streams_; ++stream) {
            for (int t = 0; t < n; ++t) {
                for (int c = 0; c < inChannels_; ++c) input_[c] = audio[stream + c][t];
                if (knobs_) input_.tail(knobs_) = knobValues_;
                const Vector* u = &input_;
                for (int l = 0; l < layers_; ++l) {
                    step(layer_[l], state_[static_cast<size_t>(stream) * layers_ + l], *u);
                    u = &state_[static_cast<size_t>(stream) * layers_ + l].h;
                }
                if (film_) modulated_ = *u, film_->apply(modulated_), u = &modulated_;
                out_.noalias() = outWeight_ * *u;
                for (int c = 0; c < outChannels_; ++c)
                    audio[stream + c][t] = out_[c] + outBias_(c, 0) + (residual_ ? input_[c] : 0.0f);
            }
        }
    }

private:
    struct Layer {
        Matrix weightIh, weightHh, biasIh, biasHh, stacked;  // stacked: [W_ih W_hh] (LSTM)
    };
    struct State {
        Vector h, c;
    };
    void step(const Layer& w, State& s, const Vector& u) noexcept {
        const int H = hidden_;
        if (lstm_) {  // torch gate order: input, forget, cell, output
            const int inputs = static_cast<int>(u.size());
            stackedInput_.head(inputs) = u;
            stackedInput_.segment(inputs, H) = s.h;
            gatesIh_.noalias() = w.stacked * stackedInput_.head(inputs + H);
            gatesIh_ += w.biasIh.col(0);
            auto i = gatesIh_.segment(0, H).array().logistic();
            auto f = gatesIh_.segment(H, H).array().logistic();
            auto g = gatesIh_.segment(2 * H, H).array().tanh();
            auto o = gatesIh_.segment(3 * H, H).array().logistic();
            s.c.array() = f * s.c.array() + i * g;
            s.h.array() = o * s.c.array().tanh();
        } else {  // torch gate order: reset, update, new; the reset gate scales W_hn h + b_hn
            gruStep(w.weightIh, w.weightHh, w.biasIh.col(0), w.biasHh.col(0), u, s.h, gatesIh_, gatesHh_, candidate_);
        }
    }

    bool lstm_, residual_;
    int hidden_, layers_, inChannels_, outChannels_, knobs_, streams_ = 1;
    std::vector<Layer> layer_;
    std::vector<State> state_;
    Matrix outWeight_, outBias_;
    Vector knobValues_, input_, gatesIh_, gatesHh_, candidate_, out_, stackedInput_, modulated_;
    std::unique_ptr<FilmModulator> film_;
    Eigen::VectorXd filmKnobs_;
};

}  // namespace ddsp_kit
