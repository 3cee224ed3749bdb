#pragma once
// The timm Vision Transformer family (timm 0.5.x's design plus the options of current timm 1.0.x):
// PatchEmbed, Attention, Mlp, DropPath, LayerScale, Block and VisionTransformer, with DeiT
// distillation, and resample_abs_pos_embed. Submodule and parameter names equal timm's state_dict
// keys (docs/reference.md). Python counterpart: tests/reference/vision_transformer.py; tests:
// tests/test_vision_transformer.cpp.
//
// Each options struct lists its fields once (vit/options.h): X(type, name, default, check, doc).
// The checks are sanity bounds (sizes up to 65536, widths up to 2^20); the zoo's parameter budget
// (vit/zoo.h) bounds what a whole config may ask for.

#include "vit/model.h"
#include "vit/options.h"

#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vit {

// ---------------------------------------------------------------------------------------------
#define VIT_PATCH_EMBED_OPTIONS(X)                                                                                  \
  X(Size2, img_size, 224, Range(1, 65536), "input image size, an int or {height, width}")                           \
  X(Size2, patch_size, 16, Range(1, 65536), "patch size, an int or {height, width}: the projection's kernel and stride") \
  X(int64_t, in_chans, 3, Range(1, 65536), "input channels")                                                        \
  X(int64_t, embed_dim, 768, Range(1, 1 << 20), "token width")                                                      \
  X(bool, norm_layer, false, Any(), "Python's norm_layer=nn.LayerNorm: a LayerNorm(embed_dim, eps 1e-5) over the tokens") \
  X(bool, flatten, true, Any(), "flatten (B, D, gh, gw) to tokens (B, gh*gw, D)")                                   \
  X(bool, bias, true, Any(), "bias in the projection (current timm; false with pre_norm)")                          \
  X(bool, strict_img_size, true, Any(), "require inputs of exactly img_size; false: any multiple of patch_size")

/// Options for timm's `PatchEmbed(img_size, patch_size, in_chans, embed_dim, ...)`.
/// Example: `PatchEmbed(PatchEmbedOptions().img_size(32).patch_size(8).embed_dim(64))`
struct PatchEmbedOptions {
  VIT_OPTIONS(PatchEmbedOptions, VIT_PATCH_EMBED_OPTIONS)
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
#define VIT_ATTENTION_OPTIONS(X)                                                                   \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width; must be divisible by num_heads")          \
  X(int64_t, num_heads, 8, Range(1, 1 << 20), "number of heads")                                   \
  X(bool, qkv_bias, false, Any(), "bias in the fused qkv Linear")                                  \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                      \
  X(double, proj_drop, 0., Probability(), "dropout after the output projection")                   \
  X(bool, qk_norm, false, Any(), "LayerNorm(head_dim) on queries and keys (current timm)")         \
  X(double, norm_eps, 1e-5, Range(0., 1.), "eps of the qk norms (nn.LayerNorm's 1e-5; VisionTransformer uses 1e-6)")

/// Options for timm's `Attention(dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0.)`.
/// Example: `Attention(AttentionOptions(768).num_heads(12).qkv_bias(true))`
struct AttentionOptions {
  AttentionOptions() = default;
  /* implicit */ AttentionOptions(int64_t dim) : dim_(dim) {}
  VIT_OPTIONS(AttentionOptions, VIT_ATTENTION_OPTIONS)
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
#define VIT_MLP_OPTIONS(X)                                                                       \
  X(int64_t, in_features, 0, Required(1, 1 << 20), "input width")                                \
  X(std::optional<int64_t>, hidden_features, std::nullopt, Range(1, 1 << 24), "hidden width; unset: in_features") \
  X(std::optional<int64_t>, out_features, std::nullopt, Range(1, 1 << 20), "output width; unset: in_features") \
  X(double, drop, 0., Probability(), "dropout after the activation and after fc2")

/// Options for timm's `Mlp(in_features, hidden_features=None, out_features=None, drop=0.)` (GELU).
/// Example: `Mlp(MlpOptions(768).hidden_features(3072))`
struct MlpOptions {
  MlpOptions() = default;
  /* implicit */ MlpOptions(int64_t in_features) : in_features_(in_features) {}
  VIT_OPTIONS(MlpOptions, VIT_MLP_OPTIONS)
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
#define VIT_DROP_PATH_OPTIONS(X) \
  X(double, drop_prob, 0., Probability(), "probability that a sample's residual branch is dropped")

/// Options for timm's `DropPath(drop_prob)`.
/// Example: `DropPath(DropPathOptions(0.1))`
struct DropPathOptions {
  /* implicit */ DropPathOptions(double drop_prob = 0.) : drop_prob_(drop_prob) {}
  VIT_OPTIONS(DropPathOptions, VIT_DROP_PATH_OPTIONS)
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
#define VIT_BLOCK_OPTIONS(X)                                                                        \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                           \
  X(int64_t, num_heads, 0, Required(1, 1 << 20), "attention heads; must divide dim")                \
  X(double, mlp_ratio, 4., Range(0., 4096.), "Mlp hidden width = int(dim * mlp_ratio)")              \
  X(bool, qkv_bias, false, Any(), "bias in the qkv Linear")                                         \
  X(double, drop, 0., Probability(), "dropout after the attention projection and in the Mlp")       \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                       \
  X(double, drop_path, 0., Probability(), "DropPath rate on both residual branches")                \
  X(double, norm_eps, 1e-5, Range(0., 1.), "eps of norm1/norm2 and the qk norms (nn.LayerNorm's 1e-5; VisionTransformer uses 1e-6)") \
  X(bool, qk_norm, false, Any(), "LayerNorm on queries and keys")                                   \
  X(std::optional<double>, init_values, std::nullopt, Any(), "LayerScale ls1/ls2 with this initial gamma; unset or 0: none")

/// Options for timm's `Block(dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0.,
/// drop_path=0.)`.
/// Example: `Block(BlockOptions(768, 12).qkv_bias(true))`
struct BlockOptions {
  BlockOptions() = default;
  BlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  VIT_OPTIONS(BlockOptions, VIT_BLOCK_OPTIONS)
};

/// Pre-norm residual block: x + drop_path(ls1(attn(norm1(x)))), then x + drop_path(ls2(mlp(norm2(x)))).
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(BlockOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);
  /// Its tensors, for InferenceModel's engines.
  BlockWeights weights() const;

  BlockOptions options;
  torch::nn::LayerNorm norm1{nullptr};
  Attention attn{nullptr};
  LayerScale ls1{nullptr};  ///< absent unless init_values (non-zero)
  DropPath drop_path1{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  Mlp mlp{nullptr};
  LayerScale ls2{nullptr};  ///< absent unless init_values (non-zero)
  DropPath drop_path2{nullptr};
};
TORCH_MODULE(Block);

// ---------------------------------------------------------------------------------------------
#define VIT_VISION_TRANSFORMER_OPTIONS(X)                                                                          \
  X(Size2, img_size, 224, Range(1, 65536), "input image size, an int or {height, width}")                          \
  X(Size2, patch_size, 16, Range(1, 65536), "patch size, an int or {height, width}")                               \
  X(int64_t, in_chans, 3, Range(1, 65536), "input channels")                                                       \
  X(int64_t, num_classes, 1000, Range(0, 1 << 26), "classes of the head; 0: no head, forward returns pooled features") \
  X(int64_t, embed_dim, 768, Range(1, 1 << 20), "token width")                                                     \
  X(int64_t, depth, 12, Range(0, 10000), "number of blocks")                                                       \
  X(int64_t, num_heads, 12, Range(1, 1 << 20), "attention heads; must divide embed_dim")                           \
  X(double, mlp_ratio, 4., Range(0., 4096.), "Mlp hidden width = int(embed_dim * mlp_ratio)")                      \
  X(bool, qkv_bias, true, Any(), "bias in the qkv Linears")                                                        \
  X(std::optional<int64_t>, representation_size, std::nullopt, Range(0, 1 << 20),                                  \
    "width of the pre-logits Linear + Tanh before the head; unset or 0: none; ignored when distilled")             \
  X(bool, distilled, false, Any(), "DeiT distillation: a dist_token after the class token and a second head, head_dist") \
  X(double, drop_rate, 0., Probability(), "dropout after the position embedding, the attention projections and in the Mlps") \
  X(double, attn_drop_rate, 0., Probability(), "dropout on the attention weights")                                 \
  X(double, drop_path_rate, 0., Probability(), "stochastic depth; block i gets linspace(0, drop_path_rate, depth)[i]") \
  X(std::string, global_pool, "token", OneOf("token", "avg", "max", "avgmax", ""),                                 \
    "pooling for the head: the class token, the mean (with fc_norm), max or both of the patch tokens, or none")    \
  X(bool, class_token, true, Any(), "prepend a class token")                                                       \
  X(int64_t, reg_tokens, 0, Range(0, 65536), "register tokens after the class token, reg_token (1, reg_tokens, D)") \
  X(bool, no_embed_class, false, Any(), "pos_embed covers the patches only, added before the prefix tokens are prepended") \
  X(std::optional<double>, init_values, std::nullopt, Any(), "LayerScale in every block with this initial gamma; unset or 0: none") \
  X(bool, pre_norm, false, Any(), "LayerNorm norm_pre before the blocks (CLIP); removes the patch projection's bias") \
  X(bool, qk_norm, false, Any(), "LayerNorm on queries and keys in every block")                                   \
  X(bool, final_norm, true, Any(), "the final norm (norm, or fc_norm after pooling)")                               \
  X(std::optional<bool>, fc_norm, std::nullopt, Any(), "norm after pooling instead of before it; unset: global_pool == 'avg'") \
  X(bool, dynamic_img_size, false, Any(), "accept any multiple of the patch size, resampling pos_embed per call")

/// Options for timm's `VisionTransformer`; defaults are timm's (ViT-B/16 at 224, 1000 classes).
/// The fields above through qkv_bias, representation_size, distilled and the three rates are
/// timm 0.5.x's; the rest are current timm's.
/// Example: `VisionTransformer(VisionTransformerOptions().img_size(32).patch_size(8).num_classes(10))`
struct VisionTransformerOptions {
  VIT_OPTIONS(VisionTransformerOptions, VIT_VISION_TRANSFORMER_OPTIONS)
};

/// timm's VisionTransformer: patch embedding, [cls, (dist,)] tokens + position embedding, blocks,
/// final LayerNorm (eps 1e-6), optional pre-logits, classification head(s).
class VisionTransformerImpl : public Model {
 public:
  explicit VisionTransformerImpl(VisionTransformerOptions options_ = {});
  /// Builds every submodule and parameter from `options` (and initialises them unless a
  /// SkipInitGuard is alive).
  void reset();
  /// timm's default init: trunc_normal(std .02) for pos_embed, tokens and every Linear weight, zero
  /// Linear biases; the patch Conv2d keeps PyTorch's default; LayerNorm ones/zeros.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Images -> the tokens the first block sees: patch tokens with the prefix tokens and the
  /// position embedding, after pos_drop and norm_pre.
  torch::Tensor forward_embed(const torch::Tensor& images) override;
  torch::Tensor forward_blocks(const torch::Tensor& tokens) override;
  /// `norm` over every token; identity with fc_norm (applied after pooling) or without a final norm.
  torch::Tensor forward_norm(const torch::Tensor& tokens) override;
  /// Tokens -> logits (B, num_classes), or pooled features (B, num_features) when pre_logits is true
  /// or the model has no head. A distilled model returns the mean of its two heads.
  torch::Tensor forward_head(const torch::Tensor& tokens, bool pre_logits = false) override;
  /// Distilled models: both heads' logits (what timm 0.5.x returns in training).
  DistilledLogits forward_distilled(const torch::Tensor& images) override;
  bool distilled() const override { return options.distilled(); }

  /// Tokens before the patches: [cls] [dist] [reg x reg_tokens].
  int64_t num_prefix_tokens() const override {
    return (options.class_token() ? 1 : 0) + (options.distilled() ? 1 : 0) + options.reg_tokens();
  }
  int64_t num_patches() const override { return patch_embed->num_patches(); }
  int64_t head_tokens() const override;
  int64_t num_classes() const override { return options.num_classes(); }
  /// Width of what the head sees: representation_size when pre-logits exist, else embed_dim.
  int64_t num_features() const override;
  std::string global_pool() const override { return options.global_pool(); }
  std::array<int64_t, 3> input_size() const override;
  int64_t count_macs(int64_t height, int64_t width) const override;
  std::vector<BlockWeights> block_weights() const override;
  std::set<std::string> no_weight_decay() const override;
  std::string model_args() const override { return options_to_json(options); }
  std::string family() const override { return "vision_transformer"; }
  std::shared_ptr<Model> fresh() const override { return std::make_shared<VisionTransformerImpl>(options); }
  /// pos_embed of another grid resampled (resample_abs_pos_embed); a Linear patch weight (vit-pytorch's) as the conv's.
  void adapt_checkpoint(StateDict& state) const override;

  /// Whether the final norm is applied after pooling (fc_norm) rather than to all tokens (norm).
  bool use_fc_norm() const { return options.fc_norm().value_or(options.global_pool() == "avg"); }
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

/// The number of parameters VisionTransformer(options) has, computed from the options alone (the
/// zoo checks it against its budget before building anything).
int64_t count_parameters(const VisionTransformerOptions& options);

/// timm's `resample_abs_pos_embed`: the grid part of `pos_embed` (1, prefix + oh*ow, D) resized to
/// `new_size` (gh, gw) with antialiased bicubic interpolation in float32 (align_corners false); the
/// first `num_prefix_tokens` rows are kept. `old_size` defaults to a square grid.
/// Example: `vit::resample_abs_pos_embed(model->pos_embed, {24, 24}, std::nullopt, 1)`
torch::Tensor resample_abs_pos_embed(const torch::Tensor& pos_embed, std::array<int64_t, 2> new_size,
                                     std::optional<std::array<int64_t, 2>> old_size = std::nullopt,
                                     int64_t num_prefix_tokens = 1);

}  // namespace vit
