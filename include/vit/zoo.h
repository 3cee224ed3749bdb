#pragma once
// The model zoo by name, as timm's create_model: every architecture name (vit_base_patch16_224,
// deit_small_distilled_patch16_224, ..., and "vit_pytorch" for lucidrains' ViT) with the model
// class that builds it, its default keyword arguments and its default pretrained_cfg.
// Tests: tests/test_pretrained.cpp.

#include "vit/model.h"
#include "vit/pretrained_cfg.h"

#include <string>
#include <vector>

namespace vit {

/// The largest model create_model builds unless told otherwise: 2e9 parameters (8 GB of float32),
/// above timm's largest ViT (vit_gigantic_patch14_clip_224, 1.84e9). Checked from the options
/// alone, before anything is allocated.
constexpr int64_t kDefaultMaxParameters = 2'000'000'000;

/// An architecture name's zoo entry.
struct Architecture {
  std::string name;        ///< e.g. "vit_base_patch16_224"
  std::string family;      ///< the model class: "vision_transformer" (timm) or "vit_pytorch"
  std::string model_args;  ///< JSON object: its keyword arguments over the family's defaults
  PretrainedCfg pretrained_cfg;  ///< timm's default pretrained_cfg for the name (its first tag's)
};

/// Every name create_model knows, sorted.
std::vector<std::string> list_models();

/// The entry of `name`; a timm tag after '.' is ignored ("vit_base_patch16_224.augreg2_in21k_ft_in1k").
/// Throws c10::Error "[create_model] unknown architecture 'x'" for other names.
const Architecture& architecture(const std::string& name);

/// A zoo model with `model_args`, a JSON object of Python keyword arguments that override the
/// named config as timm's create_model(name, **kwargs) does (num_classes defaults to the
/// pretrained_cfg's, as in timm). Unknown keys, wrong types, out-of-range values and a model of
/// more than `max_parameters` parameters throw one c10::Error naming the problem, before anything
/// is allocated. Under a SkipInitGuard (vit/init.h) the model is built uninitialised.
/// Example: `auto m = vit::create_model("vit_small_patch16_224", R"({"num_classes": 10})");`
ModelPtr create_model(const std::string& name, const std::string& model_args = "{}",
                      int64_t max_parameters = kDefaultMaxParameters);

/// The keyword arguments of `name` (entry and num_classes default) with `model_args` applied, as a
/// JSON object: what create_model builds from.
std::string resolve_model_args(const std::string& name, const std::string& model_args = "{}");

/// The keyword arguments that turn `name`'s defaults into `model`: what save_pretrained writes as
/// config.json's model_args. `model` must be of the name's family.
std::string model_args_diff(const Model& model, const std::string& name);

/// The zoo name a model built in C++ is saved under: the family's base architecture
/// (vit_base_patch16_224, deit_base_distilled_patch16_224 for distilled models, vit_pytorch).
std::string base_architecture(const Model& model);

}  // namespace vit
