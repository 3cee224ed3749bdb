#include "vit/data.h"

#include "vit/image.h"

#include "io.h"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

namespace vit {

namespace {

namespace fs = std::filesystem;

// Images in [0, 1] (B, C0, H, W) -> normalised (B, C, H, W), C0 1 replicated to the model's C.
torch::Tensor normalise(const torch::Tensor& x, const PretrainedCfg& cfg) {
  const auto& size = cfg.input_size();
  const int64_t C = size[0];
  TORCH_CHECK(x.dim() == 4 && (x.size(1) == 1 || x.size(1) == C) && x.size(2) == size[1] && x.size(3) == size[2],
              "[ImageDataset] images ", x.sizes(), " do not fit the model input ", C, "x", size[1], "x", size[2]);
  TORCH_CHECK(C <= 3, "[ImageDataset] the model takes ", C, " channels (1 to 3 supported)");
  const auto mean = torch::tensor(std::vector<double>(cfg.mean().begin(), cfg.mean().begin() + C), torch::kFloat32);
  const auto std = torch::tensor(std::vector<double>(cfg.std().begin(), cfg.std().begin() + C), torch::kFloat32);
  const auto y = x.expand({x.size(0), C, x.size(2), x.size(3)});
  return y.sub(mean.view({1, C, 1, 1})).div(std.view({1, C, 1, 1}));
}

// torchvision's IMG_EXTENSIONS, compared in lower case.
bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

// Numbers in [0, 1) from a generator seeded by (seed, example position).
struct Uniform {
  std::mt19937_64 engine;
  double operator()() { return static_cast<double>(engine() >> 11) * 0x1.0p-53; }
};

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
  // a directory or a device is named as such; gzip reads the descriptor (raw files pass through)
  const int fd = detail::open_regular_file(path, "[read_idx] '" + path + "':", "an idx file", nullptr);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzdopen(fd, "rb"), gzclose);
  if (!file) ::close(fd);
  IDX_CHECK(file, "cannot open (out of memory)");
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

Batch ImageDataset::batch(const std::vector<int64_t>& indices, const PretrainedCfg& cfg, const Augmentation* augment,
                           uint64_t seed, int64_t offset) const {
  TORCH_CHECK(images.defined() && images.scalar_type() == torch::kUInt8 && images.dim() == 4,
              "[ImageDataset] expected uint8 images (N, C, H, W)");
  const auto index = torch::tensor(indices, torch::kInt64);
  auto x = images.index_select(0, index).to(torch::kFloat32).div(255.);
  if (augment && (augment->crop_padding > 0 || augment->flip))
    for (int64_t j = 0; j < x.size(0); ++j) {
      const auto generator = at::make_generator<at::CPUGeneratorImpl>(detail::mix_seed(seed, 1, static_cast<uint64_t>(offset + j)));
      x.narrow(0, j, 1).copy_(random_crop_flip(x.narrow(0, j, 1), augment->crop_padding, augment->flip, generator));
    }
  return {normalise(x, cfg), labels.index_select(0, index)};
}

std::array<int64_t, 4> random_resized_crop_box(int64_t width, int64_t height, std::array<double, 2> scale,
                                               std::array<double, 2> ratio, const std::function<double()>& uniform) {
  TORCH_CHECK(width > 0 && height > 0, "[random_resized_crop_box] image size ", width, "x", height, " must be positive");
  TORCH_CHECK(0. < scale[0] && scale[0] <= scale[1] && scale[1] <= 1. && 0. < ratio[0] && ratio[0] <= ratio[1],
              "[random_resized_crop_box] scale (", scale[0], ", ", scale[1], ") must be within (0, 1] and ratio (", ratio[0],
              ", ", ratio[1], ") positive, each in order");
  // ref: timm RandomResizedCropAndInterpolation.get_params (torchvision's RandomResizedCrop)
  const double area = static_cast<double>(width * height);
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  const auto offset = [&](int64_t n) { return std::min(n, static_cast<int64_t>(std::floor(uniform() * static_cast<double>(n + 1)))); };
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (scale[0] + (scale[1] - scale[0]) * uniform());
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * uniform());
    // Python's round(): half to even, as nearbyint in the default rounding mode
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = offset(height - h);
      const int64_t left = offset(width - w);
      return {left, top, w, h};
    }
  }
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio[0]) h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / ratio[0]));
  else if (in_ratio > ratio[1]) w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * ratio[1]));
  return {(width - w) / 2, (height - h) / 2, w, h};
}

torch::Tensor train_transform(const Image& image, const PretrainedCfg& cfg, double crop_scale, bool flip,
                              const std::function<double()>& uniform) {
  const auto box = random_resized_crop_box(image.width, image.height, {crop_scale, 1.}, {3. / 4., 4. / 3.}, uniform);
  auto out = resize(crop(image, box[0], box[1], box[2], box[3]), cfg.input_size()[2], cfg.input_size()[1], cfg.interpolation());
  if (flip && uniform() < 0.5) out = flip_left_right(out);
  return to_tensor(out, cfg);
}

ImageFolder::ImageFolder(const std::string& root, int64_t threads, int64_t max_images)
    : root_(root), threads_(threads > 0 ? threads : std::max<int64_t>(1, std::thread::hardware_concurrency())) {
  const std::string what = "[ImageFolder] '" + root + "':";
  std::error_code ec;
  TORCH_CHECK(fs::is_directory(root, ec), what, " not a directory");
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) classes_.push_back(it->path().filename().string());
  TORCH_CHECK(!ec, what, " cannot list it (", ec.message(), ")");
  TORCH_CHECK(!classes_.empty(), what, " has no class folders (expected root/<class>/<image>)");
  std::sort(classes_.begin(), classes_.end());
  for (size_t c = 0; c < classes_.size(); ++c) {
    std::vector<std::pair<std::string, std::string>> files;  // (folder, name): sorted as torchvision's sorted(os.walk)
    const auto dir = fs::path(root) / classes_[c];
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && has_image_extension(it->path()))
        files.emplace_back(it->path().parent_path().string(), it->path().filename().string());
      TORCH_CHECK(static_cast<int64_t>(paths_.size() + files.size()) <= max_images, what, " has more than ", max_images,
                  " images");
    }
    TORCH_CHECK(!ec, what, " cannot list '", dir.string(), "' (", ec.message(), ")");
    TORCH_CHECK(!files.empty(), what, " class folder '", classes_[c],
                "' has no images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)");
    std::sort(files.begin(), files.end());
    for (const auto& [folder, name] : files) {
      paths_.push_back((fs::path(folder) / name).string());
      labels_.push_back(static_cast<int64_t>(c));
    }
  }
}

torch::Tensor ImageFolder::targets() const { return torch::tensor(labels_, torch::kInt64); }

std::map<std::string, int64_t> ImageFolder::class_to_idx() const {
  std::map<std::string, int64_t> out;
  for (size_t c = 0; c < classes_.size(); ++c) out[classes_[c]] = static_cast<int64_t>(c);
  return out;
}

int64_t ImageFolder::skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(unreadable_.size());
}

Batch ImageFolder::batch(const std::vector<int64_t>& indices, const PretrainedCfg& cfg, const Augmentation* augment,
                         uint64_t seed, int64_t offset) const {
  check_options(cfg, "[ImageFolder] pretrained_cfg");
  TORCH_CHECK(cfg.input_size()[0] == 3, "[ImageFolder] the model takes ", cfg.input_size()[0], " channels; images are RGB");
  TORCH_CHECK(!augment || augment->crop_padding == 0, "[ImageFolder] crop_padding augments tensor images; image folders "
              "take RandomResizedCrop (crop_scale)");
  for (const auto i : indices)
    TORCH_CHECK(i >= 0 && i < size(), "[ImageFolder] index ", i, " is out of range for ", size(), " images");
  const auto n = static_cast<int64_t>(indices.size());
  const int64_t H = cfg.input_size()[1], W = cfg.input_size()[2];
  std::vector<torch::Tensor> examples(indices.size());
  std::atomic<int64_t> next{0};
  const auto work = [&] {
    for (int64_t j = next++; j < n; j = next++) {
      const auto i = indices[static_cast<size_t>(j)];
      try {
        const auto image = read_image(paths_[static_cast<size_t>(i)]);
        if (!augment) {
          examples[static_cast<size_t>(j)] = preprocess(image, cfg);
          continue;
        }
        Uniform uniform{std::mt19937_64(detail::mix_seed(seed, 1, static_cast<uint64_t>(offset + j)))};
        examples[static_cast<size_t>(j)] = train_transform(image, cfg, augment->crop_scale, augment->flip, std::ref(uniform));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (unreadable_.insert(i).second) {
          const auto* c10 = dynamic_cast<const c10::Error*>(&e);
          std::cerr << "warning: skipping an unreadable image: " << (c10 ? c10->what_without_backtrace() : e.what()) << "\n";
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < std::min(threads_, n); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (size_t j = 0; j < examples.size(); ++j) {
    if (!examples[j].defined()) continue;
    images.push_back(examples[j]);
    labels.push_back(labels_[static_cast<size_t>(indices[j])]);
  }
  if (images.empty()) return {torch::empty({0, 3, H, W}), torch::empty({0}, torch::kInt64)};
  return {torch::stack(images), torch::tensor(labels, torch::kInt64)};
}

ImageFolderSplit open_image_folder(const std::string& root, int64_t threads) {
  ImageFolderSplit out;
  const auto train = fs::path(root) / "train", val = fs::path(root) / "val";
  std::error_code ec;
  if (!fs::is_directory(train, ec)) {
    out.train = std::make_shared<ImageFolder>(root, threads);
    return out;
  }
  out.train = std::make_shared<ImageFolder>(train.string(), threads);
  if (fs::is_directory(val, ec)) {
    out.val = std::make_shared<ImageFolder>(val.string(), threads);
    TORCH_CHECK(out.val->classes() == out.train->classes(), "[ImageFolder] '", val.string(), "' has classes other than '",
                train.string(), "'s (", out.val->classes().size(), " against ", out.train->classes().size(), ")");
  }
  return out;
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
