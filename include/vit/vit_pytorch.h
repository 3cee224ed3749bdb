#pragma once
// lucidrains' vit-pytorch ViT (vit-pytorch 0.35.x, and the layouts of 1.0.x and current releases):
// rearrange + Linear patch embedding, PreNorm, Attention, FeedForward, Transformer and ViT with cls
// or mean pooling. Python counterpart: tests/reference/vit_pytorch.py; tests: tests/test_vit_pytorch.cpp.
// Names live in vit::vit_pytorch (its Attention differs from timm's vit::Attention); the others are
// also available as vit::ViT, vit::ViTOptions, vit::PreNorm, vit::FeedForward, vit::Transformer.
// Each options struct lists its fields once (vit/options.h).

#include "vit/model.h"
#include "vit/options.h"

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
#define VIT_PYTORCH_ATTENTION_OPTIONS(X)                                                            \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                            \
  X(int64_t, heads, 8, Range(1, 1 << 20), "number of heads")                                         \
  X(int64_t, dim_head, 64, Range(1, 1 << 20), "width of each head, independent of dim (inner width = heads * dim_head)") \
  X(double, dropout, 0., Probability(), "dropout after the output projection (and, with attn_dropout, on the attention weights)") \
  X(bool, norm, false, Any(), "a LayerNorm(dim) norm inside, applied first (vit-pytorch >= 1.1, where PreNorm is gone)") \
  X(bool, attn_dropout, false, Any(), "dropout on the attention weights too (vit-pytorch >= 1.0)")

/// Options for vit-pytorch's `Attention(dim, heads=8, dim_head=64, dropout=0.)`.
/// Example: `Attention(AttentionOptions(1024).heads(16).dim_head(64))`
struct AttentionOptions {
  AttentionOptions() = default;
  /* implicit */ AttentionOptions(int64_t dim) : dim_(dim) {}
  VIT_OPTIONS(AttentionOptions, VIT_PYTORCH_ATTENTION_OPTIONS)
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
  /// The same; with `probs`, the attention probabilities (B, heads, N, N) are stored there.
  torch::Tensor forward_with_probs(const torch::Tensor& x, torch::Tensor* probs);

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
#define VIT_PYTORCH_FEED_FORWARD_OPTIONS(X)                                                       \
  X(int64_t, dim, 0, Required(1, 1 << 20), "input and output width")                                 \
  X(int64_t, hidden_dim, 0, Required(1, 1 << 24), "hidden width")                                    \
  X(double, dropout, 0., Probability(), "dropout after the GELU and after the second Linear")         \
  X(bool, norm, false, Any(), "a LayerNorm(dim) first in net (vit-pytorch >= 1.1: net.0 LayerNorm, net.1 / net.4 Linear)")

/// Options for vit-pytorch's `FeedForward(dim, hidden_dim, dropout=0.)`.
/// Example: `FeedForward(FeedForwardOptions(1024, 2048).dropout(0.1))`
struct FeedForwardOptions {
  FeedForwardOptions() = default;
  FeedForwardOptions(int64_t dim, int64_t hidden_dim) : dim_(dim), hidden_dim_(hidden_dim) {}
  VIT_OPTIONS(FeedForwardOptions, VIT_PYTORCH_FEED_FORWARD_OPTIONS)
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
#define VIT_PYTORCH_TRANSFORMER_OPTIONS(X)                                                        \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                            \
  X(int64_t, depth, 0, Required(0, 10000), "number of layers")                                       \
  X(int64_t, heads, 0, Required(1, 1 << 20), "attention heads")                                      \
  X(int64_t, dim_head, 0, Required(1, 1 << 20), "width of each head")                                \
  X(int64_t, mlp_dim, 0, Required(1, 1 << 24), "hidden width of the feed-forwards")                  \
  X(double, dropout, 0., Probability(), "dropout in attention outputs and feed-forwards")            \
  X(std::string, layout, "0.35", OneOf("0.35", "1.0", "current"),                                    \
    "vit-pytorch version whose layout to build: 0.35 (PreNorm wrappers), 1.0 (PreNorm, attention dropout) or current (norms inside Attention / FeedForward and a final norm)")

/// Options for vit-pytorch's `Transformer(dim, depth, heads, dim_head, mlp_dim, dropout=0.)`.
/// Example: `Transformer(TransformerOptions(1024, 6, 16, 64, 2048))`
struct TransformerOptions {
  TransformerOptions() = default;
  TransformerOptions(int64_t dim, int64_t depth, int64_t heads, int64_t dim_head, int64_t mlp_dim)
      : dim_(dim), depth_(depth), heads_(heads), dim_head_(dim_head), mlp_dim_(mlp_dim) {}
  VIT_OPTIONS(TransformerOptions, VIT_PYTORCH_TRANSFORMER_OPTIONS)
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
  /// The layers alone, without the final norm.
  torch::Tensor forward_layers(torch::Tensor x);
  /// Layer `index` (attention and feed-forward, each with its residual); `probs` as Attention's.
  torch::Tensor forward_layer(int64_t index, torch::Tensor x, torch::Tensor* probs = nullptr);

  TransformerOptions options;
  torch::nn::LayerNorm norm{nullptr};     ///< layout "current" only
  torch::nn::ModuleList layers{nullptr};  ///< layers.{i}.0 = attention, layers.{i}.1 = feed-forward
};
TORCH_MODULE(Transformer);

// ---------------------------------------------------------------------------------------------
#define VIT_PYTORCH_VIT_OPTIONS(X)                                                                \
  X(Size2, image_size, 0, Required(1, 65536), "image size, an int or {height, width}; must be divisible by patch_size") \
  X(Size2, patch_size, 0, Required(1, 65536), "patch size, an int or {height, width}")                \
  X(int64_t, num_classes, 0, Required(1, 1 << 26), "classes of mlp_head")                            \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                            \
  X(int64_t, depth, 0, Required(0, 10000), "number of transformer layers")                           \
  X(int64_t, heads, 0, Required(1, 1 << 20), "attention heads")                                      \
  X(int64_t, mlp_dim, 0, Required(1, 1 << 24), "hidden width of the feed-forwards")                  \
  X(std::string, pool, "cls", OneOf("cls", "mean"), "cls (the class token) or mean (the mean of all tokens)") \
  X(int64_t, channels, 3, Range(1, 65536), "input channels")                                         \
  X(int64_t, dim_head, 64, Range(1, 1 << 20), "width of each attention head")                        \
  X(double, dropout, 0., Probability(), "dropout inside the transformer")                            \
  X(double, emb_dropout, 0., Probability(), "dropout after adding the position embedding")           \
  X(std::string, layout, "0.35", OneOf("0.35", "1.0", "current"),                                    \
    "vit-pytorch version whose layout (state_dict keys) to build: 0.35 (to_patch_embedding.1 Linear, PreNorm blocks, "  \
    "mlp_head = LayerNorm + Linear), 1.0 (dual patch norm: to_patch_embedding.1 LayerNorm(patch_dim), .2 Linear, "      \
    ".3 LayerNorm(dim)) or current (dual patch norm, norms inside the blocks, transformer.norm, mlp_head = Linear, "    \
    "2-D cls_token (n_cls, dim) / pos_embedding (N + n_cls, dim), no class token with pool mean)")

/// Options for vit-pytorch's `ViT(image_size, patch_size, num_classes, dim, depth, heads, mlp_dim,
/// pool='cls', channels=3, dim_head=64, dropout=0., emb_dropout=0.)`.
/// Example: `ViT(ViTOptions(256, 32, 1000, 1024, 6, 16, 2048).dropout(0.1).emb_dropout(0.1))`
struct ViTOptions {
  ViTOptions() = default;
  ViTOptions(Size2 image_size, Size2 patch_size, int64_t num_classes, int64_t dim, int64_t depth, int64_t heads,
             int64_t mlp_dim)
      : image_size_(image_size), patch_size_(patch_size), num_classes_(num_classes), dim_(dim), depth_(depth),
        heads_(heads), mlp_dim_(mlp_dim) {}
  VIT_OPTIONS(ViTOptions, VIT_PYTORCH_VIT_OPTIONS)
};

/// vit-pytorch's ViT: to_patch_embedding (PatchRearrange + Linear [+ norms]), cls token and position
/// embedding (randn init), Transformer, cls/mean pooling, mlp_head.
class ViTImpl : public Model {
 public:
  explicit ViTImpl(ViTOptions options_);
  /// Builds every submodule and parameter from `options` (randn tokens unless a SkipInitGuard is alive).
  void reset();
  void pretty_print(std::ostream& stream) const override;
  /// Images (B, channels, H, W) -> the tokens the transformer sees: patches, cls token, position
  /// embedding, dropout. As in Python, H and W must be multiples of the patch size and give at most
  /// num_patches() patches (the position embedding is sliced).
  Embedded forward_embed(const torch::Tensor& img) override;
  int64_t num_blocks() const override { return options.depth(); }
  /// The transformer's layer `index`.
  torch::Tensor forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                              torch::Tensor* probs = nullptr) override;
  std::array<int64_t, 2> feat_size(int64_t height, int64_t width) const override {
    return {height / options.patch_size()->at(0), width / options.patch_size()->at(1)};
  }
  /// transformer.norm in layout "current"; identity in the others (their norm is mlp_head's).
  torch::Tensor forward_norm(const torch::Tensor& tokens) override;
  /// Tokens -> logits: cls or mean pooling, to_latent, mlp_head; with `pre_logits`, the pooled
  /// features after mlp_head's LayerNorm (layouts 0.35 and 1.0), before its Linear.
  torch::Tensor forward_head(const torch::Tensor& tokens, bool pre_logits = false) override;

  int64_t num_prefix_tokens() const override { return num_cls_tokens(); }
  int64_t num_patches() const override;
  /// 1 with pool "cls", 0 (all of them) with "mean".
  int64_t head_tokens() const override { return options.pool() == "cls" ? 1 : 0; }
  int64_t num_classes() const override { return options.num_classes(); }
  int64_t num_features() const override { return options.dim(); }
  /// "token" for pool "cls", "avg" for "mean" (which, unlike timm's, includes the class token).
  std::string global_pool() const override { return options.pool() == "cls" ? "token" : "avg"; }
  std::array<int64_t, 3> input_size() const override;
  int64_t count_macs(int64_t height, int64_t width) const override;
  std::vector<BlockWeights> block_weights() const override;
  std::set<std::string> no_weight_decay() const override { return {"pos_embedding", "cls_token"}; }
  /// "mlp_head" (layout "current": a Linear) or its Linear "mlp_head.1".
  std::vector<std::string> classifier() const override;
  /// vit-pytorch has no group_matcher; the same grouping as timm's: the patch embedding, cls_token and
  /// pos_embedding 0, transformer.layers.i 1 + i, transformer.norm with the last layer, mlp_head last.
  int64_t layer_id(const std::string& parameter) const override;
  std::string model_args() const override { return options_to_json(options); }
  std::string family() const override { return "vit_pytorch"; }
  std::shared_ptr<Model> fresh() const override { return std::make_shared<ViTImpl>(options); }
  /// Tokens saved with a leading batch dimension of 1 in layout "current"; a Conv2d patch weight (timm's) as the Linear.
  void checkpoint_filter_fn(StateDict& state) const override;

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

/// The number of parameters vit_pytorch::ViT(options) has, computed from the options alone (the zoo
/// checks it against its budget before building anything).
int64_t count_parameters(const vit_pytorch::ViTOptions& options);

}  // namespace vit
