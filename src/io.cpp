#include "io.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace vit::detail {

Json parse_json(const char* begin, const char* end, const std::string& what) {
  // Deeper documents are refused while parsing: nlohmann's dump() and comparisons recurse.
  const auto shallow = [&](int depth, Json::parse_event_t, Json&) {
    TORCH_CHECK(depth <= kMaxJsonDepth, what, " not valid JSON here (nested deeper than ", kMaxJsonDepth, " levels)");
    return true;
  };
  try {
    return Json::parse(begin, end, shallow);
  } catch (const Json::exception& e) {
    TORCH_CHECK(false, what, " not valid JSON (", e.what(), ")");
  }
}

Json parse_json(const std::string& text, const std::string& what) {
  return parse_json(text.data(), text.data() + text.size(), what);
}

Json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  TORCH_CHECK(in, what, " cannot open");
  const auto size = static_cast<int64_t>(in.tellg());
  TORCH_CHECK(size >= 0 && size <= kMaxJsonBytes, what, " is ", size, " bytes, more than the ", kMaxJsonBytes >> 20,
              " MB a JSON file may have here");
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(text.data(), size);
  TORCH_CHECK(in.gcount() == size, what, " cannot read");
  return parse_json(text, what);
}

std::string json_excerpt(const Json& value, size_t limit) {
  auto text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  return text;
}

MappedFile map_file(const std::string& path, bool writable, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, what, " cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    TORCH_CHECK(false, what, " not a regular file");
  }
  MappedFile out;
  out.size = static_cast<size_t>(st.st_size);
  if (out.size == 0) {
    ::close(fd);
    return out;
  }
  void* map = ::mmap(nullptr, out.size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE, fd, 0);
  const int error = errno;
  ::close(fd);
  TORCH_CHECK(map != MAP_FAILED, what, " cannot map the file (", std::strerror(error), ")");
  out.data = std::shared_ptr<void>(map, [size = out.size](void* p) { ::munmap(p, size); });
  return out;
}

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write, const std::string& what) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out, what, " cannot open '", partial, "' for writing");
    try {
      write(out);
    } catch (...) {
      out.close();
      std::remove(partial.c_str());
      throw;
    }
    out.close();
    if (!out.good()) {
      std::remove(partial.c_str());
      TORCH_CHECK(false, what, " cannot write '", partial, "'");
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(partial.c_str());
    TORCH_CHECK(false, what, " cannot replace '", path, "' (", reason, ")");
  }
}

uint64_t mix_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace vit::detail
