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
/// Reads and parses the file at `path` (read_regular_file, at most kMaxJsonBytes): its errors, or
/// "`what` not valid JSON (...)".
Json read_json_file(const std::string& path, const std::string& what);
/// Whether `value` is an integer that int64_t holds (nlohmann keeps 2^63 .. 2^64 - 1 as unsigned).
bool is_int64(const Json& value);
/// Text a user gave (a flag's value, a JSON document, a path) as it may appear in a one-line error
/// message: control characters as spaces and, beyond `limit` bytes, cut (at a UTF-8 character
/// boundary) with "... (N bytes)" after it.
std::string excerpt(const std::string& text, size_t limit = 200);
/// A JSON value as text for an error message, cut to `limit` characters (excerpt).
std::string json_excerpt(const Json& value, size_t limit = 60);

/// Opens `path` for reading when it is a regular file; returns the descriptor (the caller closes
/// it) and its size in `size`. Nothing is read and nothing blocks (a pipe is refused, not opened
/// for a writer). Throws "`what` cannot open (reason)", "`what` is a directory, not `kind`" or
/// "`what` not a regular file (a device, a pipe or a socket)". Every reader of a path a user gives
/// goes through it, so that a directory or a device is named as such.
int open_regular_file(const std::string& path, const std::string& what, const std::string& kind, int64_t* size);
/// The regular file at `path` read whole, its size checked before a byte is read: the errors of
/// open_regular_file, "`what` is N bytes, more than the `limit` `kind` may have here" (above
/// `max_bytes`) or "`what` cannot read (reason)".
std::string read_regular_file(const std::string& path, const std::string& what, const std::string& kind, int64_t max_bytes,
                              const std::string& limit);

/// A whole regular file mapped into memory (private: with `writable`, pages are copy-on-write).
/// `data` owns the mapping (null for an empty file); errors throw those of open_regular_file ("`what`
/// is a directory, not a regular file", ...) or "`what` cannot map the file (...)".
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
