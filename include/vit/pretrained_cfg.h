#pragma once
// timm's pretrained_cfg: the input a checkpoint expects and how images become that input (its eval
// transform: resize, center crop, normalise). Read from config.json, written by save_pretrained,
// given by the zoo for every architecture name. Tests: tests/test_pretrained.cpp, tests/test_image.cpp.

#include "vit/options.h"

namespace vit {

// Sizes up to 16384 (vit/image.h decodes images of at most 2^28 pixels); crop_pct in [0.1, 1]
// (the resize is to size / crop_pct, and the crop must fit in it); std strictly positive.
#define VIT_PRETRAINED_CFG(X)                                                                               \
  X(Int3, input_size, Int3({3, 224, 224}), Range(1, 16384), "channels, height, width of the model input")   \
  X(std::string, interpolation, "bicubic", OneOf("bicubic", "bilinear"), "resampling filter of the resize (PIL's)") \
  X(double, crop_pct, 0.875, Range(0.1, 1.), "resize the shorter side to size / crop_pct, then crop the center") \
  X(std::string, crop_mode, "center", OneOf("center", "squash"), "center: keep the aspect ratio, crop the center; squash: resize to a square first")                                     \
  X(Double3, mean, Double3({0.485, 0.456, 0.406}), Range(-1e3, 1e3), "per-channel mean subtracted from [0, 1] pixels") \
  X(Double3, std, Double3({0.229, 0.224, 0.225}), Range(1e-6, 1e3), "per-channel std the difference is divided by") \
  X(int64_t, num_classes, 1000, Range(0, 1 << 26), "classes of the checkpoint's head (informational)")

/// Preprocessing a checkpoint expects (timm's pretrained_cfg). Defaults: ImageNet's mean and std,
/// bicubic, crop_pct 0.875 at 224 (timm's defaults).
/// Example: `auto cfg = vit::PretrainedCfg().input_size({3, 384, 384}).crop_pct(1.0);`
struct PretrainedCfg {
  VIT_OPTIONS(PretrainedCfg, VIT_PRETRAINED_CFG)
  bool operator==(const PretrainedCfg& other) const { return options_to_json(*this) == options_to_json(other); }
};

/// A pretrained_cfg object of config.json applied over `base` and validated: types, ranges and
/// choices as above, each error one line naming the key. Keys vitcpp does not use (timm's url,
/// hf_hub_id, license, first_conv, ...) are ignored.
PretrainedCfg pretrained_cfg_from_json(const std::string& json, PretrainedCfg base, const std::string& what);

}  // namespace vit
