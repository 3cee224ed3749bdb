#pragma once
// Private to src/: how the model classes create their parameters, so that one SkipInitGuard
// (vit/init.h) builds any family uninitialised in the loader's dtype.

#include "vit/vit_layers.h"

#include <torch/torch.h>

namespace vit::detail {

/// LibTorch's Linear; under a SkipInitGuard its tensors are uninitialised, in the guard's dtype.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = true);
/// timm's get_norm_layer(norm_layer)(dim, eps): a LayerNorm or RmsNorm over `dim`.
Norm make_norm(int64_t dim, const std::string& norm_layer, double eps);
/// torch::empty in the SkipInitGuard's dtype.
torch::Tensor uninitialised(at::IntArrayRef shape);
/// Zeros for a token or position embedding that the model's init then fills, or under a
/// SkipInitGuard uninitialised memory.
torch::Tensor tokens(at::IntArrayRef shape);

/// DiffAttention's lambda_init for the block at `depth`: 0.8 - 0.6 exp(-0.3 depth).
double differential_lambda_init(int64_t depth);
/// exp(q1 . k1) - exp(q2 . k2) + lambda_init, a float32 scalar tensor (timm's _compute_lambda).
torch::Tensor differential_lambda(const torch::Tensor& q1, const torch::Tensor& k1, const torch::Tensor& q2,
                                  const torch::Tensor& k2, double lambda_init);
/// A lambda vector of `dim` registered on `module` as `name`, drawn from normal(0, 0.1) unless a
/// SkipInitGuard is alive.
torch::Tensor register_lambda(torch::nn::Module& module, const char* name, int64_t dim);

/// Differential attention on q, k (B, 2H, N, d) and v (B, H, N, 2d) -> (B, H, N, 2d), after sub_norm
/// and the (1 - lambda_init) scale; `probs` gets both softmax maps of each head (B, 2H, N, N).
/// Shared by DiffAttention and DiffParallelScalingBlock.
torch::Tensor differential_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& lambda_full, double lambda_init, double scale,
                                     torch::nn::Dropout& drop, Norm& sub_norm, torch::Tensor* probs);

}  // namespace vit::detail
