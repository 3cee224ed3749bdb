#pragma once
// Images in, model input out: decoding (PNG via stb_image, JPEG via libjpeg as PIL does) and timm's
// eval transform reproduced exactly: Resize(shorter side = floor(size / crop_pct)) with PIL's
// antialiased resampling, CenterCrop, ToTensor, Normalize. Python counterpart:
// tests/reference/preprocess.py; tests: tests/test_image.cpp.

#include "vit/pretrained_cfg.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

/// An 8-bit RGB image, rows of width * 3 bytes (what PIL's Image.convert('RGB') holds).
struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

/// Decodes a PNG, JPEG, BMP, GIF (first frame) or PPM file to RGB: grayscale is replicated and an
/// alpha channel dropped, as PIL's convert('RGB'). Throws c10::Error "[read_image] 'path': ...".
Image read_image(const std::string& path);

/// PIL's Image.resize(size, BICUBIC | BILINEAR) bit for bit: separable, antialiased when shrinking,
/// fixed-point coefficients, rounded to 8 bits after the horizontal and after the vertical pass.
/// `filter`: "bicubic" or "bilinear".
Image resize(const Image& image, int64_t width, int64_t height, const std::string& filter = "bicubic");

/// The rectangle (left, top) + (width, height) of `image`, inside it: PIL's crop((left, top, left + width, top + height)).
Image crop(const Image& image, int64_t left, int64_t top, int64_t width, int64_t height);

/// `image` mirrored left to right (PIL's transpose(FLIP_LEFT_RIGHT)).
Image flip_left_right(const Image& image);

/// torchvision's ToTensor then Normalize with `cfg`'s mean and std: a float32 tensor (3, H, W).
torch::Tensor to_tensor(const Image& image, const PretrainedCfg& cfg);

/// timm's eval transform for `cfg` (input_size, crop_pct, crop_mode "center" or "squash",
/// interpolation, mean, std; validated first): a float32 tensor (3, H, W).
torch::Tensor preprocess(const Image& image, const PretrainedCfg& cfg);

/// The image a preprocessed tensor (3, H, W) shows: normalisation undone with `cfg`'s mean and std.
Image to_image(const torch::Tensor& pixels, const PretrainedCfg& cfg);

/// `image` with a heat map blended over it: `heat` (h, w), any range, is scaled to [0, 1], resized
/// bilinearly to the image and coloured (dark blue, cyan, yellow, red) at `alpha` opacity.
Image overlay_heatmap(const Image& image, const torch::Tensor& heat, double alpha = 0.5);

/// Writes an 8-bit RGB PNG; throws c10::Error "[write_png] 'path': ..." on failure.
void write_png(const std::string& path, const Image& image);

}  // namespace vit
