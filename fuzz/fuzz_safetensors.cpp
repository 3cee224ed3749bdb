// libFuzzer target for the safetensors reader (src/safetensors.cpp). Any input must parse or throw
// c10::Error; crashes, sanitizer reports, hangs and huge allocations are bugs. See fuzz/README.md.
#include <vit/safetensors.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = vit::parse_safetensors(data, size, "fuzz");
    for (const auto& [name, tensor] : file.tensors) (void)tensor.sum();  // touch every byte
  } catch (const c10::Error&) {
  }
  return 0;
}
