#pragma once
// Datasets for training and evaluation, behind one interface (vit::Dataset) that Trainer and
// evaluate read batches from: images held in a tensor (Fashion-MNIST's idx files, gzip or raw) and
// folders of image files in torchvision's ImageFolder layout, decoded on background threads; the
// training augmentations (timm's RandomResizedCrop + flip; padded random crop + flip).
// Tests: tests/test_train.cpp; Python counterpart: tests/reference/training.py.

#include "vit/image.h"
#include "vit/pretrained_cfg.h"

#include <torch/torch.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vit {

/// What a training batch goes through before the model (TrainOptions gives the values).
struct Augmentation {
  int64_t crop_padding = 0;  ///< tensor images: zero-pad by this much and crop back at a random offset
  bool flip = false;         ///< a left-right flip with probability 1/2
  double crop_scale = 0.08;  ///< image files: RandomResizedCrop's smallest area fraction (its scale is (crop_scale, 1))
};

/// A batch of model input: images (B, C, H, W) float32 on the CPU, normalised, and labels (B) int64.
struct Batch {
  torch::Tensor images, labels;
};

/// Labelled images that Trainer and evaluate read batch by batch.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Every example's label, (N) int64.
  virtual torch::Tensor targets() const = 0;
  /// The class names in label order, or empty when the data does not name them.
  virtual std::vector<std::string> classes() const { return {}; }
  /// Examples `indices` as the input of a model with `cfg` (its input_size, mean and std): without
  /// `augment`, the evaluation transform; with it, augmented at random, example j from (`seed`,
  /// `offset` + j) alone, so that an example's augmentation depends on its place in the global batch
  /// and not on the thread, the time, or how the batch is split over processes (`offset`: the
  /// place of indices[0]). An example that cannot be read is left out of the batch, with one warning
  /// line the first time.
  virtual Batch batch(const std::vector<int64_t>& indices, const PretrainedCfg& cfg, const Augmentation* augment,
                      uint64_t seed, int64_t offset = 0) const = 0;
  /// Examples left out so far because they could not be read.
  virtual int64_t skipped() const { return 0; }
};

/// Reads an idx file (magic 0x0000 type ndim, big-endian int32 dims, then the data), gzip-compressed
/// or not. Returns a CPU tensor of the stored type (uint8 for MNIST's images and labels). Any
/// problem (missing file, bad magic, truncated data, trailing bytes, a gzip error) throws one
/// c10::Error starting "[read_idx] 'path': ".
torch::Tensor read_idx(const std::string& path);

/// Images held in a tensor: (N, C, H, W) uint8 (C 1, replicated to the model's channels, or the
/// model's) and labels (N) int64, at the model's input size. Augmented by random_crop_flip, each
/// example with its own generator.
struct ImageDataset : Dataset {
  torch::Tensor images;
  torch::Tensor labels;
  ImageDataset() = default;
  ImageDataset(torch::Tensor images_, torch::Tensor labels_) : images(std::move(images_)), labels(std::move(labels_)) {}
  int64_t size() const override { return images.defined() ? images.size(0) : 0; }
  torch::Tensor targets() const override { return labels; }
  Batch batch(const std::vector<int64_t>& indices, const PretrainedCfg& cfg, const Augmentation* augment,
              uint64_t seed, int64_t offset = 0) const override;
};

/// Fashion-MNIST's train (60k) or test (10k) split from `dir` (Debian's dataset-fashion-mnist puts
/// the four .gz files in /usr/share/datasets/fashion-mnist).
ImageDataset load_fashion_mnist(const std::string& dir, bool train);
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
/// "T-shirt/top", "Trouser", ..., "Ankle boot": the dataset's ten labels in order.
std::vector<std::string> fashion_mnist_classes();

/// Training augmentation of a float batch (B, C, H, W): zero-pad by `padding`, crop back to (H, W)
/// at a random offset, and (with `flip`) flip left-right with probability 1/2, each image
/// independently, drawing from the CPU `generator` (offsets (B, 2) first, then flips (B)).
torch::Tensor random_crop_flip(const torch::Tensor& images, int64_t padding, bool flip, at::Generator generator);

/// timm's RandomResizedCrop parameters for an image of width x height: up to 10 tries of an area
/// fraction uniform in `scale` and a log-uniform aspect ratio in `ratio` (w = round(sqrt(area *
/// ratio)), h = round(sqrt(area / ratio))) until the box fits, placed uniformly; else the center crop
/// of the image clamped to `ratio`. `uniform` gives numbers in [0, 1), drawn in that order (area,
/// ratio per try, then top, left); an offset in [0, n] is floor(u * (n + 1)). Returns
/// {left, top, width, height}.
std::array<int64_t, 4> random_resized_crop_box(int64_t width, int64_t height, std::array<double, 2> scale,
                                               std::array<double, 2> ratio, const std::function<double()>& uniform);

/// timm's training transform of one image for a model with `cfg`: RandomResizedCrop to the input
/// size (random_resized_crop_box with scale (crop_scale, 1) and ratio (3/4, 4/3), then PIL's resize
/// with cfg's interpolation), a left-right flip when `flip` and the next draw is below 1/2,
/// ToTensor, Normalize. Returns (3, H, W) float32.
torch::Tensor train_transform(const Image& image, const PretrainedCfg& cfg, double crop_scale, bool flip,
                              const std::function<double()>& uniform);

/// torchvision's ImageFolder: root/<class>/<image>, the class folders sorted by name and numbered in
/// that order, the images of each sorted by path (every file with an image extension: .jpg .jpeg .png
/// .ppm .pgm .bmp .gif, in any case; subfolders of a class folder are searched too). The training
/// transform is timm's: RandomResizedCrop to the model's input size (scale (crop_scale, 1), ratio
/// (3/4, 4/3), the model's interpolation), a flip, ToTensor, Normalize; the evaluation transform is
/// preprocess (vit/image.h), `vit classify`'s. Images are decoded on `threads` threads per batch.
/// A folder without classes, a class folder without images, or more than `max_images` images is an
/// error naming it.
/// Example: `auto train = std::make_shared<vit::ImageFolder>("data/train");`
class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::string& root, int64_t threads = 0, int64_t max_images = int64_t{1} << 28);
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  torch::Tensor targets() const override;
  std::vector<std::string> classes() const override { return classes_; }
  Batch batch(const std::vector<int64_t>& indices, const PretrainedCfg& cfg, const Augmentation* augment,
              uint64_t seed, int64_t offset = 0) const override;
  int64_t skipped() const override;
  /// Class name -> label.
  std::map<std::string, int64_t> class_to_idx() const;
  const std::string& root() const { return root_; }
  const std::string& path(int64_t i) const { return paths_.at(static_cast<size_t>(i)); }
  int64_t label(int64_t i) const { return labels_.at(static_cast<size_t>(i)); }

 private:
  std::string root_;
  std::vector<std::string> classes_, paths_;
  std::vector<int64_t> labels_;
  int64_t threads_;
  mutable std::mutex mutex_;
  mutable std::set<int64_t> unreadable_;
};

/// An image-folder dataset as timm's train.py finds it: `root`/train and `root`/val (the latter
/// optional) when `root`/train exists, else `root` alone as the training images.
struct ImageFolderSplit {
  std::shared_ptr<ImageFolder> train, val;  ///< val is null without root/val
};
ImageFolderSplit open_image_folder(const std::string& root, int64_t threads = 0);

}  // namespace vit
