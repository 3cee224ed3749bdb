#pragma once
// Private to src/: the file and JSON plumbing the readers and writers share.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace vit::detail {

using Json = nlohmann::ordered_json;

/// How deeply a JSON document read here may nest (timm's configs: 3 levels; safetensors headers: 3).
constexpr int kMaxJsonDepth = 32;
/// Parses `text`; a syntax error, or nesting deeper than kMaxJsonDepth, throws c10::Error
/// "`what` not valid JSON (...)".
Json parse_json(const std::string& text, const std::string& what);
Json parse_json(const char* begin, const char* end, const std::string& what);
/// The largest JSON file read_json_file reads (config.json, trainer.json): timm's configs are a few
/// KB, with 21k label names under 1 MB.
constexpr int64_t kMaxJsonBytes = int64_t{64} << 20;
/// Reads and parses the file at `path`: "`what` cannot open", "is N bytes, more than ..." or "not
/// valid JSON (...)" on failure.
Json read_json_file(const std::string& path, const std::string& what);
/// A JSON value as text for an error message, cut to `limit` characters.
std::string json_excerpt(const Json& value, size_t limit = 60);

/// A whole regular file mapped into memory (private: with `writable`, pages are copy-on-write).
/// `data` owns the mapping (null for an empty file); errors throw "`what` cannot open (...)",
/// "`what` not a regular file" or "`what` cannot map the file (...)".
struct MappedFile {
  std::shared_ptr<void> data;
  size_t size = 0;
  const unsigned char* bytes() const { return static_cast<const unsigned char*>(data.get()); }
};
MappedFile map_file(const std::string& path, bool writable, const std::string& what);

/// Writes `path` through `write` into `path`.partial, then renames it over `path`: readers never
/// see half a file, and a mapping of the old file (a model loaded from it) stays intact. Throws
/// "`what` cannot write ..." and leaves no partial file behind.
void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write, const std::string& what);

/// splitmix64 of (seed, stream, index): independent seeds for each random stream of a run (epoch
/// order, augmentation, dropout, ...), so that every draw depends on the seed and its position only.
uint64_t mix_seed(uint64_t seed, uint64_t stream, uint64_t index);

}  // namespace vit::detail
