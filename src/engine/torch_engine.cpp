// The LibTorch engine of InferenceModel: the block math in LibTorch ops, on any device and dtype,
// with scaled_dot_product_attention (flash / memory-efficient kernels) on LibTorch >= 2.0.
#include "engine.h"

#include "vit/vit_layers.h"

#include <torch/version.h>

namespace vit::detail {
namespace {

torch::Tensor layer_norm(const torch::Tensor& x, const BlockWeights::Norm& n) {
  return torch::layer_norm(x, {x.size(-1)}, n.weight, n.bias, n.eps);
}

// Every tensor of `b` as a `dtype` copy.
void convert(BlockWeights& b, torch::ScalarType dtype) {
  const auto to = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(dtype);
  };
  for (auto* n : {&b.norm1, &b.norm2, &b.q_norm, &b.k_norm}) {
    to(n->weight);
    to(n->bias);
  }
  for (auto* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) {
    to(l->weight);
    to(l->bias);
  }
  to(b.ls1);
  to(b.ls2);
  to(b.attn_bias);
}

class TorchBlocks final : public Blocks {
 public:
  TorchBlocks(std::vector<BlockWeights> blocks, std::optional<torch::ScalarType> compute)
      : blocks_(std::move(blocks)), compute_(compute) {
    if (compute_) {
      for (auto& b : blocks_) convert(b, *compute_);
    }
  }

  torch::Tensor forward(const torch::Tensor& tokens, int64_t last_rows) const override {
    if (compute_ && tokens.scalar_type() != *compute_) return forward(tokens.to(*compute_), last_rows).to(tokens.scalar_type());
    auto x = tokens;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto& b = blocks_[i];
      const int64_t B = x.size(0), N = x.size(1);
      // the last block: only the first `last_rows` tokens' queries (every token is a key and value)
      const int64_t Nq = i + 1 == blocks_.size() ? last_rows : N;
      const auto qkv = torch::linear(layer_norm(x, b.norm1), b.qkv.weight, b.qkv.bias)
                           .view({B, N, 3, b.heads, b.head_dim})
                           .permute({2, 0, 3, 1, 4});
      auto q = qkv[0].narrow(2, 0, Nq), k = qkv[1], v = qkv[2];
      if (b.q_norm.defined()) {
        q = layer_norm(q, b.q_norm);
        k = layer_norm(k, b.k_norm);
      }
      // a relative-position bias: the rows of the queries computed, in the tokens' dtype
      torch::Tensor bias;
      if (b.attn_bias.defined()) {
        TORCH_CHECK(b.attn_bias.size(-1) == N, "[engine] the block's attention bias is for ", b.attn_bias.size(-1),
                    " tokens, got ", N, " (the model's input size is fixed)");
        bias = b.attn_bias.narrow(-2, 0, Nq).to(q.device(), q.scalar_type());
      }
#if TORCH_VERSION_MAJOR >= 2
      // flash / memory-efficient kernels on CUDA; its default scale is head_dim^-0.5, as every family uses
      auto o = bias.defined() ? at::scaled_dot_product_attention(q, k, v, bias) : at::scaled_dot_product_attention(q, k, v);
#else
      auto s = torch::matmul(q, k.transpose(-2, -1)).mul_(b.scale);
      if (bias.defined()) s.add_(bias);
      auto o = torch::matmul(s.softmax(-1), v);
#endif
      auto y = o.transpose(1, 2).reshape({B, Nq, b.inner()});
      if (b.proj.defined()) y = torch::linear(y, b.proj.weight, b.proj.bias);
      if (Nq < N) x = x.narrow(1, 0, Nq);
      x = b.ls1.defined() ? x.addcmul(y, b.ls1) : x + y;
      y = torch::linear(activate(b.act, torch::linear(layer_norm(x, b.norm2), b.fc1.weight, b.fc1.bias)),
                        b.fc2.weight, b.fc2.bias);
      x = b.ls2.defined() ? x.addcmul_(y, b.ls2) : x.add_(y);
    }
    return x;
  }

 private:
  std::vector<BlockWeights> blocks_;
  std::optional<torch::ScalarType> compute_;
};

}  // namespace

std::unique_ptr<Blocks> make_torch_blocks(std::vector<BlockWeights> blocks, std::optional<torch::ScalarType> compute) {
  return std::make_unique<TorchBlocks>(std::move(blocks), compute);
}

}  // namespace vit::detail
