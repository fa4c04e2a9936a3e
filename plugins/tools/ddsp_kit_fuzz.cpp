// ddsp_kit_fuzz: mutate engine files and load them, for a bounded time; a crash or hang is the failure.
//
//   ddsp_kit_fuzz SEED.engine.safetensors [SEED2 ...] --seconds S [--seed N]
//
// Mutations: bit flips and byte overwrites (mostly in the JSON header, where the parser works), truncation,
// duplicated or deleted spans, the header length rewritten, numbers in the engine header swapped for
// extremes, one value anywhere in the parsed engine header replaced by an extreme of another shape (an empty
// list of filter bands, an object for a number: what byte edits rarely reach), and random bytes. Each loaded model also processes a block of noise and a block of size 1.
// Prints one JSON line: {"cases": N, "loaded": K, "refused": R}.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "ddsp_kit/engine.hpp"

namespace {

std::vector<uint8_t> readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

uint64_t headerLength(const std::vector<uint8_t>& bytes) {
    uint64_t n = 0;
    for (int i = 7; i >= 0 && bytes.size() >= 8; --i) n = (n << 8) | bytes[i];
    return n;
}

void collect(nlohmann::json& node, std::vector<nlohmann::json*>& nodes) {
    if (node.is_object())
        for (auto& item : node.items()) nodes.push_back(&item.value()), collect(item.value(), nodes);
    else if (node.is_array())
        for (auto& element : node) nodes.push_back(&element), collect(element, nodes);
}

// Parse the engine header (a JSON string in the safetensors metadata), replace one of its values, write the
// file back around the same tensor bytes. Leaves the file as it is where it no longer parses.
void mutateStructure(std::vector<uint8_t>& bytes, std::mt19937_64& rng) {
    using nlohmann::json;
    const uint64_t length = headerLength(bytes);
    if (bytes.size() < 8 || length > bytes.size() - 8) return;
    json table = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(length), nullptr, false);
    if (table.is_discarded() || !table.is_object() || !table.contains("__metadata__") || !table["__metadata__"].is_object()) return;
    json& text = table["__metadata__"]["ddsp_kit.engine"];
    if (!text.is_string()) return;
    json header = json::parse(text.get<std::string>(), nullptr, false);
    std::vector<json*> nodes;
    if (!header.is_discarded()) collect(header, nodes);
    if (nodes.empty()) return;
    const json extremes[] = {json::array(), json::object(), 0, -1, 1e308, 4294967297LL, nullptr, "x", json::array({json::object()})};
    *nodes[rng() % nodes.size()] = extremes[rng() % (sizeof(extremes) / sizeof(*extremes))];
    text = header.dump();
    std::string serialised = table.dump();
    serialised.append((8 - serialised.size() % 8) % 8, ' ');
    std::vector<uint8_t> rebuilt(8);
    for (int i = 0; i < 8; ++i) rebuilt[i] = static_cast<uint8_t>(static_cast<uint64_t>(serialised.size()) >> (8 * i));
    rebuilt.insert(rebuilt.end(), serialised.begin(), serialised.end());
    rebuilt.insert(rebuilt.end(), bytes.begin() + 8 + static_cast<long>(length), bytes.end());
    bytes.swap(rebuilt);
}

void mutate(std::vector<uint8_t>& bytes, std::mt19937_64& rng) {
    auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
    const int rounds = 1 + static_cast<int>(rng() % 4);
    static const char* extremes[] = {"0", "-1", "1e308", "-1e308", "4294967297", "1e-320", "null", "\"x\"", "[]", "{}", "NaN"};
    for (int r = 0; r < rounds && !bytes.empty(); ++r) {
        const size_t header = std::min<uint64_t>(headerLength(bytes) + 8, bytes.size());  // each round: sizes change
        switch (rng() % 9) {
        case 0: if (header > 8) bytes[8 + pick(header - 8)] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: bytes[pick(bytes.size())] = static_cast<uint8_t>(rng()); break;
        case 2: bytes.resize(pick(bytes.size())); break;
        case 3: {  // duplicate a span inside the header
            const size_t at = std::min(pick(header), bytes.size()), length = std::min<size_t>(pick(64), bytes.size() - at);
            const std::vector<uint8_t> span(bytes.begin() + static_cast<long>(at), bytes.begin() + static_cast<long>(at + length));
            bytes.insert(bytes.begin() + static_cast<long>(at), span.begin(), span.end());
            break;
        }
        case 4: {  // delete a span
            const size_t at = pick(bytes.size()), length = std::min<size_t>(pick(64), bytes.size() - at);
            bytes.erase(bytes.begin() + static_cast<long>(at), bytes.begin() + static_cast<long>(at + length));
            break;
        }
        case 5: {  // rewrite the header length
            uint64_t n = rng() % 3 == 0 ? rng() : headerLength(bytes) + (rng() % 17) - 8;
            for (int i = 0; i < 8 && i < static_cast<int>(bytes.size()); ++i) bytes[i] = static_cast<uint8_t>(n >> (8 * i));
            break;
        }
        case 6: {  // replace a number in the header with an extreme value
            std::vector<size_t> digits;
            for (size_t i = 8; i < header && i < bytes.size(); ++i)
                if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
            if (digits.empty()) break;
            size_t at = digits[pick(digits.size())], end = at;
            while (end < bytes.size() && ((bytes[end] >= '0' && bytes[end] <= '9') || bytes[end] == '.')) ++end;
            const std::string value = extremes[pick(sizeof(extremes) / sizeof(*extremes))];
            bytes.erase(bytes.begin() + static_cast<long>(at), bytes.begin() + static_cast<long>(end));
            bytes.insert(bytes.begin() + static_cast<long>(at), value.begin(), value.end());
            break;
        }
        case 7: mutateStructure(bytes, rng); break;
        default:
            for (int i = 0; i < 16; ++i) bytes[pick(bytes.size())] = static_cast<uint8_t>(rng());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::vector<uint8_t>> seeds;
    double seconds = 10;
    uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
        else if (arg == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
        else seeds.push_back(readBytes(arg));
    }
    if (seeds.empty() || seeds.front().empty()) {
        std::cerr << "usage: ddsp_kit_fuzz SEED.engine.safetensors [...] --seconds S [--seed N]\n";
        return 1;
    }
    std::mt19937_64 rng(seed);
    std::vector<float> noise(2 * 4096);
    std::normal_distribution<float> normal(0.0f, 0.3f);
    for (float& v : noise) v = normal(rng);
    long cases = 0, loaded = 0, refused = 0;
    const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < stop) {
        std::vector<uint8_t> bytes = seeds[rng() % seeds.size()];
        mutate(bytes, rng);
        std::string error;
        auto engine = ddsp_kit::Engine::loadMemory(bytes.data(), bytes.size(), error);
        ++cases;
        if (!engine) {
            ++refused;
            continue;
        }
        ++loaded;
        try {
            engine->prepare(44100.0, 2);
        } catch (const std::exception&) {
            continue;  // e.g. a net that cannot run on two channels: refused at prepare, as a plugin would
        }
        const float* in[2] = {noise.data(), noise.data() + 4096};
        std::vector<float> out(2 * 4096);
        float* o[2] = {out.data(), out.data() + 4096};
        engine->process(in, o, 4096);
        engine->process(in, o, 1);
    }
    std::cout << "{\"cases\": " << cases << ", \"loaded\": " << loaded << ", \"refused\": " << refused << "}\n";
    return 0;
}
