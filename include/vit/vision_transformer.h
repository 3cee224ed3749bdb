#pragma once
// The timm Vision Transformer family (timm 0.5.x's design plus every option of current timm 1.0.x's
// vision_transformer.py and deit.py): VisionTransformer, with DeiT distillation, and
// resample_abs_pos_embed / resample_patch_embed. Its layers are in vit/vit_layers.h, its blocks in
// vit/vit_blocks.h. Submodule and parameter names equal timm's state_dict
// keys (docs/reference.md). Python counterpart: tests/reference/vision_transformer.py; tests:
// tests/test_vision_transformer.cpp.
//
// Each options struct lists its fields once (vit/options.h): X(type, name, default, check, doc).
// The checks are sanity bounds (sizes up to 65536, widths up to 2^20); the zoo's parameter budget
// (vit/zoo.h) bounds what a whole config may ask for.

#include "vit/model.h"
#include "vit/options.h"
#include "vit/vit_blocks.h"
#include "vit/vit_layers.h"

#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vit {

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
    "width of the pre-logits Linear + Tanh before the head (timm 0.5); unset or 0: none; ignored when distilled")  \
  X(bool, distilled, false, Any(), "DeiT distillation: a dist_token after the class token and a second head, head_dist") \
  X(double, drop_rate, 0., Probability(), "dropout after the position embedding, the attention projections and in the Mlps") \
  X(double, attn_drop_rate, 0., Probability(), "dropout on the attention weights")                                 \
  X(double, drop_path_rate, 0., Probability(), "stochastic depth; block i gets linspace(0, drop_path_rate, depth)[i]") \
  X(std::string, global_pool, "token", OneOf("token", "avg", "max", "avgmax", "map", ""),                          \
    "pooling for the head: the class token, the mean / max / both of the patch tokens, attention pooling (SigLIP), or none") \
  X(bool, class_token, true, Any(), "prepend a class token")                                                       \
  X(int64_t, reg_tokens, 0, Range(0, 65536), "register tokens after the class token, reg_token (1, reg_tokens, D)") \
  X(bool, no_embed_class, false, Any(), "pos_embed covers the patches only, added before the prefix tokens are prepended") \
  X(std::optional<double>, init_values, std::nullopt, Any(), "LayerScale in every block with this initial gamma; unset or 0: none") \
  X(bool, pre_norm, false, Any(), "a norm norm_pre before the blocks (CLIP); removes the patch projection's bias")  \
  X(bool, qk_norm, false, Any(), "a norm on queries and keys in every block")                                      \
  X(bool, final_norm, true, Any(), "the final norm (norm, or fc_norm after pooling)")                               \
  X(std::optional<bool>, fc_norm, std::nullopt, Any(), "norm after pooling instead of before it; unset: global_pool avg, max or avgmax") \
  X(bool, dynamic_img_size, false, Any(), "accept any multiple of the patch size, resampling pos_embed per call")  \
  X(bool, dynamic_img_pad, false, Any(), "zero-pad inputs to a multiple of the patch size")                        \
  X(std::string, pos_embed, "learn", OneOf("learn", "none", ""), "a learned absolute position embedding, or none") \
  X(bool, pool_include_prefix, false, Any(), "pooling (avg/max/map) includes the prefix tokens")                  \
  X(bool, proj_bias, true, Any(), "bias in the attention projections and the Mlps' Linears")                       \
  X(bool, scale_attn_norm, false, Any(), "a norm on each attention output before its projection (BEiT3)")          \
  X(bool, scale_mlp_norm, false, Any(), "a norm on each Mlp's hidden activations (BEiT3)")                         \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "kind of every norm (timm's norm_layer)")  \
  X(double, norm_eps, 1e-6, Range(0., 1.), "eps of every norm (timm's LayerNorm default 1e-6; CLIP 1e-5)")         \
  X(std::string, embed_norm_layer, "", OneOf("", "layernorm", "rmsnorm"), "a norm on the patch tokens (AIMv2); '': none") \
  X(double, embed_norm_eps, 1e-6, Range(0., 1.), "its eps")                                                        \
  X(std::string, act_layer, "gelu", OneOf(VIT_ACT_LAYERS), "the Mlps' activation")                                  \
  X(std::string, mlp_layer, "mlp", OneOf("mlp", "glu", "swiglu", "swiglu_packed"), "the blocks' MLP (vit/vit_blocks.h)") \
  X(std::string, block_fn, "block", OneOf("block", "res_post", "parallel_scaling", "diff_parallel_scaling", "parallel_things"), \
    "the block (vit/vit_blocks.h)")                                                                                \
  X(std::string, attn_layer, "attn", OneOf("attn", "diff"), "the blocks' attention: Attention or DiffAttention")    \
  X(std::optional<double>, pos_drop_rate, std::nullopt, Probability(), "dropout after the position embedding; unset: drop_rate") \
  X(std::optional<double>, proj_drop_rate, std::nullopt, Probability(),                                           \
    "dropout after the attention projections and in the Mlps; unset: drop_rate")                                  \
  X(double, patch_drop_rate, 0., Range(0., 0.999), "training: the fraction of each image's patch tokens dropped after the position embedding (PatchDropout)") \
  X(std::string, rel_pos_type, "", OneOf("", "bias", "mlp", "mlp_swin"),                                           \
    "a relative-position bias in the attention (timm's VisionTransformerRelPos: RelPosBias, RelPosMlp 'cr' or 'swin'); '': none") \
  X(std::optional<int64_t>, rel_pos_dim, std::nullopt, Range(0, 1 << 20), "RelPosMlp's hidden width; unset or 0: 128")  \
  X(bool, shared_rel_pos, false, Any(), "one relative-position bias (module shared_rel_pos) for every block instead of one per block")

/// Options for timm's `VisionTransformer`; defaults are timm's (ViT-B/16 at 224, 1000 classes).
/// The fields up to drop_path_rate are timm 0.5.x's (representation_size and distilled stayed
/// there; drop_rate keeps its timm 0.5.x meaning, which current timm splits into pos_drop_rate and
/// proj_drop_rate); the rest are current timm's (1.0.x) keyword arguments, with timm's norm_layer /
/// act_layer / mlp_layer / block_fn / attn_layer classes named by string.
/// Example: `VisionTransformer(VisionTransformerOptions().img_size(32).patch_size(8).num_classes(10))`
struct VisionTransformerOptions {
  VIT_OPTIONS(VisionTransformerOptions, VIT_VISION_TRANSFORMER_OPTIONS)
  /// Whether the final norm is applied after pooling (fc_norm) rather than to all tokens (norm).
  bool use_fc_norm() const { return fc_norm().value_or(global_pool() == "avg" || global_pool() == "max" || global_pool() == "avgmax"); }
  bool has_pos_embed() const { return pos_embed() == "learn"; }
  /// What every block is built with.
  BlockOptions block(int64_t index, double drop_path) const;
  /// The attention pool of global_pool 'map'.
  AttentionPoolLatentOptions attn_pool() const;
  /// The relative-position bias of rel_pos_type over the patch grid at img_size; unset without one.
  std::optional<RelPosOptions> rel_pos() const;
  /// Tokens before the patches: [cls] [dist] [reg x reg_tokens].
  int64_t num_prefix_tokens() const { return (class_token() ? 1 : 0) + (distilled() ? 1 : 0) + reg_tokens(); }
};

/// timm's VisionTransformer: patch embedding, [cls, (dist,) reg] tokens + position embedding,
/// blocks, final norm, pooling (token, avg, max, map), optional pre-logits, classification head(s).
class VisionTransformerImpl : public Model {
 public:
  explicit VisionTransformerImpl(VisionTransformerOptions options_ = {});
  /// Builds every submodule and parameter from `options` (and initialises them unless a
  /// SkipInitGuard is alive).
  void reset();
  /// timm's default init: trunc_normal(std .02) for pos_embed, tokens and every Linear weight, zero
  /// Linear biases; the patch Conv2d keeps PyTorch's default; norms ones/zeros.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Images -> the tokens the first block sees: patch tokens with the prefix tokens and the
  /// position embedding, after pos_drop, patch dropout (training) and norm_pre.
  Embedded forward_embed(const torch::Tensor& images) override;
  int64_t num_blocks() const override { return static_cast<int64_t>(blocks->size()); }
  torch::Tensor forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                              torch::Tensor* probs = nullptr) override;
  /// `norm` over every token; identity with fc_norm (applied after pooling) or without a final norm.
  torch::Tensor forward_norm(const torch::Tensor& tokens) override;
  /// Tokens -> logits (B, num_classes), or pooled features (B, num_features) when pre_logits is true
  /// or the model has no head. A distilled model returns the mean of its two heads.
  torch::Tensor forward_head(const torch::Tensor& tokens, bool pre_logits = false) override;
  /// Distilled models: both heads' logits (what timm 0.5.x returns in training).
  DistilledLogits forward_distilled(const torch::Tensor& images) override;
  bool distilled() const override { return options.distilled(); }
  torch::Tensor pool_attention(const torch::Tensor& tokens) override;

  /// Tokens before the patches: [cls] [dist] [reg x reg_tokens].
  int64_t num_prefix_tokens() const override { return options.num_prefix_tokens(); }
  int64_t num_patches() const override { return patch_embed->num_patches(); }
  std::array<int64_t, 2> feat_size(int64_t height, int64_t width) const override {
    return patch_embed->feat_size(height, width);
  }
  int64_t head_tokens() const override;
  int64_t num_classes() const override { return options.num_classes(); }
  /// Width of what the head sees: representation_size when pre-logits exist, else embed_dim.
  int64_t num_features() const override;
  std::string global_pool() const override { return options.global_pool(); }
  std::array<int64_t, 3> input_size() const override;
  int64_t count_macs(int64_t height, int64_t width) const override;
  std::vector<BlockWeights> block_weights() const override;
  std::string engine_unsupported() const override;
  std::set<std::string> no_weight_decay() const override;
  std::vector<std::string> classifier() const override;
  int64_t layer_id(const std::string& parameter) const override;
  std::string model_args() const override { return options_to_json(options); }
  std::string family() const override { return "vision_transformer"; }
  std::shared_ptr<Model> fresh() const override { return std::make_shared<VisionTransformerImpl>(options); }
  /// pos_embed of another grid resampled (resample_abs_pos_embed), patch_embed of another patch
  /// size resampled (resample_patch_embed), a Linear patch weight (vit-pytorch's) as the conv's,
  /// and OpenAI CLIP / open_clip / DINOv2 (Meta) / AIMv2 / BEiT3 keys renamed to timm's.
  void checkpoint_filter_fn(StateDict& state) const override;
  std::vector<int64_t> prune_intermediate_layers(const std::vector<int64_t>& indices, bool prune_norm = false,
                                                 bool prune_head = true) override;

  bool use_fc_norm() const { return options.use_fc_norm(); }
  bool has_pre_logits() const;
  BlockLayer& block(int64_t index) const;

  VisionTransformerOptions options;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;   ///< undefined unless class_token
  torch::Tensor dist_token;  ///< undefined unless distilled
  torch::Tensor reg_token;   ///< undefined unless reg_tokens > 0
  torch::Tensor pos_embed;   ///< undefined with pos_embed 'none'
  torch::nn::Dropout pos_drop{nullptr};
  Norm norm_pre{nullptr};  ///< absent unless pre_norm
  std::shared_ptr<RelPosLayer> shared_rel_pos;  ///< absent unless rel_pos_type and shared_rel_pos
  torch::nn::ModuleList blocks{nullptr};  ///< BlockLayers
  Norm norm{nullptr};     ///< final norm on all tokens; absent with fc_norm or !final_norm
  AttentionPoolLatent attn_pool{nullptr};  ///< global_pool 'map'
  Norm fc_norm{nullptr};  ///< final norm after pooling; absent unless use_fc_norm()
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

/// timm's `resample_patch_embed` (FlexiViT): a patch projection weight (out, in, ph, pw) resized to
/// `new_size` so that, on resized patches, it gives the same result: the kernel maps through the
/// pseudo-inverse of the antialiased bicubic resize (computed in float32).
/// Example: `vit::resample_patch_embed(weight, {14, 14})`
torch::Tensor resample_patch_embed(const torch::Tensor& weight, std::array<int64_t, 2> new_size);

}  // namespace vit
