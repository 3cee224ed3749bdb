// libFuzzer target for the torch.save reader (src/torch_save.cpp: zip + restricted unpickler). Any
// input must parse or throw c10::Error; crashes, sanitizer reports, hangs and huge allocations are bugs.
#include <vit/torch_save.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto state = vit::parse_torch_save(data, size, "fuzz");
    for (const auto& [name, tensor] : state) (void)tensor.sum();  // touch every element
  } catch (const c10::Error&) {
  }
  return 0;
}
