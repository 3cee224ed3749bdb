#pragma once
// Checkpoints: loading a state dict by name (strict, with a report), and the Hugging Face hub
// directory layout of timm models (config.json + model.safetensors | pytorch_model.bin | *.pth),
// for both families. Tests: tests/test_pretrained.cpp.

#include <torch/torch.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vit {

/// Tensors by name, in file order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

/// What a load found wrong; empty when every name and shape matched.
struct LoadReport {
  std::vector<std::string> missing;     ///< in the model, not in the checkpoint
  std::vector<std::string> unexpected;  ///< in the checkpoint, not in the model
  std::vector<std::string> mismatched;  ///< "name: checkpoint [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// One line, e.g. "2 missing (head.weight, head.bias); 1 unexpected (fc.weight)".
  std::string str() const;
};

/// vit-pytorch's patch Linear weight (D, P1*P2*C), inputs in (p1 p2 c) order, as timm's Conv2d
/// weight (D, C, P1, P2): reshape (D, P1, P2, C), permute (0, 3, 1, 2).
torch::Tensor linear_to_conv_patch_weight(const torch::Tensor& weight, int64_t channels, int64_t p1, int64_t p2);
/// The inverse: a Conv2d patch weight (D, C, P1, P2) as a Linear weight (D, P1*P2*C).
torch::Tensor conv_to_linear_patch_weight(const torch::Tensor& weight);

/// Copies `state` into the module's parameters and buffers by name (values converted to each
/// parameter's dtype and device). A patch-embedding weight stored in the other family's form (Linear
/// (D, P1*P2*C) for a Conv2d (D, C, P1, P2), or the reverse) is converted. Strict (default): any missing, unexpected or mis-shaped tensor
/// throws one c10::Error listing all of them, before anything is copied. Not strict: copies what
/// matches and returns the report.
LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict = true,
                           const std::string& what = "[load_state_dict]");
/// The same, taking the tensors over: where a tensor already has the parameter's dtype, device and
/// shape and is contiguous, the parameter adopts its storage instead of copying it (so parameters
/// loaded from `load_safetensors` stay views of the copy-on-write file mapping, and loading touches
/// no weight bytes). Tensors that share a storage are copied, so no two parameters become tied.
LoadReport load_state_dict(torch::nn::Module& module, StateDict&& state, bool strict = true,
                           const std::string& what = "[load_state_dict]");

/// Preprocessing a checkpoint expects (timm's pretrained_cfg).
struct PretrainedCfg {
  std::array<int64_t, 3> input_size{3, 224, 224};  ///< C, H, W
  std::string interpolation = "bicubic";
  double crop_pct = 0.875;
  std::string crop_mode = "center";
  std::array<double, 3> mean{0.485, 0.456, 0.406};
  std::array<double, 3> std{0.229, 0.224, 0.225};
};

/// A model of either family with everything its checkpoint directory says about it.
struct Pretrained {
  std::string architecture;  ///< a timm zoo name, or "vit_pytorch"
  std::string model_args;    ///< JSON object of the Python keyword arguments it was built with
  PretrainedCfg pretrained_cfg;
  std::vector<std::string> label_names;   ///< may be empty
  std::string weights_file;               ///< path it was loaded from
  std::string weights_format;             ///< "safetensors" | "torch.save"
  std::string weights_dtype;              ///< dtype of the stored weights, e.g. "float32"
  std::shared_ptr<torch::nn::Module> module;                    ///< VisionTransformerImpl or vit_pytorch::ViTImpl
  std::function<torch::Tensor(const torch::Tensor&)> forward;  ///< images -> logits (distilled: mean of heads)
  int64_t num_classes = 0;
};

/// Loads a checkpoint directory (or a weights file whose directory holds config.json): builds the
/// model config.json describes, reads its weights (model.safetensors, else pytorch_model.bin, else
/// the single *.pth / *.pt), loads them strictly, moves the model to `device` (and `dtype`, when
/// given) and puts it in eval mode. A pos_embed of another grid than the model's is resampled
/// (resample_abs_pos_embed). Every problem throws a c10::Error naming the file and what is wrong.
/// On the CPU, parameters whose stored dtype is the model's are the mapped safetensors tensors
/// themselves (copy-on-write), not copies. The model is built without random init (SkipInitGuard).
/// Example: `auto p = vit::load_pretrained("vit_base_patch16_224/"); auto logits = p.forward(x);`
Pretrained load_pretrained(const std::string& path, const torch::Device& device = torch::kCPU,
                           std::optional<torch::ScalarType> dtype = std::nullopt);

/// Writes `dir`/config.json (architecture, num_classes, num_features, global_pool, model_args,
/// pretrained_cfg, label_names) and `dir`/model.safetensors, the hub layout that load_pretrained
/// and timm's hub loader read. Creates `dir` if needed. The weights file is written beside the old
/// one and renamed over it, so `dir` may be the directory the model was loaded from.
void save_pretrained(const Pretrained& model, const std::string& dir);

/// Wraps a model built in C++ so it can be saved: `architecture` is the zoo name it derives from
/// ("" picks vit_base_patch16_224 or deit_base_distilled_patch16_224 as the base of model_args).
Pretrained make_pretrained(const std::shared_ptr<torch::nn::Module>& module, std::string architecture = "",
                           std::vector<std::string> label_names = {}, std::optional<PretrainedCfg> cfg = std::nullopt);

/// Multiply-accumulates of one forward for one image of height x width (Linear and conv layers and
/// the two attention matmuls; norms and softmax are not counted), for either family.
int64_t count_macs(const torch::nn::Module& model, int64_t height, int64_t width);
/// Number of parameters.
int64_t count_parameters(const torch::nn::Module& model);

/// Reads the tensors of a weights file: safetensors, or a torch.save zip (plain dict, OrderedDict,
/// or nested under 'model' / 'state_dict'). Sets `format` when given.
StateDict read_weights(const std::string& path, std::string* format = nullptr);

}  // namespace vit
