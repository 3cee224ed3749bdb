#pragma once
// lucidrains' vit-pytorch ViT (the seed's "version 1", vit-pytorch 0.35.x): rearrange + Linear
// patch embedding, PreNorm, Attention, FeedForward, Transformer and ViT with cls or mean pooling.
// Python counterpart: tests/reference/vit_pytorch.py; tests: tests/test_vit_pytorch.cpp.
// Names live in vit::vit_pytorch (its Attention differs from timm's vit::Attention); the others are
// also available as vit::ViT, vit::ViTOptions, vit::PreNorm, vit::FeedForward, vit::Transformer.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace vit {
namespace vit_pytorch {

// ---------------------------------------------------------------------------------------------
/// einops' `Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=..., p2=...)`: images to
/// flattened patches, channels last inside a patch.
/// Example: `PatchRearrange(32, 32)`
class PatchRearrangeImpl : public torch::nn::Cloneable<PatchRearrangeImpl> {
 public:
  PatchRearrangeImpl(int64_t p1, int64_t p2);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// (B, C, H, W) with H % p1 == 0 and W % p2 == 0 -> (B, (H/p1)*(W/p2), p1*p2*C).
  torch::Tensor forward(const torch::Tensor& x);

  int64_t p1, p2;
};
TORCH_MODULE(PatchRearrange);

// ---------------------------------------------------------------------------------------------
/// `PreNorm(dim, fn)`: fn(LayerNorm(dim)(x)), LayerNorm eps 1e-5. `fn` is any module with
/// `Tensor forward(Tensor)`.
/// Example: `PreNorm(64, FeedForward(64, 128))`
class PreNormImpl : public torch::nn::Cloneable<PreNormImpl> {
 public:
  PreNormImpl(int64_t dim, torch::nn::AnyModule fn);
  void reset() override;
  /// Deep copy: `fn` is cloned too (the default Cloneable::clone would share it).
  std::shared_ptr<torch::nn::Module> clone(const c10::optional<torch::Device>& device = c10::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::AnyModule fn;
};
TORCH_MODULE(PreNorm);

// ---------------------------------------------------------------------------------------------
/// Options for vit-pytorch's `Attention(dim, heads=8, dim_head=64, dropout=0.)`.
/// Example: `Attention(AttentionOptions(1024).heads(16).dim_head(64))`
struct AttentionOptions {
  /* implicit */ AttentionOptions(int64_t dim);
  /// Token width.
  TORCH_ARG(int64_t, dim);
  /// Number of heads. Default 8.
  TORCH_ARG(int64_t, heads) = 8;
  /// Width of each head, independent of dim (inner width = heads * dim_head). Default 64.
  TORCH_ARG(int64_t, dim_head) = 64;
  /// Dropout after the output projection (and, with attn_dropout, on the attention weights). Default 0.
  TORCH_ARG(double, dropout) = 0.;
  /// A LayerNorm(dim) `norm` inside, applied first (vit-pytorch >= 1.1, where PreNorm is gone). Default false.
  TORCH_ARG(bool, norm) = false;
  /// Dropout on the attention weights too (vit-pytorch >= 1.0). Default false (0.35.x).
  TORCH_ARG(bool, attn_dropout) = false;
};

/// Multi-head attention, qkv without bias, scale dim_head^-0.5; the output projection `to_out`
/// (Linear + Dropout) is absent when heads == 1 and dim_head == dim, as in Python.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(AttentionOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// (B, N, dim) -> (B, N, dim).
  torch::Tensor forward(const torch::Tensor& x);

  int64_t inner_dim() const { return options.heads() * options.dim_head(); }
  bool project_out() const { return !(options.heads() == 1 && options.dim_head() == options.dim()); }

  AttentionOptions options;
  torch::nn::LayerNorm norm{nullptr};  ///< absent unless options.norm()
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear to_qkv{nullptr};
  torch::nn::Sequential to_out{nullptr};  ///< absent unless project_out()
};
TORCH_MODULE(Attention);

// ---------------------------------------------------------------------------------------------
/// Options for vit-pytorch's `FeedForward(dim, hidden_dim, dropout=0.)`.
/// Example: `FeedForward(FeedForwardOptions(1024, 2048).dropout(0.1))`
struct FeedForwardOptions {
  FeedForwardOptions(int64_t dim, int64_t hidden_dim);
  /// Input and output width.
  TORCH_ARG(int64_t, dim);
  /// Hidden width.
  TORCH_ARG(int64_t, hidden_dim);
  /// Dropout after the GELU and after the second Linear. Default 0.
  TORCH_ARG(double, dropout) = 0.;
  /// A LayerNorm(dim) first in `net` (vit-pytorch >= 1.1: net.0 LayerNorm, net.1 / net.4 Linear). Default false.
  TORCH_ARG(bool, norm) = false;
};

/// net = Sequential([LayerNorm,] Linear, GELU, Dropout, Linear, Dropout).
class FeedForwardImpl : public torch::nn::Cloneable<FeedForwardImpl> {
 public:
  explicit FeedForwardImpl(FeedForwardOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  FeedForwardOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(FeedForward);

// ---------------------------------------------------------------------------------------------
/// Options for vit-pytorch's `Transformer(dim, depth, heads, dim_head, mlp_dim, dropout=0.)`.
/// Example: `Transformer(TransformerOptions(1024, 6, 16, 64, 2048))`
struct TransformerOptions {
  TransformerOptions(int64_t dim, int64_t depth, int64_t heads, int64_t dim_head, int64_t mlp_dim);
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, depth);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, dim_head);
  TORCH_ARG(int64_t, mlp_dim);
  /// Dropout in attention outputs and feed-forwards. Default 0.
  TORCH_ARG(double, dropout) = 0.;
  /// vit-pytorch version whose layout to build: "0.35" (PreNorm wrappers), "1.0" (PreNorm, attention
  /// dropout) or "current" (norms inside Attention / FeedForward and a final `norm`). Default "0.35".
  TORCH_ARG(std::string, layout) = "0.35";
};

/// depth x [x = attn(x) + x; x = ff(x) + x], then (layout "current") norm(x). attn / ff are
/// PreNorm(Attention) / PreNorm(FeedForward) in 0.35 and 1.0, Attention / FeedForward with their own
/// norm in "current".
class TransformerImpl : public torch::nn::Cloneable<TransformerImpl> {
 public:
  explicit TransformerImpl(TransformerOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  TransformerOptions options;
  torch::nn::LayerNorm norm{nullptr};     ///< layout "current" only
  torch::nn::ModuleList layers{nullptr};  ///< layers.{i}.0 = attention, layers.{i}.1 = feed-forward
};
TORCH_MODULE(Transformer);

// ---------------------------------------------------------------------------------------------
/// Options for vit-pytorch's `ViT(image_size, patch_size, num_classes, dim, depth, heads, mlp_dim,
/// pool='cls', channels=3, dim_head=64, dropout=0., emb_dropout=0.)`.
/// Example: `ViT(ViTOptions(256, 32, 1000, 1024, 6, 16, 2048).dropout(0.1).emb_dropout(0.1))`
struct ViTOptions {
  ViTOptions(torch::ExpandingArray<2> image_size, torch::ExpandingArray<2> patch_size, int64_t num_classes,
             int64_t dim, int64_t depth, int64_t heads, int64_t mlp_dim);
  /// Image size, an int or {height, width}; must be divisible by patch_size.
  TORCH_ARG(torch::ExpandingArray<2>, image_size);
  /// Patch size, an int or {height, width}.
  TORCH_ARG(torch::ExpandingArray<2>, patch_size);
  /// Classes of mlp_head.
  TORCH_ARG(int64_t, num_classes);
  /// Token width.
  TORCH_ARG(int64_t, dim);
  /// Number of transformer layers.
  TORCH_ARG(int64_t, depth);
  /// Attention heads.
  TORCH_ARG(int64_t, heads);
  /// Hidden width of the feed-forwards.
  TORCH_ARG(int64_t, mlp_dim);
  /// "cls" (the class token) or "mean" (mean over all tokens). Default "cls".
  TORCH_ARG(std::string, pool) = "cls";
  /// Input channels. Default 3.
  TORCH_ARG(int64_t, channels) = 3;
  /// Width of each attention head. Default 64.
  TORCH_ARG(int64_t, dim_head) = 64;
  /// Dropout inside the transformer. Default 0.
  TORCH_ARG(double, dropout) = 0.;
  /// Dropout after adding the position embedding. Default 0.
  TORCH_ARG(double, emb_dropout) = 0.;
  /// vit-pytorch version whose layout (state_dict keys) to build. Default "0.35" (the seed's):
  ///   "0.35":    to_patch_embedding.1 Linear; PreNorm blocks; mlp_head = LayerNorm + Linear.
  ///   "1.0":     dual patch norm: to_patch_embedding.1 LayerNorm(patch_dim), .2 Linear, .3 LayerNorm(dim).
  ///   "current": dual patch norm, norms inside the blocks, transformer.norm, mlp_head = Linear,
  ///              2-D cls_token (n_cls, dim) / pos_embedding (N + n_cls, dim), no cls token when pool = "mean".
  TORCH_ARG(std::string, layout) = "0.35";
};

/// vit-pytorch's ViT: to_patch_embedding (PatchRearrange + Linear [+ norms]), cls token and position
/// embedding (randn init), Transformer, cls/mean pooling, mlp_head.
class ViTImpl : public torch::nn::Cloneable<ViTImpl> {
 public:
  explicit ViTImpl(ViTOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// Images (B, channels, H, W) -> logits (B, num_classes). As in Python, H and W must be multiples
  /// of the patch size and give at most num_patches() patches (the position embedding is sliced).
  torch::Tensor forward(const torch::Tensor& img);
  /// Images -> the tokens the transformer sees: patches, cls token, position embedding, dropout.
  torch::Tensor forward_embed(const torch::Tensor& img);
  /// The transformer's output tokens -> logits: cls or mean pooling, to_latent, mlp_head.
  torch::Tensor forward_head(const torch::Tensor& tokens);
  /// How many leading tokens forward_head reads: 1 with pool "cls", 0 (all of them) with "mean".
  int64_t head_tokens() const { return options.pool() == "cls" ? 1 : 0; }

  int64_t num_patches() const;
  int64_t patch_dim() const;
  /// Class tokens: 1, or 0 with pool "mean" in layout "current".
  int64_t num_cls_tokens() const { return options.layout() == "current" && options.pool() == "mean" ? 0 : 1; }

  ViTOptions options;
  torch::nn::Sequential to_patch_embedding{nullptr};  ///< .0 PatchRearrange, then Linear or LayerNorm, Linear, LayerNorm
  torch::Tensor pos_embedding;                        ///< (1, num_patches + 1, dim); "current": (num_patches + n_cls, dim)
  torch::Tensor cls_token;                            ///< (1, 1, dim); "current": (n_cls, dim)
  torch::nn::Dropout dropout{nullptr};
  Transformer transformer{nullptr};
  torch::nn::Identity to_latent{nullptr};
  torch::nn::Sequential mlp_head{nullptr};  ///< .0 LayerNorm(dim), .1 Linear(dim, num_classes); "current": .0 absent
  torch::nn::Linear head{nullptr};          ///< "current": mlp_head is this Linear
};
TORCH_MODULE(ViT);

}  // namespace vit_pytorch

using vit_pytorch::FeedForward;
using vit_pytorch::FeedForwardImpl;
using vit_pytorch::FeedForwardOptions;
using vit_pytorch::PreNorm;
using vit_pytorch::PreNormImpl;
using vit_pytorch::Transformer;
using vit_pytorch::TransformerImpl;
using vit_pytorch::TransformerOptions;
using vit_pytorch::ViT;
using vit_pytorch::ViTImpl;
using vit_pytorch::ViTOptions;

}  // namespace vit
