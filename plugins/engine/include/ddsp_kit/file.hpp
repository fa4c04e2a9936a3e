// ddsp_kit engine file reader: a safetensors file whose metadata key "ddsp_kit.engine" holds the
// JSON header written by ddsp_kit.export.export_engine (schema: ddsp_kit/export/engine_schema.json).
//
// Load time only: this code allocates and throws FileError; nothing here runs on the audio thread.
// Every length, offset and shape read from the file is checked against the file's size before use, so a
// truncated, corrupt or hostile file ends in FileError, never in a read out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ddsp_kit {

using json = nlohmann::json;

inline constexpr const char* kFormat = "ddsp_kit.engine";
inline constexpr int kFormatMajor = 1;
inline constexpr const char* kMetadataKey = "ddsp_kit.engine";

struct FileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A float32 tensor copied out of the file (row-major, as torch writes it).
struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> values;
    int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
};

struct EngineFile {
    json header;
    std::map<std::string, Tensor> tensors;

    const Tensor& tensor(const std::string& name) const {
        auto found = tensors.find(name);
        if (found == tensors.end()) throw FileError("tensor '" + name + "' is missing from the file");
        return found->second;
    }
};

namespace detail {

inline uint64_t readLittleEndian64(const uint8_t* p) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
    return value;
}

inline void checkFormat(const json& header) {
    if (!header.is_object()) throw FileError("the engine header is not a JSON object");
    if (header.value("format", std::string()) != kFormat)
        throw FileError("format is not '" + std::string(kFormat) + "' (a foreign file?)");
    const std::string version = header.value("version", std::string());
    const auto dot = version.find('.');
    const std::string major = version.substr(0, dot);
    if (major.empty() || major.find_first_not_of("0123456789") != std::string::npos)
        throw FileError("unreadable format version '" + version + "'");
    if (std::stoi(major) != kFormatMajor)
        throw FileError("format version " + version + "; this engine reads " + std::to_string(kFormatMajor) + ".x");
    for (const char* key : {"sample_rate", "latency", "channels", "knobs", "model", "golden", "name"})
        if (!header.contains(key)) throw FileError(std::string("the engine header has no '") + key + "'");
    if (!header["sample_rate"].is_number() || !(header["sample_rate"].get<double>() > 0.0))
        throw FileError("sample_rate must be a number > 0");
    if (!header["channels"].is_number_integer() || header["channels"].get<int64_t>() < 1 || header["channels"].get<int64_t>() > 64)
        throw FileError("channels must be an integer in [1, 64]");
    if (!header["knobs"].is_array()) throw FileError("knobs must be an array");
    if (!header["model"].is_object()) throw FileError("model must be an object");
}

}  // namespace detail

// Parse an engine file held in memory.
inline EngineFile parseEngineFile(const uint8_t* bytes, size_t size) {
    if (size < 8) throw FileError("too short for a safetensors file (" + std::to_string(size) + " bytes)");
    const uint64_t headerSize = detail::readLittleEndian64(bytes);
    if (headerSize == 0 || headerSize > size - 8 || headerSize > (100u << 20))
        throw FileError("safetensors header length " + std::to_string(headerSize) + " does not fit the file");
    const uint8_t* data = bytes + 8 + headerSize;
    const uint64_t dataSize = size - 8 - headerSize;

    json table = json::parse(bytes + 8, data, nullptr, /*allow_exceptions=*/false);
    if (table.is_discarded() || !table.is_object()) throw FileError("the safetensors header is not a JSON object");
    auto metadata = table.find("__metadata__");
    if (metadata == table.end() || !metadata->is_object() || !metadata->contains(kMetadataKey) ||
        !(*metadata)[kMetadataKey].is_string())
        throw FileError("a safetensors file without a ddsp_kit.engine header (a model file? export it with ddsp-kit export)");

    EngineFile file;
    const std::string text = (*metadata)[kMetadataKey].get<std::string>();
    file.header = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (file.header.is_discarded()) throw FileError("the ddsp_kit.engine header is not valid JSON");
    detail::checkFormat(file.header);

    for (auto& [name, entry] : table.items()) {
        if (name == "__metadata__") continue;
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
            throw FileError("tensor '" + name + "': malformed entry");
        if (entry["dtype"] != "F32") throw FileError("tensor '" + name + "': dtype " + entry["dtype"].dump() + ", the engine reads F32");
        const json& shape = entry["shape"];
        const json& offsets = entry["data_offsets"];
        if (!shape.is_array() || shape.size() > 8 || !offsets.is_array() || offsets.size() != 2)
            throw FileError("tensor '" + name + "': malformed shape or offsets");
        Tensor tensor;
        uint64_t count = 1;
        for (const json& d : shape) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > (1u << 28)) throw FileError("tensor '" + name + "': bad dimension");
            count *= d.get<uint64_t>();
            if (count > (1u << 28)) throw FileError("tensor '" + name + "': too large");
            tensor.shape.push_back(d.get<int64_t>());
        }
        if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            throw FileError("tensor '" + name + "': bad data offsets");
        const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        if (begin > end || end > dataSize || end - begin != 4 * count)
            throw FileError("tensor '" + name + "': data offsets outside the file or not matching its shape");
        tensor.values.resize(count);
        if (count) std::memcpy(tensor.values.data(), data + begin, 4 * count);  // unaligned-safe, little-endian floats
        file.tensors.emplace(name, std::move(tensor));
    }
    return file;
}

inline EngineFile readEngineFile(const std::string& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) throw FileError("cannot open '" + path + "'");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    return parseEngineFile(bytes.data(), bytes.size());
}

}  // namespace ddsp_kit
