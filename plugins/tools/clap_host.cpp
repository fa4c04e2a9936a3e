// clap_host: a small CLAP host for the tests: loads a .clap, optionally loads a model through the plugin's
// own state (the DPF state stream with the "model" state set to a path), processes raw float32 audio
// in blocks, sends parameter changes as sample-accurate events, and reports latency and parameters.
//
//   clap_host PLUGIN.clap --in x.f32 --out y.f32 [--channels 2] [--rate HZ] [--block N]
//             [--model PATH] [--param ID=VALUE[@FRAME]]... [--info]
//
// Audio: planar float32 (channel 0, then channel 1). With --info, prints JSON: latency, parameters
// (id, name, min, max, default, value), after the model (if any) is loaded. Exit 0 when done, 1 on errors.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "clap/entry.h"
#include "clap/ext/latency.h"
#include "clap/ext/params.h"
#include "clap/ext/state.h"
#include "clap/plugin-factory.h"

namespace {

// Host side: the latency extension (a plugin reports a new latency through it) and the restart and
// main-thread callback requests, served between process calls as a real host would.
bool restartRequested = false, callbackRequested = false, latencyChanged = false;
void latencyChangedCallback(const clap_host_t*) { latencyChanged = true; }
const clap_host_latency_t kHostLatency = {latencyChangedCallback};
const void* getExtension(const clap_host_t*, const char* id) {
    return std::strcmp(id, CLAP_EXT_LATENCY) == 0 ? &kHostLatency : nullptr;
}
void requestRestart(const clap_host_t*) { restartRequested = true; }
void requestProcess(const clap_host_t*) {}
void requestCallback(const clap_host_t*) { callbackRequested = true; }

const clap_host_t kHost = {CLAP_VERSION, nullptr, "ddsp_kit clap_host", "ddsp_kit", "", "0.1",
                           getExtension, requestRestart, requestProcess, requestCallback};

struct Buffer {  // clap_ostream / clap_istream over a byte vector
    std::vector<char> bytes;
    size_t position = 0;
};
int64_t writeStream(const clap_ostream_t* s, const void* data, uint64_t size) {
    auto* b = static_cast<Buffer*>(s->ctx);
    b->bytes.insert(b->bytes.end(), static_cast<const char*>(data), static_cast<const char*>(data) + size);
    return static_cast<int64_t>(size);
}
int64_t readStream(const clap_istream_t* s, void* data, uint64_t size) {
    auto* b = static_cast<Buffer*>(s->ctx);
    const uint64_t n = std::min<uint64_t>(size, b->bytes.size() - b->position);
    std::memcpy(data, b->bytes.data() + b->position, n);
    b->position += n;
    return static_cast<int64_t>(n);
}

struct Change {
    clap_id id;
    double value;
    long frame;
};

struct Events {  // input events of one process call
    std::vector<clap_event_param_value_t> values;
};
uint32_t eventCount(const clap_input_events_t* list) { return static_cast<uint32_t>(static_cast<Events*>(list->ctx)->values.size()); }
const clap_event_header_t* eventAt(const clap_input_events_t* list, uint32_t i) {
    return &static_cast<Events*>(list->ctx)->values[i].header;
}
bool pushNothing(const clap_output_events_t*, const clap_event_header_t*) { return true; }

int fail(const std::string& message) {
    std::cerr << "clap_host: " << message << "\n";
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return fail("usage: clap_host PLUGIN.clap --in X --out Y [--model PATH] [--param ID=V[@F]] [--info]");
    std::string pluginPath = argv[1], inPath, outPath, model;
    int channels = 2, block = 256;
    double rate = 48000;
    bool info = false;
    std::vector<Change> changes;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        const std::string value = i + 1 < argc ? argv[i + 1] : "";
        if (arg == "--info") { info = true; continue; }
        ++i;
        if (arg == "--in") inPath = value;
        else if (arg == "--out") outPath = value;
        else if (arg == "--model") model = value;
        else if (arg == "--channels") channels = std::stoi(value);
        else if (arg == "--rate") rate = std::stod(value);
        else if (arg == "--block") block = std::stoi(value);
        else if (arg == "--param") {
            const auto eq = value.find('='), at = value.find('@');
            changes.push_back({static_cast<clap_id>(std::stoul(value.substr(0, eq))), std::stod(value.substr(eq + 1, at - eq - 1)),
                               at == std::string::npos ? 0L : std::stol(value.substr(at + 1))});
        } else return fail("unknown option " + arg);
    }

    void* library = dlopen(pluginPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) return fail(std::string("dlopen: ") + dlerror());
    auto* entry = static_cast<const clap_plugin_entry_t*>(dlsym(library, "clap_entry"));
    if (!entry || !entry->init(pluginPath.c_str())) return fail("no clap_entry");
    auto* factory = static_cast<const clap_plugin_factory_t*>(entry->get_factory(CLAP_PLUGIN_FACTORY_ID));
    if (!factory || factory->get_plugin_count(factory) < 1) return fail("no plugin in the factory");
    const clap_plugin_descriptor_t* descriptor = factory->get_plugin_descriptor(factory, 0);
    const clap_plugin_t* plugin = factory->create_plugin(factory, &kHost, descriptor->id);
    if (!plugin || !plugin->init(plugin)) return fail("plugin init failed");
    auto* params = static_cast<const clap_plugin_params_t*>(plugin->get_extension(plugin, CLAP_EXT_PARAMS));
    auto* latency = static_cast<const clap_plugin_latency_t*>(plugin->get_extension(plugin, CLAP_EXT_LATENCY));
    auto* state = static_cast<const clap_plugin_state_t*>(plugin->get_extension(plugin, CLAP_EXT_STATE));
    if (!plugin->activate(plugin, rate, 1, 4096)) return fail("activate failed");
    if (!plugin->start_processing(plugin)) return fail("start_processing failed");

    // One process call of `n` frames (silence when `in` is null), with the given events.
    std::vector<float> scratchIn(static_cast<size_t>(channels) * 4096), scratchOut(scratchIn.size());
    auto process = [&](const float* in, float* out, long frames, long n, Events& events) {
        std::vector<float*> ins(channels), outs(channels);
        for (int c = 0; c < channels; ++c) {
            ins[c] = scratchIn.data() + c * 4096, outs[c] = scratchOut.data() + c * 4096;
            if (in) std::memcpy(ins[c], in + c * frames, sizeof(float) * n);
            else std::memset(ins[c], 0, sizeof(float) * n);
        }
        clap_audio_buffer_t inputBuffer{ins.data(), nullptr, static_cast<uint32_t>(channels), 0, 0};
        clap_audio_buffer_t outputBuffer{outs.data(), nullptr, static_cast<uint32_t>(channels), 0, 0};
        clap_input_events_t inEvents{&events, eventCount, eventAt};
        clap_output_events_t outEvents{nullptr, pushNothing};
        clap_process_t p{};
        p.steady_time = -1, p.frames_count = static_cast<uint32_t>(n);
        p.audio_inputs = &inputBuffer, p.audio_outputs = &outputBuffer, p.audio_inputs_count = 1, p.audio_outputs_count = 1;
        p.in_events = &inEvents, p.out_events = &outEvents;
        plugin->process(plugin, &p);
        if (out)
            for (int c = 0; c < channels; ++c) std::memcpy(out + c * frames, outs[c], sizeof(float) * n);
    };
    auto paramValue = [&](clap_id id) {
        double v = 0;
        params->get_value(plugin, id, &v);
        return v;
    };
    const uint32_t paramCount = params ? params->count(plugin) : 0;
    clap_id statusId = CLAP_INVALID_ID;
    for (uint32_t i = 0; i < paramCount; ++i) {
        clap_param_info_t p{};
        params->get_info(plugin, i, &p);
        if (std::string(p.name) == "Status") statusId = p.id;
    }

    if (!model.empty()) {  // through the plugin's own state: save, set the "model" value, load
        if (!state) return fail("the plugin has no state extension");
        Buffer saved;
        clap_ostream_t ostream{&saved, writeStream};
        state->save(plugin, &ostream);
        std::string text(saved.bytes.begin(), saved.bytes.end());
        const std::string key = std::string("model") + '\0';  // DPF writes "key\0value\0" pairs
        const auto at = text.find(key);
        if (at == std::string::npos) return fail("no model state in the plugin's state");
        const auto end = text.find('\0', at + key.size());
        text = text.substr(0, at + key.size()) + model + text.substr(end);
        Buffer loaded{std::vector<char>(text.begin(), text.end())};
        clap_istream_t istream{&loaded, readStream};
        if (!state->load(plugin, &istream)) return fail("state load failed");
        // The plugin loads on its worker thread: keep processing silence until it reports a status.
        Events none;
        for (int i = 0; i < 2000 && statusId != CLAP_INVALID_ID && paramValue(statusId) == 0; ++i) {
            process(nullptr, nullptr, 0, 64, none);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        Events none2;
        process(nullptr, nullptr, 0, 64, none2);  // a model installed by the worker is adopted here
    }
    if (callbackRequested) callbackRequested = false, plugin->on_main_thread(plugin);
    if (restartRequested) {  // e.g. the latency changed while active: restart, then read it again
        restartRequested = false;
        plugin->stop_processing(plugin);
        plugin->deactivate(plugin);
        if (!plugin->activate(plugin, rate, 1, 4096) || !plugin->start_processing(plugin)) return fail("restart failed");
    }

    if (info) {
        std::cout << "{\"latency\": " << (latency ? latency->get(plugin) : 0) << ", \"parameters\": [";
        for (uint32_t i = 0; i < paramCount; ++i) {
            clap_param_info_t p{};
            params->get_info(plugin, i, &p);
            std::cout << (i ? ", " : "") << "{\"id\": " << p.id << ", \"name\": \"" << p.name << "\", \"min\": " << p.min_value
                      << ", \"max\": " << p.max_value << ", \"default\": " << p.default_value << ", \"value\": " << paramValue(p.id) << "}";
        }
        std::cout << "]}\n";
    }

    if (!inPath.empty()) {
        std::ifstream file(inPath, std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        std::vector<float> audio(bytes.size() / 4), output(audio.size());
        std::memcpy(audio.data(), bytes.data(), audio.size() * 4);
        const long frames = static_cast<long>(audio.size()) / channels;
        std::vector<float> inBlock(static_cast<size_t>(channels) * block), outBlock(inBlock.size());
        for (long start = 0; start < frames; start += block) {
            const long n = std::min<long>(block, frames - start);
            Events events;
            for (const Change& c : changes) {
                if (c.frame < start || c.frame >= start + n) continue;
                clap_event_param_value_t e{};
                e.header = {sizeof(e), static_cast<uint32_t>(c.frame - start), CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_PARAM_VALUE, 0};
                e.param_id = c.id, e.cookie = nullptr, e.note_id = -1, e.port_index = -1, e.channel = -1, e.key = -1;
                e.value = c.value;
                events.values.push_back(e);
            }
            for (int c = 0; c < channels; ++c) std::memcpy(inBlock.data() + c * n, audio.data() + c * frames + start, sizeof(float) * n);
            process(inBlock.data(), outBlock.data(), n, n, events);
            for (int c = 0; c < channels; ++c) std::memcpy(output.data() + c * frames + start, outBlock.data() + c * n, sizeof(float) * n);
        }
        std::ofstream out(outPath, std::ios::binary);
        out.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * 4));
        if (statusId != CLAP_INVALID_ID) std::cerr << "status: " << paramValue(statusId) << "\n";
    }
    plugin->stop_processing(plugin);
    plugin->deactivate(plugin);
    plugin->destroy(plugin);
    entry->deinit();
    return 0;
}
