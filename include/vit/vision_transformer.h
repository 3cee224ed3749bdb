#pragma once
// The timm Vision Transformer family (the seed's "version 2", timm 0.5.x, plus the options of
// current timm 1.0.x): PatchEmbed, Attention, Mlp, DropPath, LayerScale, Block and
// VisionTransformer, with DeiT distillation, and resample_abs_pos_embed.
// Python counterpart: tests/reference/vision_transformer.py; tests: tests/test_vision_transformer.cpp.
// Submodule and parameter names equal timm's state_dict keys (see shared/design/REFERENCE.md).

#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vit {

// ---------------------------------------------------------------------------------------------
/// Options for `PatchEmbed`, timm's `PatchEmbed(img_size, patch_size, in_chans, embed_dim, ...)`.
/// Example: `PatchEmbed(PatchEmbedOptions().img_size(32).patch_size(8).embed_dim(64))`
struct PatchEmbedOptions {
  /// Input image size, an int or {height, width}. Default 224.
  TORCH_ARG(torch::ExpandingArray<2>, img_size) = 224;
  /// Patch size, an int or {height, width}; kernel and stride of the projection. Default 16.
  TORCH_ARG(torch::ExpandingArray<2>, patch_size) = 16;
  /// Input channels. Default 3.
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Token width. Default 768.
  TORCH_ARG(int64_t, embed_dim) = 768;
  /// Python `norm_layer=nn.LayerNorm`: a LayerNorm(embed_dim, eps 1e-5) over the tokens. Default false.
  TORCH_ARG(bool, norm_layer) = false;
  /// Flatten (B, D, gh, gw) to tokens (B, gh*gw, D). Default true.
  TORCH_ARG(bool, flatten) = true;
  /// Bias in the projection (current timm; false with pre_norm). Default true.
  TORCH_ARG(bool, bias) = true;
  /// Require inputs of exactly img_size; when false any multiple of patch_size works. Default true.
  TORCH_ARG(bool, strict_img_size) = true;
};

/// Image to patch tokens: Conv2d with kernel = stride = patch_size, flattened to (B, N, D).
class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  explicit PatchEmbedImpl(PatchEmbedOptions options_ = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// (B, in_chans, H, W) with (H, W) == img_size -> (B, num_patches, embed_dim).
  torch::Tensor forward(const torch::Tensor& x);

  /// Patches along (height, width) of the configured img_size.
  std::array<int64_t, 2> grid_size() const;
  int64_t num_patches() const;

  PatchEmbedOptions options;
  torch::nn::Conv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};  ///< absent unless options.norm_layer()
};
TORCH_MODULE(PatchEmbed);

// ---------------------------------------------------------------------------------------------
/// Options for timm's `Attention(dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0.)`.
/// Example: `Attention(AttentionOptions(768).num_heads(12).qkv_bias(true))`
struct AttentionOptions {
  /* implicit */ AttentionOptions(int64_t dim);
  /// Token width; must be divisible by num_heads.
  TORCH_ARG(int64_t, dim);
  /// Number of heads. Default 8.
  TORCH_ARG(int64_t, num_heads) = 8;
  /// Bias in the fused qkv Linear. Default false.
  TORCH_ARG(bool, qkv_bias) = false;
  /// Dropout on the attention weights. Default 0.
  TORCH_ARG(double, attn_drop) = 0.;
  /// Dropout after the output projection. Default 0.
  TORCH_ARG(double, proj_drop) = 0.;
  /// LayerNorm(head_dim) on queries and keys (current timm's qk_norm). Default false.
  TORCH_ARG(bool, qk_norm) = false;
  /// eps of the qk norms. Default 1e-5 (nn.LayerNorm); VisionTransformer uses 1e-6.
  TORCH_ARG(double, norm_eps) = 1e-5;
};

/// Multi-head self-attention with a fused qkv projection, scale head_dim^-0.5.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(AttentionOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// (B, N, dim) -> (B, N, dim).
  torch::Tensor forward(const torch::Tensor& x);

  int64_t head_dim() const { return options.dim() / options.num_heads(); }
  double scale() const;

  AttentionOptions options;
  torch::nn::Linear qkv{nullptr};
  torch::nn::LayerNorm q_norm{nullptr};  ///< absent unless qk_norm
  torch::nn::LayerNorm k_norm{nullptr};  ///< absent unless qk_norm
  torch::nn::Dropout attn_drop{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::nn::Dropout proj_drop{nullptr};
};
TORCH_MODULE(Attention);

// ---------------------------------------------------------------------------------------------
/// Options for timm's `Mlp(in_features, hidden_features=None, out_features=None, drop=0.)` (GELU).
/// Example: `Mlp(MlpOptions(768).hidden_features(3072))`
struct MlpOptions {
  /* implicit */ MlpOptions(int64_t in_features);
  /// Input width.
  TORCH_ARG(int64_t, in_features);
  /// Hidden width. Default: in_features.
  TORCH_ARG(std::optional<int64_t>, hidden_features) = std::nullopt;
  /// Output width. Default: in_features.
  TORCH_ARG(std::optional<int64_t>, out_features) = std::nullopt;
  /// Dropout after the activation and after fc2. Default 0.
  TORCH_ARG(double, drop) = 0.;
};

/// fc1 -> GELU (exact, erf) -> dropout -> fc2 -> dropout.
class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  explicit MlpImpl(MlpOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t hidden_features() const { return options.hidden_features().value_or(options.in_features()); }
  int64_t out_features() const { return options.out_features().value_or(options.in_features()); }

  MlpOptions options;
  torch::nn::Linear fc1{nullptr};
  torch::nn::GELU act{nullptr};
  torch::nn::Dropout drop1{nullptr};
  torch::nn::Linear fc2{nullptr};
  torch::nn::Dropout drop2{nullptr};
};
TORCH_MODULE(Mlp);

// ---------------------------------------------------------------------------------------------
/// Options for timm's `DropPath(drop_prob)`.
/// Example: `DropPath(DropPathOptions(0.1))`
struct DropPathOptions {
  /* implicit */ DropPathOptions(double drop_prob = 0.) : drop_prob_(drop_prob) {}
  /// Probability in [0, 1] that a sample's residual branch is dropped. Default 0.
  TORCH_ARG(double, drop_prob);
};

/// Stochastic depth: in training each sample is zeroed with probability drop_prob and the kept
/// ones are scaled by 1 / (1 - drop_prob); identity in eval or at rate 0.
class DropPathImpl : public torch::nn::Cloneable<DropPathImpl> {
 public:
  explicit DropPathImpl(DropPathOptions options_ = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  DropPathOptions options;
};
TORCH_MODULE(DropPath);

// ---------------------------------------------------------------------------------------------
/// timm's `LayerScale(dim, init_values)`: x * gamma, gamma initialised to init_values.
/// Example: `LayerScale(768, 1e-5)`
class LayerScaleImpl : public torch::nn::Cloneable<LayerScaleImpl> {
 public:
  LayerScaleImpl(int64_t dim, double init_values);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim;
  double init_values;
  torch::Tensor gamma;
};
TORCH_MODULE(LayerScale);

// ---------------------------------------------------------------------------------------------
/// Options for timm's `Block(dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0.,
/// drop_path=0.)`.
/// Example: `Block(BlockOptions(768, 12).qkv_bias(true))`
struct BlockOptions {
  BlockOptions(int64_t dim, int64_t num_heads);
  /// Token width.
  TORCH_ARG(int64_t, dim);
  /// Attention heads; must divide dim.
  TORCH_ARG(int64_t, num_heads);
  /// Mlp hidden width = int(dim * mlp_ratio). Default 4.
  TORCH_ARG(double, mlp_ratio) = 4.;
  /// Bias in the qkv Linear. Default false.
  TORCH_ARG(bool, qkv_bias) = false;
  /// Dropout after the attention projection and in the Mlp. Default 0.
  TORCH_ARG(double, drop) = 0.;
  /// Dropout on the attention weights. Default 0.
  TORCH_ARG(double, attn_drop) = 0.;
  /// DropPath rate on both residual branches. Default 0.
  TORCH_ARG(double, drop_path) = 0.;
  /// eps of norm1/norm2 (and the qk norms). Default 1e-5 (Python's `norm_layer=nn.LayerNorm`);
  /// VisionTransformer uses 1e-6.
  TORCH_ARG(double, norm_eps) = 1e-5;
  /// LayerNorm on queries and keys. Default false.
  TORCH_ARG(bool, qk_norm) = false;
  /// LayerScale ls1/ls2 with this initial gamma; unset means none. Default unset.
  TORCH_ARG(std::optional<double>, init_values) = std::nullopt;
};

/// Pre-norm residual block: x + drop_path(ls1(attn(norm1(x)))), then x + drop_path(ls2(mlp(norm2(x)))).
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(BlockOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  BlockOptions options;
  torch::nn::LayerNorm norm1{nullptr};
  Attention attn{nullptr};
  LayerScale ls1{nullptr};  ///< absent unless init_values
  DropPath drop_path1{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  Mlp mlp{nullptr};
  LayerScale ls2{nullptr};  ///< absent unless init_values
  DropPath drop_path2{nullptr};
};
TORCH_MODULE(Block);

// ---------------------------------------------------------------------------------------------
/// Options for timm's `VisionTransformer`; defaults are timm's (ViT-B/16 at 224, 1000 classes).
/// Example: `VisionTransformer(VisionTransformerOptions().img_size(32).patch_size(8).num_classes(10))`
struct VisionTransformerOptions {
  /// Input image size, an int or {height, width}. Default 224.
  TORCH_ARG(torch::ExpandingArray<2>, img_size) = 224;
  /// Patch size, an int or {height, width}. Default 16.
  TORCH_ARG(torch::ExpandingArray<2>, patch_size) = 16;
  /// Input channels. Default 3.
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Classes of the head; 0 removes the head and forward returns pooled features. Default 1000.
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// Token width. Default 768.
  TORCH_ARG(int64_t, embed_dim) = 768;
  /// Number of blocks. Default 12.
  TORCH_ARG(int64_t, depth) = 12;
  /// Attention heads; must divide embed_dim. Default 12.
  TORCH_ARG(int64_t, num_heads) = 12;
  /// Mlp hidden width = int(embed_dim * mlp_ratio). Default 4.
  TORCH_ARG(double, mlp_ratio) = 4.;
  /// Bias in the qkv Linears. Default true.
  TORCH_ARG(bool, qkv_bias) = true;
  /// Width of the pre-logits Linear + Tanh before the head; unset (or 0) means none. Ignored when
  /// distilled. Default unset.
  TORCH_ARG(std::optional<int64_t>, representation_size) = std::nullopt;
  /// DeiT distillation: a dist_token after the cls token and a second head, head_dist. Default false.
  TORCH_ARG(bool, distilled) = false;
  /// Dropout after the position embedding, after attention projections and in the Mlps. Default 0.
  TORCH_ARG(double, drop_rate) = 0.;
  /// Dropout on attention weights. Default 0.
  TORCH_ARG(double, attn_drop_rate) = 0.;
  /// Stochastic depth; block i gets linspace(0, drop_path_rate, depth)[i]. Default 0.
  TORCH_ARG(double, drop_path_rate) = 0.;

  // Options of current timm (1.0.x):
  /// Pooling for the head: "token" (the class token), "avg" (mean of the patch tokens, with fc_norm),
  /// "max", "avgmax", or "" (none: the head sees every token). Default "token".
  TORCH_ARG(std::string, global_pool) = "token";
  /// Prepend a class token. Default true.
  TORCH_ARG(bool, class_token) = true;
  /// Register tokens after the class token, reg_token (1, reg_tokens, D). Default 0.
  TORCH_ARG(int64_t, reg_tokens) = 0;
  /// pos_embed covers the patches only and is added before the prefix tokens are prepended. Default false.
  TORCH_ARG(bool, no_embed_class) = false;
  /// LayerScale in every block with this initial gamma; unset means none. Default unset.
  TORCH_ARG(std::optional<double>, init_values) = std::nullopt;
  /// LayerNorm `norm_pre` before the blocks (CLIP style); removes the patch projection's bias. Default false.
  TORCH_ARG(bool, pre_norm) = false;
  /// LayerNorm on queries and keys in every block. Default false.
  TORCH_ARG(bool, qk_norm) = false;
  /// The final norm (`norm`, or `fc_norm` after pooling). Default true.
  TORCH_ARG(bool, final_norm) = true;
  /// Norm after pooling instead of before it; unset means global_pool == "avg". Default unset.
  TORCH_ARG(std::optional<bool>, fc_norm) = std::nullopt;
  /// Accept any image size that is a multiple of the patch size, resampling pos_embed per call. Default false.
  TORCH_ARG(bool, dynamic_img_size) = false;
};

/// The two logits of a distilled model: the class head on the cls token and head_dist on the
/// distillation token. A DeiT training loop uses both; inference uses their mean.
struct DistilledLogits {
  torch::Tensor cls;
  torch::Tensor dist;
  torch::Tensor mean() const { return (cls + dist) / 2; }
};

/// timm's VisionTransformer: patch embedding, [cls, (dist,)] tokens + position embedding, blocks,
/// final LayerNorm (eps 1e-6), optional pre-logits, classification head(s).
class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(VisionTransformerOptions options_ = {});
  void reset() override;
  /// timm's default init: trunc_normal(std .02) for pos_embed, tokens and every Linear weight, zero
  /// Linear biases; the patch Conv2d keeps PyTorch's default; LayerNorm ones/zeros.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Images (B, in_chans, H, W) -> the tokens the first block sees: patch tokens with the prefix
  /// tokens and the position embedding, after pos_drop and norm_pre.
  torch::Tensor forward_embed(const torch::Tensor& x);
  /// Images (B, in_chans, H, W) -> normalised tokens (B, num_prefix_tokens + num_patches, embed_dim).
  torch::Tensor forward_features(const torch::Tensor& x);
  /// Tokens -> logits (B, num_classes), or pooled features (B, num_features) when pre_logits is true
  /// or the model has no head. A distilled model returns the mean of its two heads.
  torch::Tensor forward_head(const torch::Tensor& x, bool pre_logits = false);
  /// How many leading tokens forward_head reads: 1 with global_pool 'token', 2 when distilled (the
  /// class and distillation tokens), 0 when it reads all of them (average or max pooling, or none).
  /// forward_head accepts x holding just those tokens (InferenceModel's last block computes no others).
  int64_t head_tokens() const;
  /// Images -> logits; for a distilled model, the mean of both heads in training and eval alike
  /// (as timm's VisionTransformerDistilled by default). Use forward_distilled for both logits.
  torch::Tensor forward(const torch::Tensor& x);
  /// Distilled models only: both heads' logits, separately (what the seed returns in training).
  DistilledLogits forward_distilled(const torch::Tensor& x);

  int64_t num_patches() const { return patch_embed->num_patches(); }
  /// Tokens before the patches: [cls] [dist] [reg x reg_tokens].
  int64_t num_prefix_tokens() const {
    return (options.class_token() ? 1 : 0) + (options.distilled() ? 1 : 0) + options.reg_tokens();
  }
  /// Whether the final norm is applied after pooling (fc_norm) rather than to all tokens (norm).
  bool use_fc_norm() const { return options.fc_norm().value_or(options.global_pool() == "avg"); }
  /// Width of what the head sees: representation_size when pre-logits exist, else embed_dim.
  int64_t num_features() const;
  bool has_pre_logits() const;

  VisionTransformerOptions options;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;   ///< undefined unless class_token
  torch::Tensor dist_token;  ///< undefined unless distilled
  torch::Tensor reg_token;   ///< undefined unless reg_tokens > 0
  torch::Tensor pos_embed;
  torch::nn::Dropout pos_drop{nullptr};
  torch::nn::LayerNorm norm_pre{nullptr};  ///< absent unless pre_norm
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};     ///< final norm on all tokens; absent with fc_norm or !final_norm
  torch::nn::LayerNorm fc_norm{nullptr};  ///< final norm after pooling; absent unless use_fc_norm()
  torch::nn::Sequential pre_logits{nullptr};  ///< fc + tanh, absent unless has_pre_logits()
  torch::nn::Linear head{nullptr};            ///< absent when num_classes == 0
  torch::nn::Linear head_dist{nullptr};       ///< distilled models with num_classes > 0
};
TORCH_MODULE(VisionTransformer);

/// timm's `resample_abs_pos_embed`: the grid part of `pos_embed` (1, prefix + oh*ow, D) resized to
/// `new_size` (gh, gw) with antialiased bicubic interpolation in float32 (align_corners false); the
/// first `num_prefix_tokens` rows are kept. `old_size` defaults to a square grid.
/// Example: `vit::resample_abs_pos_embed(model->pos_embed, {24, 24}, std::nullopt, 1)`
torch::Tensor resample_abs_pos_embed(const torch::Tensor& pos_embed, std::array<int64_t, 2> new_size,
                                     std::optional<std::array<int64_t, 2>> old_size = std::nullopt,
                                     int64_t num_prefix_tokens = 1);

}  // namespace vit
