#include "vit/safetensors.h"

#include "io.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

namespace vit {

namespace {

using json = detail::Json;

constexpr uint64_t kMaxHeader = 100ull << 20;  // the Python library's limit

struct DType {
  const char* name;
  torch::ScalarType type;
};
constexpr DType kDTypes[] = {{"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
                             {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
                             {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
                             {"BOOL", torch::kBool}};

const char* dtype_name(torch::ScalarType type) {
  for (const auto& d : kDTypes)
    if (d.type == type) return d.name;
  TORCH_CHECK(false, "[save_safetensors] unsupported dtype ", type);
}

struct Entry {
  std::string name;
  torch::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

#define SAFETENSORS_CHECK(cond, ...) TORCH_CHECK(cond, "[load_safetensors] '", what, "': ", __VA_ARGS__)

// Validates the header of a file of `size` bytes starting at `bytes`; returns entries and metadata.
std::vector<Entry> parse_header(const uint8_t* bytes, uint64_t size, const std::string& what,
                                std::map<std::string, std::string>& metadata, uint64_t& data_start) {
  SAFETENSORS_CHECK(size >= 8, "file is ", size, " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  SAFETENSORS_CHECK(n <= size - 8, "header length ", n, " exceeds the file (", size, " bytes)");
  SAFETENSORS_CHECK(n <= kMaxHeader, "header length ", n, " exceeds the limit of ", kMaxHeader, " bytes");
  data_start = 8 + n;
  const uint64_t data_size = size - data_start;

  const auto* text = reinterpret_cast<const char*>(bytes + 8);
  const json header = detail::parse_json(text, text + n, "[load_safetensors] '" + what + "': header is");
  SAFETENSORS_CHECK(header.is_object(), "header is not a JSON object");

  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      SAFETENSORS_CHECK(info.is_object(), "__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        SAFETENSORS_CHECK(value.is_string(), "__metadata__ value of '", key, "' is not a string");
        metadata[key] = value.get<std::string>();
      }
      continue;
    }
    SAFETENSORS_CHECK(info.is_object(), "tensor '", name, "' is not described by an object");
    const auto dtype = info.find("dtype");
    const auto shape = info.find("shape");
    const auto offsets = info.find("data_offsets");
    SAFETENSORS_CHECK(dtype != info.end() && dtype->is_string(), "tensor '", name, "' has no dtype string");
    SAFETENSORS_CHECK(shape != info.end() && shape->is_array(), "tensor '", name, "' has no shape array");
    SAFETENSORS_CHECK(offsets != info.end() && offsets->is_array() && offsets->size() == 2 &&
                          (*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(),
                      "tensor '", name, "' needs data_offsets [begin, end] of two non-negative integers");
    Entry e{name, torch::kFloat32, {}, (*offsets)[0].get<uint64_t>(), (*offsets)[1].get<uint64_t>()};
    const auto* known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                     [&](const DType& d) { return *dtype == d.name; });
    SAFETENSORS_CHECK(known != std::end(kDTypes), "tensor '", name, "' has unsupported dtype ", dtype->dump());
    e.type = known->type;
    uint64_t bytes_needed = c10::elementSize(e.type);
    for (const auto& dim : *shape) {
      SAFETENSORS_CHECK(dim.is_number_unsigned(), "tensor '", name, "' has a shape entry that is not a non-negative integer: ",
                        dim.dump());
      const uint64_t d = dim.get<uint64_t>();
      SAFETENSORS_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                            (d == 0 || bytes_needed <= std::numeric_limits<uint64_t>::max() / d),
                        "tensor '", name, "' has a shape whose size overflows: ", shape->dump());
      bytes_needed *= d;
      e.shape.push_back(static_cast<int64_t>(d));
    }
    SAFETENSORS_CHECK(e.begin <= e.end && e.end <= data_size, "tensor '", name, "': data_offsets [", e.begin, ", ",
                      e.end, "] exceed the data (", data_size, " bytes)");
    SAFETENSORS_CHECK(e.end - e.begin == bytes_needed, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end,
                      "] hold ", e.end - e.begin, " bytes, but ", known->name, " ", shape->dump(), " needs ",
                      bytes_needed);
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> by_offset;  // empty tensors occupy no bytes and overlap nothing
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    SAFETENSORS_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end, "tensors '", by_offset[i - 1]->name, "' and '",
                      by_offset[i]->name, "' overlap");
  }
  return entries;
}

// Gives the whole pages inside [p, p + bytes) of a private file mapping back to the kernel.
void drop_pages(void* p, size_t bytes) {
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Tensors over `data_start + e.begin` of a buffer owned by `owner`; unaligned data is copied.
SafeTensors make_tensors(const uint8_t* bytes, uint64_t size, const std::string& what,
                         const std::shared_ptr<void>& owner) {
  SafeTensors out;
  uint64_t data_start = 0;
  const auto entries = parse_header(bytes, size, what, out.metadata, data_start);
  for (const auto& e : entries) {
    void* ptr = const_cast<uint8_t*>(bytes + data_start + e.begin);
    const auto options = torch::TensorOptions().dtype(e.type);
    torch::Tensor t;
    if (owner && reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.type) == 0) {
      // When this tensor dies its pages leave the process (tensors do not overlap: parse_header),
      // so memory is returned tensor by tensor (e.g. as InferenceModel releases packed weights).
      const size_t bytes = e.end - e.begin;
      t = torch::from_blob(ptr, e.shape, [owner, bytes](void* p) { drop_pages(p, bytes); }, options);
    } else {
      t = torch::from_blob(ptr, e.shape, options).clone();
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace

const torch::Tensor& SafeTensors::at(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  std::string names;
  for (const auto& kv : tensors) names += (names.empty() ? "" : ", ") + kv.first;
  TORCH_CHECK(false, "[SafeTensors] no tensor '", name, "' (has: ", names, ")");
}

bool SafeTensors::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& kv) { return kv.first == name; });
}

SafeTensors parse_safetensors(const void* data, size_t size, const std::string& what) {
  return make_tensors(static_cast<const uint8_t*>(data), size, what, nullptr);
}

SafeTensors load_safetensors(const std::string& path) {
  const std::string& what = path;
  const auto file = detail::map_file(path, /*writable=*/true, "[load_safetensors] '" + path + "':");  // copy-on-write
  SAFETENSORS_CHECK(file.size >= 8, "file is ", file.size, " bytes, too short for the 8-byte header length");
  return make_tensors(file.bytes(), file.size, what, file.data);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    TORCH_CHECK(name != "__metadata__" && !header.contains(name), "[save_safetensors] duplicate or reserved name '",
                name, "'");
    TORCH_CHECK(tensor.defined(), "[save_safetensors] tensor '", name, "' is undefined");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  // Written beside the target and renamed over it: a model loaded from `path` keeps its parameters in
  // a mapping of the old file, which must not be truncated under it (and readers never see half a file).
  detail::write_atomically(
      path,
      [&](std::ostream& out) {
        uint8_t length[8];
        for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
        out.write(reinterpret_cast<const char*>(length), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& t : contiguous) out.write(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
      },
      "[save_safetensors] '" + path + "':");
}

}  // namespace vit
