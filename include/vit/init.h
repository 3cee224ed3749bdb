#pragma once
// Weight initialisers the reference designs use that LibTorch's C++ API lacks, and building a model
// without initialising it (for weights that are about to be loaded).

#include <torch/torch.h>

namespace vit {

/// Fills `tensor` in place with a normal(mean, std) truncated to [a, b] (absolute bounds, as timm's
/// `trunc_normal_` and `torch.nn.init.trunc_normal_`), drawing from the global generator exactly as
/// PyTorch does: uniform_, erfinv_, scale, shift, clamp. Same seed, same numbers as Python.
/// Example: `vit::trunc_normal_(linear->weight, 0., .02);`
torch::Tensor trunc_normal_(torch::Tensor tensor, double mean = 0., double std = 1., double a = -2., double b = 2.);

/// While one is alive on this thread, the models of every family skip random initialisation
/// (timm's truncated normals, vit-pytorch's normal tokens, LibTorch's Linear init), which dominates
/// building a large model: their Linear weights and tokens are uninitialised memory (torch::empty)
/// of `dtype`, so that weights of that dtype can replace them without a copy. For a model whose
/// every weight is about to be loaded; load_pretrained builds its models under one.
class SkipInitGuard {
 public:
  explicit SkipInitGuard(torch::ScalarType dtype = torch::kFloat32);
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;
  static bool active();
  /// The innermost guard's dtype (float32 when none is alive).
  static torch::ScalarType dtype();

 private:
  bool previous_active_;
  torch::ScalarType previous_dtype_;
};

}  // namespace vit
