// ddsp_kit_run: the engine on raw audio, from the command line (the test harness and benchmark driver).
//
//   ddsp_kit_run MODEL --info
//   ddsp_kit_run MODEL --in x.f32 --out y.f32 [--channels C] [--rate HZ] [--block N]
//                [--knob INDEX=VALUE[@FRAME]]... [--count-allocations]
//   ddsp_kit_run MODEL --bench SECONDS [--channels C] [--rate HZ] [--block N]
//
// Audio files are raw float32, planar (all of channel 0, then channel 1, ...). Knob values are physical
// (the knob's unit): without @FRAME (or @0) the knob starts there, like a restored plugin state; with
// @FRAME the change happens at that frame and glides like a host automation.
// --count-allocations counts every operator new during process() calls and prints "allocations: N".
// Exit status: 0 done, 1 bad arguments or I/O, 2 the model was refused (message on stderr).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "ddsp_kit/engine.hpp"

static std::atomic<bool> counting{false};
static std::atomic<long> allocations{0};

void* operator new(std::size_t size) {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct Change {
    int knob;
    double value;
    long frame;
};

int usage(const std::string& message) {
    std::cerr << "ddsp_kit_run: " << message << "\n"
              << "usage: ddsp_kit_run MODEL (--info | --in X.f32 --out Y.f32 | --bench SECONDS) [--channels C] [--rate HZ]"
                 " [--block N] [--knob I=V[@FRAME]]... [--count-allocations]\n";
    return 1;
}

std::string jsonString(const std::string& s) { return ddsp_kit::json(s).dump(); }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage("no model file");
    std::string model = argv[1], inPath, outPath;
    int channels = 0, block = 512;
    double rate = 0, benchSeconds = 0;
    bool info = false, countAllocations = false;
    std::vector<Change> changes;
    try {
        for (int i = 2; i < argc; ++i) {
            const std::string arg = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
                return argv[++i];
            };
            if (arg == "--info") info = true;
            else if (arg == "--in") inPath = next();
            else if (arg == "--out") outPath = next();
            else if (arg == "--channels") channels = std::stoi(next());
            else if (arg == "--rate") rate = std::stod(next());
            else if (arg == "--block") block = std::stoi(next());
            else if (arg == "--bench") benchSeconds = std::stod(next());
            else if (arg == "--count-allocations") countAllocations = true;
            else if (arg == "--knob") {
                const std::string spec = next();
                const auto eq = spec.find('='), at = spec.find('@');
                if (eq == std::string::npos) throw std::invalid_argument("--knob wants INDEX=VALUE[@FRAME]");
                changes.push_back({std::stoi(spec.substr(0, eq)), std::stod(spec.substr(eq + 1, at - eq - 1)),
                                   at == std::string::npos ? 0L : std::stol(spec.substr(at + 1))});
            } else throw std::invalid_argument("unknown option " + arg);
        }
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    if (block < 1) return usage("--block must be >= 1");

    std::string error;
    auto engine = ddsp_kit::Engine::load(model, error);
    if (!engine) {
        std::cerr << "ddsp_kit_run: model refused: " << error << "\n";
        return 2;
    }
    if (channels == 0) channels = engine->modelChannels();
    if (rate == 0) rate = engine->modelSampleRate();
    if (info) {
        double maxError = 0;
        engine->verify(error, &maxError);
        engine->prepare(rate, channels);
        std::cout << "{\"name\": " << jsonString(engine->name()) << ", \"sample_rate\": " << engine->modelSampleRate()
                  << ", \"channels\": " << engine->modelChannels() << ", \"latency\": " << engine->latency()
                  << ", \"rate_bound\": " << (engine->rateBound() ? "true" : "false") << ", \"golden_max_error\": " << maxError
                  << ", \"knobs\": [";
        for (size_t k = 0; k < engine->knobs().size(); ++k) {
            const auto& knob = engine->knobs()[k];
            std::cout << (k ? ", " : "") << "{\"name\": " << jsonString(knob.name) << ", \"unit\": " << jsonString(knob.unit)
                      << ", \"minimum\": " << knob.minimum << ", \"maximum\": " << knob.maximum << ", \"default\": " << knob.defaultValue << "}";
        }
        std::cout << "]}\n";
        return 0;
    }
    try {
        engine->prepare(rate, channels);
    } catch (const std::exception& e) {
        std::cerr << "ddsp_kit_run: model refused: " << e.what() << "\n";
        return 2;
    }

    std::vector<float> audio;
    if (benchSeconds > 0) {
        audio.resize(static_cast<size_t>(benchSeconds * rate) * channels);
        std::mt19937 generator(0);
        std::normal_distribution<float> noise(0.0f, 0.1f);
        for (float& v : audio) v = noise(generator);
    } else {
        std::ifstream in(inPath, std::ios::binary);
        if (!in) return usage("cannot read --in '" + inPath + "'");
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes.size() % (4 * channels)) return usage("input size is not a whole number of float32 frames");
        audio.resize(bytes.size() / 4);
        std::memcpy(audio.data(), bytes.data(), bytes.size());
    }
    const long frames = static_cast<long>(audio.size() / channels);
    std::vector<float> output(audio.size());
    std::vector<const float*> in(channels);
    std::vector<float*> out(channels);

    for (const Change& c : changes)
        if (c.frame == 0) engine->setKnob(c.knob, c.value, /*immediate=*/true);
    const auto started = std::chrono::steady_clock::now();
    for (long start = 0; start < frames;) {
        long stop = std::min(frames, start + block);
        for (const Change& c : changes) {
            if (c.frame == start && start > 0) engine->setKnob(c.knob, c.value);
            else if (c.frame > start && c.frame < stop) stop = c.frame;  // split the block at the change
        }
        for (int c = 0; c < channels; ++c) in[c] = audio.data() + c * frames + start, out[c] = output.data() + c * frames + start;
        counting = countAllocations;
        engine->process(in.data(), out.data(), static_cast<int>(stop - start));
        counting = false;
        start = stop;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    if (countAllocations) std::cerr << "allocations: " << allocations.load() << "\n";
    if (benchSeconds > 0) {
        std::cout << "{\"seconds_of_audio\": " << frames / rate << ", \"wall_s\": " << seconds
                  << ", \"realtime_factor\": " << (frames / rate) / seconds << "}\n";
        return 0;
    }
    std::ofstream file(outPath, std::ios::binary);
    if (!file) return usage("cannot write --out '" + outPath + "'");
    file.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * 4));
    return file ? 0 : 1;
}
