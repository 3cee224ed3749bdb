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
#include <limits>

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
    TORCH_CHECK(false, what, " not valid JSON (", excerpt(e.what(), 300), ")");
  }
}

Json parse_json(const std::string& text, const std::string& what) {
  return parse_json(text.data(), text.data() + text.size(), what);
}

Json read_json_file(const std::string& path, const std::string& what) {
  const auto text = read_regular_file(path, what, "a JSON file", kMaxJsonBytes, std::to_string(kMaxJsonBytes >> 20) + " MB");
  return parse_json(text, what);
}

bool is_int64(const Json& value) {
  return value.is_number_integer() &&
         (!value.is_number_unsigned() || value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

std::string excerpt(const std::string& text, size_t limit) {
  size_t cut = text.size();
  if (cut > limit) {
    cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  }
  std::string out = text.substr(0, cut);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (cut < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string json_excerpt(const Json& value, size_t limit) {
  return excerpt(value.dump(-1, ' ', false, Json::error_handler_t::replace), limit);
}

int open_regular_file(const std::string& path, const std::string& what, const std::string& kind, int64_t* size) {
  // O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused below); reads of a
  // regular file ignore the flag.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  TORCH_CHECK(fd >= 0, what, " cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    TORCH_CHECK(false, what, " cannot open (", reason, ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    TORCH_CHECK(!S_ISDIR(st.st_mode), what, " is a directory, not ", kind);
    TORCH_CHECK(false, what, " not a regular file (a device, a pipe or a socket)");
  }
  if (size) *size = static_cast<int64_t>(st.st_size);
  return fd;
}

std::string read_regular_file(const std::string& path, const std::string& what, const std::string& kind, int64_t max_bytes,
                              const std::string& limit) {
  int64_t size = 0;
  const int fd = open_regular_file(path, what, kind, &size);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  TORCH_CHECK(size >= 0 && size <= max_bytes, what, " is ", size, " bytes, more than the ", limit, " ", kind,
              " may have here");
  std::string text(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n >= 0, what, " cannot read (", std::strerror(errno), ")");
    TORCH_CHECK(n > 0, what, " cannot read (the file became shorter while it was read)");
    done += static_cast<size_t>(n);
  }
  return text;
}

MappedFile map_file(const std::string& path, bool writable, const std::string& what) {
  int64_t size = 0;
  const int fd = open_regular_file(path, what, "a regular file", &size);
  MappedFile out;
  out.size = static_cast<size_t>(size);
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
