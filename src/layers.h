#pragma once
// Private to src/: how the model classes create their parameters, so that one SkipInitGuard
// (vit/init.h) builds either family uninitialised in the loader's dtype.

#include <torch/torch.h>

namespace vit::detail {

/// LibTorch's Linear; under a SkipInitGuard its tensors are uninitialised, in the guard's dtype.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = true);
/// torch::empty in the SkipInitGuard's dtype.
torch::Tensor uninitialised(at::IntArrayRef shape);
/// Zeros for a token or position embedding that the model's init then fills, or under a
/// SkipInitGuard uninitialised memory.
torch::Tensor tokens(at::IntArrayRef shape);

}  // namespace vit::detail
