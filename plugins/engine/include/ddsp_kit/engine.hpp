// ddsp_kit real-time engine: runs an exported model (ddsp_kit.export.export_engine) on audio.
//
//   std::string error;
//   auto engine = ddsp_kit::Engine::load("model.engine.safetensors", error);  // nullptr + error on failure
//   engine->prepare(44100.0, 2);                 // allocates; designs recomputed at 44.1 kHz
//   engine->setKnob(0, 6.0);                     // physical value (dB, Hz, ...), smoothed over ~20 ms
//   engine->process(in, out, frames);            // any frames >= 0; no allocation, locks or exceptions
//
// Real-time rules kept by process(): nothing allocates (buffers are sized in prepare), nothing throws or
// logs, denormals are flushed for its duration, host blocks of any size are split into chunks of kChunk
// samples, knob changes glide exponentially (time constant kSmoothingMs) and are applied between chunks.
// load() and verify() run on a non-real-time thread.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#include "blocks.hpp"
#include "file.hpp"

namespace ddsp_kit {

inline constexpr double kSmoothingMs = 20.0;
inline constexpr int kMaxDepth = 32;

// Sets flush-to-zero and denormals-are-zero for its lifetime (x86 MXCSR, AArch64 FPCR).
class ScopedFlushDenormals {
public:
    ScopedFlushDenormals() noexcept {
#if defined(__SSE2__) || defined(_M_X64)
        saved_ = _mm_getcsr();
        _mm_setcsr(saved_ | 0x8040);
#elif defined(__aarch64__)
        uint64_t fpcr;
        __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
        saved_ = fpcr;
        __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ull << 24)));
#endif
    }
    ~ScopedFlushDenormals() {
#if defined(__SSE2__) || defined(_M_X64)
        _mm_setcsr(static_cast<unsigned>(saved_));
#elif defined(__aarch64__)
        __asm__ __volatile__("msr fpcr, %0" : : "r"(saved_));
#endif
    }

private:
    uint64_t saved_ = 0;
};

std::unique_ptr<Block> makeBlock(const json& node, const EngineFile& file, int depth);

// A block made of blocks: resets, knob inputs and the block list reach every child.
class Composite : public Block {
public:
    void reset() override {
        for (auto& child : children_) child->reset();
    }
    void setKnobInput(int index, double value) noexcept override {
        for (auto& child : children_) child->setKnobInput(index, value);
    }
    void collect(std::vector<Block*>& out) override {
        out.push_back(this);  // before its children: an update here may move their parameters
        for (auto& child : children_) child->collect(out);
    }

protected:
    using Block::Block;
    void addChildren(const json& list, const EngineFile& file, int depth) {
        for (const json& child : list) children_.push_back(makeBlock(child, file, depth + 1));
    }
    std::vector<std::unique_ptr<Block>> children_;
};

// Blocks in series.
class Chain : public Composite {
public:
    Chain(const json& node, const EngineFile& file, int depth) : Composite(node) { addChildren(node.at("blocks"), file, depth); }
    void prepare(double sampleRate, int channels) override {
        for (auto& b : children_) b->prepare(sampleRate, channels);
    }
    void process(float* const* audio, int n) noexcept override {
        for (auto& b : children_) b->process(audio, n);
    }
    int latency() const override {
        int total = 0;
        for (auto& b : children_) total += b->latency();
        return total;
    }
};

// Branches on one input, delayed to the slowest branch's latency, weighted (gain{i}_db) and summed.
class Parallel : public Composite {
public:
    Parallel(const json& node, const EngineFile& file, int depth) : Composite(node) {
        addChildren(node.at("branches"), file, depth);
        for (size_t i = 0; i < children_.size(); ++i) gainIndex_.push_back(need("gain" + std::to_string(i) + "_db"));
    }
    void prepare(double sampleRate, int channels) override {
        channels_ = channels;
        for (auto& b : children_) b->prepare(sampleRate, channels);
        latency_ = 0;
        for (auto& b : children_) latency_ = std::max(latency_, b->latency());
        scratch_.assign(children_.size() * channels * kChunk, 0.0f);
        pointers_.assign(children_.size() * channels, nullptr);
        for (size_t i = 0; i < pointers_.size(); ++i) pointers_[i] = scratch_.data() + i * kChunk;
        lines_.clear();
        for (auto& b : children_) lines_.push_back(std::vector<float>(static_cast<size_t>(channels) * (latency_ - b->latency())));
        positions_.assign(children_.size(), 0);
        gains_.assign(children_.size(), 1.0);
        update();
    }
    void reset() override {
        Composite::reset();
        for (auto& line : lines_) std::fill(line.begin(), line.end(), 0.0f);
        std::fill(positions_.begin(), positions_.end(), 0);
    }
    void update() override {
        for (size_t i = 0; i < children_.size(); ++i) gains_[i] = dbToGain(values[gainIndex_[i]]);
        dirty = false;
    }
    int latency() const override { return latency_; }
    void process(float* const* audio, int n) noexcept override {
        for (size_t b = 0; b < children_.size(); ++b) {
            float* const* y = pointers_.data() + b * channels_;
            for (int c = 0; c < channels_; ++c) std::copy(audio[c], audio[c] + n, y[c]);
            children_[b]->process(y, n);
            const int lag = latency_ - children_[b]->latency();
            if (lag == 0) continue;
            for (int c = 0; c < channels_; ++c) {  // ring buffer of `lag` samples per channel
                float* line = lines_[b].data() + static_cast<size_t>(c) * lag;
                int position = positions_[b];
                for (int t = 0; t < n; ++t) {
                    std::swap(line[position], y[c][t]);
                    if (++position == lag) position = 0;
                }
            }
            positions_[b] = (positions_[b] + n) % lag;
        }
        for (int c = 0; c < channels_; ++c)
            for (int t = 0; t < n; ++t) {
                double sum = 0;
                for (size_t b = 0; b < children_.size(); ++b) sum += gains_[b] * pointers_[b * channels_ + c][t];
                audio[c][t] = static_cast<float>(sum);
            }
    }

private:
    std::vector<int> gainIndex_, positions_;
    std::vector<double> gains_;
    std::vector<float> scratch_;
    std::vector<float*> pointers_;
    std::vector<std::vector<float>> lines_;
    int channels_ = 1, latency_ = 0;
};

// A parameter a controller drives: its raw output maps into the range as Parameter.to_physical does (a
// sigmoid on the linear or log axis).
struct DrivenParameter {
    int index;
    double low, high;
    bool log;
    double physical(double raw) const noexcept {
        const double axis = low + (high - low) / (1 + std::exp(-raw));
        return log ? std::exp(axis) : axis;
    }
};

// The "driven" list of a controller node, checked against the block it drives (load time).
inline std::vector<DrivenParameter> drivenParameters(const json& list, const Block& inner, const std::string& path) {
    std::vector<DrivenParameter> driven;
    for (const json& d : list) {
        const int index = inner.parameterIndex(d.at("name").get<std::string>());
        if (index < 0) throw FileError(path + ": the controller drives " + d.at("name").get<std::string>() + ", which the block lacks");
        const bool log = d.at("scale").get<std::string>() == "log";
        const double low = d.at("minimum").get<double>(), high = d.at("maximum").get<double>();
        if (!(low < high) || (log && !(low > 0))) throw FileError(path + ": bad range of a driven parameter");
        driven.push_back({index, log ? std::log(low) : low, log ? std::log(high) : high, log});
    }
    if (driven.empty() || driven.size() > 256) throw FileError(path + ": a controller drives 1 to 256 parameters");
    return driven;
}

// A block driven by a controller (ddsp_kit.controllers.Controlled): the node's "block" is its one child.
class ControlledBlock : public Composite {
public:
    int latency() const override { return children_.front()->latency(); }

protected:
    ControlledBlock(const json& node, const EngineFile& file, int depth) : Composite(node) {
        addChildren(json::array({node.at("block")}), file, depth);
    }
    Block& inner() { return *children_.front(); }
};

// A block whose parameters an MLP computes from the knob inputs (ddsp_kit.controllers.KnobController):
// knobs -> (Linear, tanh) x layers -> Linear -> raw values, mapped into each parameter's range as
// Parameter.to_physical does (a sigmoid on the linear or log axis). Recomputed, in double precision,
// only when a knob input moved (update(), between chunks); the inner block is then redesigned.
class KnobControlled : public ControlledBlock {
    using Matrix = Eigen::MatrixXd;
    using Vector = Eigen::VectorXd;

public:
    KnobControlled(const json& node, const EngineFile& file, int depth) : ControlledBlock(node, file, depth) {
        const int knobs = node.at("num_knobs").get<int>(), hidden = node.at("hidden").get<int>(), layers = node.at("layers").get<int>();
        if (knobs < 1 || knobs > 64 || hidden < 1 || hidden > 1024 || layers < 1 || layers > 16) throw FileError(path + ": bad controller shape");
        const json& names = node.at("tensors");
        for (int l = 0; l < layers; ++l) {
            const std::string k = "body" + std::to_string(l);
            weights_.push_back(doubleMatrix(file, names, k + ".weight", hidden, l == 0 ? knobs : hidden));
            biases_.push_back(doubleMatrix(file, names, k + ".bias", hidden, 1).col(0));
        }
        driven_ = drivenParameters(node.at("driven"), inner(), path);
        weights_.push_back(doubleMatrix(file, names, "output.weight", static_cast<int>(driven_.size()), hidden));
        biases_.push_back(doubleMatrix(file, names, "output.bias", static_cast<int>(driven_.size()), 1).col(0));
        knobs_ = Vector::Constant(knobs, 0.5);
        for (int l = 0; l <= layers; ++l) activations_.push_back(Vector::Zero(weights_[l].rows()));
    }
    void prepare(double sampleRate, int channels) override {
        update();
        inner().prepare(sampleRate, channels);
    }
    void update() override {
        const Vector* x = &knobs_;
        for (size_t l = 0; l < weights_.size(); ++l) {
            activations_[l].noalias() = weights_[l] * *x;
            activations_[l] += biases_[l];
            if (l + 1 < weights_.size()) activations_[l] = activations_[l].array().tanh();
            x = &activations_[l];
        }
        for (size_t i = 0; i < driven_.size(); ++i) inner().setParameter(driven_[i].index, driven_[i].physical((*x)[static_cast<int>(i)]));
        dirty = false;
    }
    void process(float* const* audio, int n) noexcept override { inner().process(audio, n); }
    // The knob inputs feed the MLP (the inner block reads none: export refuses that).
    void setKnobInput(int index, double value) noexcept override {
        if (index >= 0 && index < knobs_.size() && knobs_[index] != value) knobs_[index] = value, dirty = true;
    }

private:
    std::vector<Matrix> weights_;
    std::vector<Vector> biases_, activations_;
    std::vector<DrivenParameter> driven_;
    Vector knobs_;
};

// A block whose parameters follow its input (ddsp_kit.controllers.TimeVaryingController): per frame of `hop`
// samples the frame's mean square over channels in dB / 20 (floored at -100 dB), plus the knob inputs, enter
// a GRU (double precision); a linear layer gives the raw values reached at the end of the *next* frame,
// ramped linearly sample by sample. The inner block is redesigned and run one sample at a time (filters in
// the modal realisation Python uses under moving coefficients). The frames follow the samples, not the
// host blocks, so any block size gives the same output.
class TimeVarying : public ControlledBlock {
    using Matrix = Eigen::MatrixXd;
    using Vector = Eigen::VectorXd;

public:
    TimeVarying(const json& node, const EngineFile& file, int depth) : ControlledBlock(node, file, depth) {
        inner().runTimeVarying();
        hop_ = node.at("hop").get<int>(), knobs_ = node.at("num_knobs").get<int>();
        const int hidden = node.at("hidden").get<int>();
        if (hop_ < 1 || hop_ > (1 << 20) || knobs_ < 0 || knobs_ > 64 || hidden < 1 || hidden > 1024) throw FileError(path + ": bad controller shape");
        driven_ = drivenParameters(node.at("driven"), inner(), path);
        const json& names = node.at("tensors");
        const int P = static_cast<int>(driven_.size());
        weightIh_ = doubleMatrix(file, names, "weight_ih", 3 * hidden, 1 + knobs_);
        weightHh_ = doubleMatrix(file, names, "weight_hh", 3 * hidden, hidden);
        biasIh_ = doubleMatrix(file, names, "bias_ih", 3 * hidden, 1).col(0), biasHh_ = doubleMatrix(file, names, "bias_hh", 3 * hidden, 1).col(0);
        outWeight_ = doubleMatrix(file, names, "output_weight", P, hidden);
        outBias_ = doubleMatrix(file, names, "output_bias", P, 1).col(0);
        features_ = Vector::Zero(1 + knobs_), features_.tail(knobs_).setConstant(0.5);
        hidden_ = Vector::Zero(hidden), gi_ = Vector::Zero(3 * hidden), gh_ = Vector::Zero(3 * hidden), candidate_ = Vector::Zero(hidden);
        current_ = previous_ = outBias_, next_ = outBias_;
    }
    void prepare(double sampleRate, int channels) override {
        channels_ = channels;
        pointers_.assign(channels, nullptr);
        inner().prepare(sampleRate, channels);
        reset();
    }
    void reset() override {
        Composite::reset();
        hidden_.setZero(), current_ = previous_ = outBias_, partial_ = 0, count_ = 0;
    }
    void setKnobInput(int index, double value) noexcept override {
        if (index >= 0 && index < knobs_) features_[1 + index] = value;  // read at the next frame end
    }
    void process(float* const* audio, int n) noexcept override {
        Block& inner = this->inner();
        for (int t = 0; t < n; ++t) {
            double power = 0;
            for (int c = 0; c < channels_; ++c) power += static_cast<double>(audio[c][t]) * audio[c][t], pointers_[c] = audio[c] + t;
            const double phase = static_cast<double>(count_ + 1) / hop_;
            for (size_t i = 0; i < driven_.size(); ++i)
                inner.setParameter(driven_[i].index, driven_[i].physical(previous_[i] + (current_[i] - previous_[i]) * phase));
            if (inner.dirty) inner.update();
            inner.process(pointers_.data(), 1);
            partial_ += power / channels_;
            if (++count_ == hop_) frameEnd();
        }
    }

private:
    void frameEnd() noexcept {
        features_[0] = 10 * std::log10(std::max(partial_ / hop_, 1e-10)) / 20;
        gruStep(weightIh_, weightHh_, biasIh_, biasHh_, features_, hidden_, gi_, gh_, candidate_);
        next_.noalias() = outWeight_ * hidden_;
        next_ += outBias_;
        previous_.swap(current_), current_.swap(next_);
        partial_ = 0, count_ = 0;
    }
    int hop_, knobs_, channels_ = 1, count_ = 0;
    double partial_ = 0;
    std::vector<DrivenParameter> driven_;
    Matrix weightIh_, weightHh_, outWeight_;
    Vector biasIh_, biasHh_, outBias_, features_, hidden_, gi_, gh_, candidate_, current_, previous_, next_;
    std::vector<float*> pointers_;
};

// The dispatch table from a block's "type" to its engine class.
inline std::unique_ptr<Block> makeBlock(const json& node, const EngineFile& file, int depth) {
    if (depth > kMaxDepth) throw FileError("the model nests blocks deeper than " + std::to_string(kMaxDepth));
    if (!node.is_object() || !node.contains("type") || !node["type"].is_string() || !node.contains("path") || !node.contains("params"))
        throw FileError("a block needs 'type', 'path' and 'params'");
    const std::string type = node["type"].get<std::string>();
    if (type == "Chain") return std::make_unique<Chain>(node, file, depth);
    if (type == "Parallel") return std::make_unique<Parallel>(node, file, depth);
    if (type == "KnobControlled") return std::make_unique<KnobControlled>(node, file, depth);
    if (type == "TimeVarying") return std::make_unique<TimeVarying>(node, file, depth);
    if (type == "Gain") return std::make_unique<GainBlock>(node);
    if (type == "OnePole" || type == "Biquad" || type == "ParametricEQ") return std::make_unique<SectionFilter>(node);
    if (type == "Waveshaper") return std::make_unique<Waveshaper>(node, file);
    if (type == "Dynamics") return std::make_unique<Dynamics>(node);
    if (type == "FIRFilter") return std::make_unique<FIRFilter>(node, file);
    if (type == "RecurrentModel") return std::make_unique<RecurrentModel>(node, file);
    if (type == "TCN") return std::make_unique<TCN>(node, file);
    if (type == "FeedbackDelayNetwork") return std::make_unique<FeedbackDelayNetwork>(node, file);
    if (type == "Convolution") return std::make_unique<Convolution>(node, file);
    throw FileError("block type '" + type + "' is not known to this engine (a newer export?)");
}

struct Knob {
    std::string name, unit;
    double minimum = 0, maximum = 1, defaultValue = 0;
    bool logScale = false;
    std::vector<std::pair<Block*, int>> parameters;  // block, parameter index
    std::vector<int> inputs;                         // knob inputs of the nets
    double target = 0, current = 0;                  // on the knob's axis (log for log-scaled knobs)

    double toAxis(double value) const { return logScale ? std::log(value) : value; }
    double fromAxis(double axis) const { return logScale ? std::exp(axis) : axis; }
    // A macro position in [0, 1] -> physical value, centred on the default: 0.5 is the trained value,
    // 0 and 1 the ends of the range (piecewise linear on the knob's axis), so a generic plugin at its
    // default macro settings sounds exactly like the model.
    double fromMacro(double position) const {
        position = std::min(std::max(position, 0.0), 1.0);
        const double centre = toAxis(defaultValue);
        const double end = toAxis(position >= 0.5 ? maximum : minimum);
        return fromAxis(centre + std::abs(2 * position - 1) * (end - centre));
    }
};

class Engine {
public:
    // Parse, build and self-check a model (non-real-time). Returns nullptr and sets `error` on failure.
    static std::unique_ptr<Engine> load(const std::string& path, std::string& error) noexcept {
        try {
            return build(readEngineFile(path), error);
        } catch (const std::exception& e) {
            error = e.what();
        } catch (...) {
            error = "unknown error";
        }
        return nullptr;
    }
    static std::unique_ptr<Engine> loadMemory(const uint8_t* bytes, size_t size, std::string& error) noexcept {
        try {
            return build(parseEngineFile(bytes, size), error);
        } catch (const std::exception& e) {
            error = e.what();
        } catch (...) {
            error = "unknown error";
        }
        return nullptr;
    }

    // Allocate for `channels` channels at `sampleRate` (non-real-time); resets the state.
    void prepare(double sampleRate, int channels) {
        if (!(sampleRate > 0) || channels < 1 || channels > 64) throw FileError("prepare: bad sample rate or channel count");
        sampleRate_ = sampleRate, channels_ = channels;
        root_->prepare(sampleRate, channels);
        work_.assign(static_cast<size_t>(channels) * kChunk, 0.0f);
        pointers_.assign(channels, nullptr);
        for (int c = 0; c < channels; ++c) pointers_[c] = work_.data() + static_cast<size_t>(c) * kChunk;
        smoothing_ = 1.0 - std::exp(-kChunk / (kSmoothingMs / 1000.0 * sampleRate));
        for (Knob& k : knobs_) k.current = k.target;
        applyKnobs(true);
        root_->reset();
    }
    void reset() noexcept { root_->reset(); }

    // Process `frames` samples of every prepared channel; `in` and `out` may be the same buffers.
    void process(const float* const* in, float* const* out, int frames) noexcept {
        ScopedFlushDenormals flush;
        for (int start = 0; start < frames; start += kChunk) {
            const int n = std::min(kChunk, frames - start);
            applyKnobs(false);
            for (int c = 0; c < channels_; ++c) std::copy(in[c] + start, in[c] + start + n, pointers_[c]);
            root_->process(pointers_.data(), n);
            for (int c = 0; c < channels_; ++c) std::copy(pointers_[c], pointers_[c] + n, out[c] + start);
        }
    }

    // Knob `index` to a physical `value` (clamped to its range); it glides there unless `immediate`.
    void setKnob(int index, double value, bool immediate = false) noexcept {
        if (index < 0 || index >= static_cast<int>(knobs_.size()) || !std::isfinite(value)) return;
        Knob& k = knobs_[index];
        k.target = k.toAxis(std::min(std::max(value, k.minimum), k.maximum));
        if (immediate) k.current = k.target, pending_ = true;
    }
    double knobValue(int index) const { return knobs_.at(index).fromAxis(knobs_.at(index).target); }
    const std::vector<Knob>& knobs() const { return knobs_; }

    int latency() const { return root_->latency(); }
    int modelChannels() const { return modelChannels_; }
    double modelSampleRate() const { return modelSampleRate_; }
    const std::string& name() const { return name_; }
    // Nets and FIR taps hold samples at the training rate: at another rate they run unchanged.
    bool rateBound() const { return rateBound_; }

    // Run the golden input at the model's own rate and channels and compare with the golden output
    // (non-real-time). Leaves the engine prepared at the model's rate; prepare() again for the host.
    bool verify(std::string& error, double* maxError = nullptr) {
        for (size_t i = 0; i < knobs_.size(); ++i) setKnob(static_cast<int>(i), knobs_[i].defaultValue, true);
        prepare(modelSampleRate_, modelChannels_);
        const int frames = static_cast<int>(goldenIn_.size()) / modelChannels_;
        std::vector<float> y(goldenIn_.size());
        std::vector<const float*> in(modelChannels_);
        std::vector<float*> out(modelChannels_);
        for (int c = 0; c < modelChannels_; ++c) in[c] = goldenIn_.data() + c * frames, out[c] = y.data() + c * frames;
        for (int start = 0, block = 61; start < frames; start += block) {  // an odd block size exercises the chunking
            std::vector<const float*> i2(in);
            std::vector<float*> o2(out);
            for (int c = 0; c < modelChannels_; ++c) i2[c] += start, o2[c] += start;
            process(i2.data(), o2.data(), std::min(block, frames - start));
        }
        double worst = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            const double e = std::abs(static_cast<double>(y[i]) - goldenOut_[i]);
            if (!(e <= worst)) worst = std::isfinite(e) ? e : INFINITY;
        }
        if (maxError) *maxError = worst;
        root_->reset();
        if (!(worst <= tolerance_)) {
            error = "the model does not reproduce its golden output: max error " + std::to_string(worst) + " > tolerance " +
                    std::to_string(tolerance_);
            return false;
        }
        return true;
    }

private:
    static std::unique_ptr<Engine> build(EngineFile file, std::string& error) {
        auto engine = std::unique_ptr<Engine>(new Engine());
        const json& h = file.header;
        engine->name_ = h.at("name").get<std::string>();
        engine->modelSampleRate_ = h.at("sample_rate").get<double>();
        engine->modelChannels_ = h.at("channels").get<int>();
        engine->root_ = makeBlock(h.at("model"), file, 0);
        std::vector<Block*>& all = engine->blocks_;
        engine->root_->collect(all);
        for (Block* b : all) engine->rateBound_ |= b->type == "FIRFilter" || b->type == "RecurrentModel" || b->type == "TCN" || b->type == "Convolution";
        for (const json& k : h.at("knobs")) {
            Knob knob;
            knob.name = k.at("name").get<std::string>(), knob.unit = k.at("unit").get<std::string>();
            knob.minimum = k.at("minimum").get<double>(), knob.maximum = k.at("maximum").get<double>();
            knob.defaultValue = k.at("default").get<double>(), knob.logScale = k.at("scale").get<std::string>() == "log";
            if (!(knob.minimum < knob.maximum) || (knob.logScale && !(knob.minimum > 0)) ||
                !(knob.defaultValue >= knob.minimum && knob.defaultValue <= knob.maximum))
                throw FileError("knob '" + knob.name + "': bad range or default");
            for (const json& target : k.at("targets")) {
                if (target.contains("input")) {
                    knob.inputs.push_back(target.at("input").get<int>());
                    continue;
                }
                const std::string path = target.at("block").get<std::string>(), parameter = target.at("parameter").get<std::string>();
                Block* block = nullptr;
                for (Block* b : all)
                    if (b->path == path) block = b;
                const int index = block ? block->parameterIndex(parameter) : -1;
                if (index < 0) throw FileError("knob '" + knob.name + "' drives " + path + ":" + parameter + ", which does not exist");
                knob.parameters.emplace_back(block, index);
            }
            knob.target = knob.current = knob.toAxis(knob.defaultValue);
            engine->knobs_.push_back(std::move(knob));
        }
        const json& golden = h.at("golden");
        const Tensor& in = file.tensor(golden.at("input").get<std::string>());
        const Tensor& out = file.tensor(golden.at("output").get<std::string>());
        if (in.shape.size() != 2 || in.shape != out.shape || in.shape[0] != engine->modelChannels_ || in.shape[1] < 1)
            throw FileError("the golden pair must be two (channels, samples) tensors of one shape");
        engine->goldenIn_ = in.values, engine->goldenOut_ = out.values;
        engine->tolerance_ = golden.at("tolerance").get<double>();
        engine->prepare(engine->modelSampleRate_, engine->modelChannels_);
        if (!engine->verify(error)) return nullptr;
        return engine;
    }

    // Glide the knobs one chunk toward their targets and push them into the blocks they drive.
    void applyKnobs(bool force) noexcept {
        bool moved = force || pending_;
        pending_ = false;
        for (Knob& k : knobs_) {
            if (k.current != k.target) {
                k.current += smoothing_ * (k.target - k.current);
                if (std::abs(k.target - k.current) <= 1e-9 * std::max(1.0, std::abs(k.target))) k.current = k.target;
                moved = true;
            }
        }
        if (!moved) return;
        for (Knob& k : knobs_) {
            const double value = k.fromAxis(k.current);
            for (auto& [block, index] : k.parameters) block->setParameter(index, value);
            for (int input : k.inputs) root_->setKnobInput(input, value);
        }
        for (Block* b : blocks_)  // redesign only the blocks whose parameters moved
            if (b->dirty) b->update();
    }

    Engine() = default;
    std::string name_;
    double modelSampleRate_ = 48000, sampleRate_ = 48000, smoothing_ = 1, tolerance_ = 0;
    int modelChannels_ = 1, channels_ = 1;
    bool rateBound_ = false, pending_ = false;
    std::unique_ptr<Block> root_;
    std::vector<Block*> blocks_;  // every block of the tree, collected at load
    std::vector<Knob> knobs_;
    std::vector<float> work_, goldenIn_, goldenOut_;
    std::vector<float*> pointers_;
};

}  // namespace ddsp_kit
