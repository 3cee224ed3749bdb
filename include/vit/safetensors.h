#pragma once
// safetensors files: an 8-byte little-endian header length n, n bytes of JSON
// ({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}), then the
// raw little-endian tensor bytes (offsets relative to the end of the header).
// Tests: tests/test_safetensors.cpp; Python counterpart: tests/reference/safetensors_io.py.

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vit {

/// The contents of a safetensors file, tensors in file (header) order.
struct SafeTensors {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  /// The tensor called `name`; throws c10::Error naming the file's tensors when absent.
  const torch::Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const;
};

/// Reads `path`. The header is validated completely (length, JSON, dtypes, shapes, offsets inside
/// the data and not overlapping, byte counts equal to shape x dtype) before any tensor exists; every
/// problem throws c10::Error starting "[load_safetensors] 'path': ". The file is memory-mapped
/// copy-on-write: tensors are CPU views of the mapping (kept alive by them), so loading costs no copy.
/// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
SafeTensors load_safetensors(const std::string& path);

/// Parses safetensors bytes held in memory (same validation); the tensors are copies.
SafeTensors parse_safetensors(const void* data, size_t size, const std::string& what = "<memory>");

/// Writes tensors (any device, layout and supported dtype) with optional string metadata, in the
/// given order, header padded to 8 bytes, as Python's safetensors does.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace vit
