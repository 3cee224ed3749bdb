#pragma once
// Checkpoint directories in the Hugging Face hub layout of timm models (config.json next to
// model.safetensors | pytorch_model.bin | *.pth), for every model family: load_pretrained builds
// the model config.json describes and loads its weights; save_pretrained writes one.
// Tests: tests/test_pretrained.cpp; Python counterpart: tests/reference/check_saved.py.

#include "vit/model.h"
#include "vit/pretrained_cfg.h"
#include "vit/state_dict.h"
#include "vit/zoo.h"

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vit {

class InferenceModel;

/// A model with everything its checkpoint directory says about it.
struct Pretrained {
  std::string architecture;  ///< a zoo name (vit/zoo.h), e.g. "vit_base_patch16_224" or "vit_pytorch"
  PretrainedCfg pretrained_cfg;
  std::vector<std::string> label_names;  ///< empty, or one per class
  std::string weights_file;              ///< path it was loaded from
  std::string weights_format;            ///< "safetensors" | "torch.save"
  std::string weights_dtype;             ///< dtype of the stored weights, e.g. "Float"
  ModelPtr module;                       ///< the model (any family, through vit::Model)
  /// Set by optimize_for_inference (vit/inference.h): forward runs through it.
  std::shared_ptr<const InferenceModel> engine;

  /// Images -> logits (a distilled model: the mean of its heads), through `engine` when set.
  torch::Tensor forward(const torch::Tensor& images) const;
  int64_t num_classes() const;
};

#define VIT_LOAD_OPTIONS(X)                                                                                    \
  X(torch::Device, device, torch::kCPU, Any(), "where the model's parameters go")                              \
  X(int64_t, max_parameters, kDefaultMaxParameters, Range(1, 1e15),                                            \
    "the largest model config.json may ask for; a larger one is an error before anything is allocated")          \
  X(std::string, model_args, "{}", Any(),                                                                       \
    "a JSON object of keyword arguments over config.json's model_args, as timm's create_model(pretrained=True, **kwargs): " \
    "another num_classes leaves the checkpoint's classifier out and initialises the model's (timm's init: normal std " \
    "0.02, bias 0); another img_size resamples the position embedding")

/// Options for load_pretrained (besides the dtype).
/// Example: `vit::load_pretrained(dir, vit::LoadOptions().device(torch::kCUDA), torch::kBFloat16)`;
/// to fine-tune on 10 classes at 384 px: `vit::LoadOptions().model_args(R"({"num_classes": 10, "img_size": 384})")`
struct LoadOptions {
  VIT_OPTIONS(LoadOptions, VIT_LOAD_OPTIONS)
};

/// Loads a checkpoint directory (or a weights file whose directory holds config.json): validates
/// config.json completely (every value's type, range and length, and the model's parameter count)
/// before building anything, builds the model it describes without random init, reads its weights
/// (model.safetensors, else pytorch_model.bin, else the single *.pth / *.pt), adapts them
/// (Model::checkpoint_filter_fn: e.g. a pos_embed of another grid is resampled), loads them strictly
/// and puts the model in eval mode on the device. The model is built in `dtype` (default float32),
/// so weights stored in that dtype are adopted rather than copied: on the CPU, parameters are the
/// mapped safetensors tensors themselves (copy-on-write). Every problem throws one c10::Error
/// naming the file and what is wrong.
/// Example: `auto p = vit::load_pretrained("vit_base_patch16_224/"); auto logits = p.forward(x);`
Pretrained load_pretrained(const std::string& path, const LoadOptions& options,
                           std::optional<torch::ScalarType> dtype = std::nullopt);
/// The same with LoadOptions().device(device).
Pretrained load_pretrained(const std::string& path, const torch::Device& device = torch::kCPU,
                           std::optional<torch::ScalarType> dtype = std::nullopt);

/// Writes `dir`/config.json (architecture, num_classes, num_features, global_pool, model_args,
/// pretrained_cfg, label_names) and `dir`/model.safetensors, the hub layout that load_pretrained
/// and timm's hub loader read. Creates `dir` if needed. Each file is written beside the old one and
/// renamed over it, so `dir` may be the directory the model was loaded from.
void save_pretrained(const Pretrained& model, const std::string& dir);

/// Wraps a model built in C++ so it can be saved: `architecture` is the zoo name whose keyword
/// arguments model_args are written against ("" picks the family's base, vit/zoo.h
/// base_architecture); `cfg` defaults to the architecture's pretrained_cfg at the model's input size.
Pretrained make_pretrained(ModelPtr model, std::string architecture = "", std::vector<std::string> label_names = {},
                           std::optional<PretrainedCfg> cfg = std::nullopt);

}  // namespace vit
