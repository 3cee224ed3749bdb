// libFuzzer target for the idx reader (src/data.cpp), raw or gzip: each input is written to a file
// (read_idx reads paths, through zlib) and must read or throw c10::Error. See fuzz/README.md.
#include <vit/data.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/vitcpp_fuzz_idx_" + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    (void)vit::read_idx(path).sum();  // touch every element
  } catch (const c10::Error&) {
  }
  return 0;
}
