#pragma once
// Datasets for training: the idx format of MNIST and Fashion-MNIST (gzip or raw), and the batch
// augmentation the trainer uses. Tests: tests/test_train.cpp; Python counterpart:
// tests/reference/training.py.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace vit {

/// Reads an idx file (magic 0x0000 type ndim, big-endian int32 dims, then the data), gzip-compressed
/// or not. Returns a CPU tensor of the stored type (uint8 for MNIST's images and labels). Any
/// problem (missing file, bad magic, truncated data, trailing bytes, a gzip error) throws one
/// c10::Error starting "[read_idx] 'path': ".
torch::Tensor read_idx(const std::string& path);

/// Images (N, 1, 28, 28) uint8 and labels (N) int64.
struct ImageDataset {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
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

}  // namespace vit
