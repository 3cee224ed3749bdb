#include "vit/data.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace vit {

namespace {

#define IDX_CHECK(cond, ...) TORCH_CHECK(cond, "[read_idx] '", path, "': ", __VA_ARGS__)

// Reads exactly `size` bytes; false at the end of the stream.
bool read_exactly(gzFile file, void* out, size_t size, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const auto chunk = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
    const int n = gzread(file, static_cast<char*>(out) + done, chunk);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      IDX_CHECK(false, "gzip error (", message, ")");
    }
    if (n == 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);  // raw files pass through
  IDX_CHECK(file, "cannot open");
  std::array<uint8_t, 4> magic{};
  IDX_CHECK(read_exactly(file.get(), magic.data(), 4, path), "too short for the 4-byte magic");
  IDX_CHECK(magic[0] == 0 && magic[1] == 0, "not an idx file (magic ", int(magic[0]), " ", int(magic[1]), ")");
  torch::ScalarType dtype;
  switch (magic[2]) {
    case 0x08: dtype = torch::kUInt8; break;
    case 0x09: dtype = torch::kInt8; break;
    case 0x0B: dtype = torch::kInt16; break;
    case 0x0C: dtype = torch::kInt32; break;
    case 0x0D: dtype = torch::kFloat32; break;
    case 0x0E: dtype = torch::kFloat64; break;
    default: IDX_CHECK(false, "unknown data type 0x", std::hex, int(magic[2]));
  }
  const int ndim = magic[3];
  IDX_CHECK(ndim >= 1 && ndim <= 4, ndim, " dimensions (1 to 4 supported)");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (int i = 0; i < ndim; ++i) {
    std::array<uint8_t, 4> d{};
    IDX_CHECK(read_exactly(file.get(), d.data(), 4, path), "truncated in the dimensions");
    const int64_t size = (int64_t(d[0]) << 24) | (d[1] << 16) | (d[2] << 8) | d[3];
    IDX_CHECK(size > 0 && size <= (int64_t(1) << 31) / numel, "dimension ", i, " of ", size, " is empty or too large");
    numel *= size;
    shape.push_back(size);
  }
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  // Read in chunks, so that memory follows the data actually present, not what a header claims.
  std::vector<uint8_t> data;
  while (data.size() < bytes) {
    const size_t have = data.size(), chunk = std::min<size_t>(bytes - have, size_t(1) << 24);
    data.resize(have + chunk);
    IDX_CHECK(read_exactly(file.get(), data.data() + have, chunk, path), "truncated: the header promises ", bytes,
              " data bytes");
  }
  auto out = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  std::memcpy(out.data_ptr(), data.data(), bytes);
  char extra = 0;
  IDX_CHECK(!read_exactly(file.get(), &extra, 1, path), "trailing bytes after ", bytes, " data bytes");
  if (out.element_size() > 1) {  // idx is big-endian
    auto* p = static_cast<uint8_t*>(out.data_ptr());
    const auto w = static_cast<size_t>(out.element_size());
    for (size_t i = 0; i < bytes; i += w) std::reverse(p + i, p + i + w);
  }
  return out;
}

ImageDataset load_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = dir + (train ? "/train" : "/t10k");
  ImageDataset out;
  const auto images = read_idx(prefix + "-images-idx3-ubyte.gz");
  const auto labels = read_idx(prefix + "-labels-idx1-ubyte.gz");
  TORCH_CHECK(images.dim() == 3 && images.scalar_type() == torch::kUInt8, "[load_fashion_mnist] '", prefix,
              "-images-idx3-ubyte.gz': expected uint8 images (N, H, W), got ", images.scalar_type(), " ", images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "[load_fashion_mnist] '", prefix,
              "-labels-idx1-ubyte.gz': expected ", images.size(0), " labels, got ", labels.sizes());
  TORCH_CHECK(labels.max().item<int64_t>() < 10, "[load_fashion_mnist] '", prefix,
              "-labels-idx1-ubyte.gz': labels must be 0-9");
  out.images = images.unsqueeze(1);
  out.labels = labels.to(torch::kInt64);
  return out;
}

std::vector<std::string> fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

torch::Tensor random_crop_flip(const torch::Tensor& images, int64_t padding, bool flip, at::Generator generator) {
  TORCH_CHECK(images.dim() == 4 && images.is_floating_point(), "[random_crop_flip] expected float images (B, C, H, W), got ",
              images.scalar_type(), " ", images.sizes());
  TORCH_CHECK(padding >= 0, "[random_crop_flip] padding must be >= 0, got ", padding);
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  const auto cpu = torch::TensorOptions().dtype(torch::kInt64);
  const auto offsets = torch::randint(0, 2 * padding + 1, {B, 2}, generator, cpu);
  const auto flips = flip ? torch::randint(0, 2, {B}, generator, cpu) : torch::zeros({B}, cpu);
  const auto padded = torch::constant_pad_nd(images, {padding, padding, padding, padding});
  auto out = torch::empty_like(images);
  const auto* o = offsets.data_ptr<int64_t>();
  const auto* f = flips.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    auto crop = padded[b].narrow(1, o[2 * b], H).narrow(2, o[2 * b + 1], W);
    out[b].copy_(f[b] ? crop.flip({2}) : crop);
  }
  return out;
}

}  // namespace vit
