#pragma once
// State dicts: reading a weights file (safetensors or torch.save) and loading tensors into a module
// by name, strictly and with a report; the patch-weight conversion between timm's conv and vit-pytorch's Linear forms.
// Tests: tests/test_pretrained.cpp.

#include "vit/model.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace vit {

/// What a load found wrong; empty when every name and shape matched.
struct LoadReport {
  std::vector<std::string> missing;     ///< in the model, not in the checkpoint
  std::vector<std::string> unexpected;  ///< in the checkpoint, not in the model
  std::vector<std::string> mismatched;  ///< "name: checkpoint [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// One line, e.g. "2 missing (head.weight, head.bias); 1 unexpected (fc.weight)".
  std::string str() const;
};

/// Copies `state` into the module's parameters and buffers by name (values converted to each
/// parameter's dtype and device). Strict (default): any missing, unexpected or mis-shaped tensor
/// throws one c10::Error listing all of them, before anything is copied. Not strict: copies what
/// matches and returns the report. (A checkpoint of another form is first rewritten by the
/// model's Model::checkpoint_filter_fn; load_pretrained does both.)
LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict = true,
                           const std::string& what = "[load_state_dict]");
/// The same, taking the tensors over: where a tensor already has the parameter's dtype, device and
/// shape and is contiguous, the parameter adopts its storage instead of copying it (so parameters
/// loaded from `load_safetensors` stay views of the copy-on-write file mapping, and loading touches
/// no weight bytes). Tensors that share a storage are copied, so no two parameters become tied.
LoadReport load_state_dict(torch::nn::Module& module, StateDict&& state, bool strict = true,
                           const std::string& what = "[load_state_dict]");

/// Reads the tensors of a weights file: safetensors, or a torch.save zip (plain dict, OrderedDict,
/// or nested under 'model' / 'state_dict'). Sets `format` ("safetensors" | "torch.save") when given.
StateDict read_weights(const std::string& path, std::string* format = nullptr);

/// vit-pytorch's patch Linear weight (D, P1*P2*C), inputs in (p1 p2 c) order, as timm's Conv2d
/// weight (D, C, P1, P2): reshape (D, P1, P2, C), permute (0, 3, 1, 2).
torch::Tensor linear_to_conv_patch_weight(const torch::Tensor& weight, int64_t channels, int64_t p1, int64_t p2);
/// The inverse: a Conv2d patch weight (D, C, P1, P2) as a Linear weight (D, P1*P2*C).
torch::Tensor conv_to_linear_patch_weight(const torch::Tensor& weight);
/// `given` in the form of `target` when it is the same patch weight in the other form (Linear for
/// a Conv2d or the reverse, same element count and output width), else undefined.
torch::Tensor convert_patch_weight(const torch::Tensor& given, const torch::Tensor& target);

}  // namespace vit
