#pragma once
// The timm model zoo by name (vit_base_patch16_224, deit_small_distilled_patch16_224, ...) and the
// mapping between Python keyword arguments (config.json's model_args) and the C++ options.
// Tests: tests/test_pretrained.cpp.

#include "vit/vision_transformer.h"
#include "vit/vit_pytorch.h"

#include <string>
#include <vector>

namespace vit {

/// Names create_model knows, e.g. "vit_base_patch16_224". A timm tag after '.' is ignored
/// ("vit_base_patch16_224.augreg2_in21k_ft_in1k").
std::vector<std::string> list_models();

/// The options of a zoo model, as timm's create_model(name) builds it.
/// Throws c10::Error "[create_model] unknown architecture 'x'" for other names.
VisionTransformerOptions model_options(const std::string& name);

/// A zoo model with `model_args`, a JSON object of timm keyword arguments that override the named
/// config as create_model(name, **kwargs) does, e.g. R"({"num_classes": 10, "img_size": 384})".
/// Example: `auto m = vit::create_model("vit_small_patch16_224", R"({"num_classes": 10})");`
VisionTransformer create_model(const std::string& name, const std::string& model_args = "{}");

/// Applies timm keyword arguments (JSON object) to `options`; unknown or unsupported keys and
/// wrong types throw c10::Error naming the key. `what` begins every message.
VisionTransformerOptions apply_model_args(VisionTransformerOptions options, const std::string& model_args,
                                          const std::string& what = "[model_args]");
/// The keyword arguments (JSON object) that turn `base` into `options`: what save_pretrained writes.
std::string model_args_diff(const VisionTransformerOptions& options, const VisionTransformerOptions& base);

/// vit-pytorch's ViT(**kwargs) from a JSON object (image_size, patch_size, num_classes, dim, depth,
/// heads, mlp_dim required).
ViTOptions vit_pytorch_options(const std::string& model_args, const std::string& what = "[model_args]");
/// The inverse: ViT kwargs as a JSON object (without layout, which a checkpoint's keys tell).
std::string vit_pytorch_args(const ViTOptions& options);

}  // namespace vit
