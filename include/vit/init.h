#pragma once
// Weight initialisers the reference designs use that LibTorch's C++ API lacks.

#include <torch/torch.h>

namespace vit {

/// Fills `tensor` in place with a normal(mean, std) truncated to [a, b] (absolute bounds, as timm's
/// `trunc_normal_` and `torch.nn.init.trunc_normal_`), drawing from the global generator exactly as
/// PyTorch does: uniform_, erfinv_, scale, shift, clamp. Same seed, same numbers as Python.
/// Example: `vit::trunc_normal_(linear->weight, 0., .02);`
torch::Tensor trunc_normal_(torch::Tensor tensor, double mean = 0., double std = 1., double a = -2., double b = 2.);

/// While one is alive on this thread, VisionTransformer skips random initialisation: timm's
/// truncated normals and LibTorch's own Linear init (kaiming uniform), which dominate building a
/// large model. For a model whose every weight is about to be loaded; load_pretrained builds its
/// models under one. Linear weights are then uninitialised memory (torch::empty).
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;
  static bool active();

 private:
  bool previous_;
};

}  // namespace vit
