#pragma once
// The layers of the timm Vision Transformer family (timm.layers): norms (LayerNorm, RmsNorm),
// activations, PatchEmbed, Attention and DiffAttention, Mlp, GluMlp and SwiGLU, DropPath,
// LayerScale, and AttentionPoolLatent (the 'map' head of SigLIP). Submodule and parameter names
// equal timm's state_dict keys. Python counterpart: tests/reference/vision_transformer.py; tests:
// tests/test_vision_transformer.cpp. The blocks built from them are in vit/vit_blocks.h.
//
// Each options struct lists its fields once (vit/options.h): X(type, name, default, check, doc).
// The checks are sanity bounds (sizes up to 65536, widths up to 2^20); the zoo's parameter budget
// (vit/zoo.h) bounds what a whole config may ask for.

#include "vit/model.h"
#include "vit/options.h"
#include "vit/pos_embed_rel.h"

#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <utility>

namespace vit {

// ---------------------------------------------------------------------------------------------
#define VIT_NORM_OPTIONS(X)                                                                        \
  X(int64_t, dim, 0, Required(1, 1 << 20), "width normalised over (the last dimension)")           \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "LayerNorm (weight, bias) or RmsNorm (weight)") \
  X(double, eps, 1e-6, Range(0., 1.), "added to the variance (timm's LayerNorm and RmsNorm default 1e-6)")

/// Options for timm's `LayerNorm(dim, eps)` / `RmsNorm(dim, eps)`.
/// Example: `Norm(NormOptions(768).norm_layer("rmsnorm").eps(1e-5))`
struct NormOptions {
  NormOptions() = default;
  /* implicit */ NormOptions(int64_t dim) : dim_(dim) {}
  VIT_OPTIONS(NormOptions, VIT_NORM_OPTIONS)
};

/// LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias; RmsNorm: x / sqrt(mean(x^2) + eps) * weight.
class NormImpl : public torch::nn::Cloneable<NormImpl> {
 public:
  explicit NormImpl(NormOptions options_);
  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  bool rms() const { return options.norm_layer() == "rmsnorm"; }

  NormOptions options;
  torch::Tensor weight;
  torch::Tensor bias;  ///< undefined for RmsNorm
};
TORCH_MODULE(Norm);

// ---------------------------------------------------------------------------------------------
#define VIT_PATCH_EMBED_OPTIONS(X)                                                                                  \
  X(Size2, img_size, 224, Range(1, 65536), "input image size, an int or {height, width}")                           \
  X(Size2, patch_size, 16, Range(1, 65536), "patch size, an int or {height, width}: the projection's kernel and stride") \
  X(int64_t, in_chans, 3, Range(1, 65536), "input channels")                                                        \
  X(int64_t, embed_dim, 768, Range(1, 1 << 20), "token width")                                                      \
  X(std::string, norm_layer, "", OneOf("", "layernorm", "rmsnorm"), "a norm over the tokens (timm's embed_norm_layer); '': none") \
  X(double, norm_eps, 1e-5, Range(0., 1.), "its eps")                                                               \
  X(bool, flatten, true, Any(), "flatten (B, D, gh, gw) to tokens (B, gh*gw, D)")                                   \
  X(bool, bias, true, Any(), "bias in the projection (current timm; false with pre_norm)")                          \
  X(bool, strict_img_size, true, Any(), "require inputs of exactly img_size; false: any multiple of patch_size")     \
  X(bool, dynamic_img_pad, false, Any(), "zero-pad the input's bottom and right to a multiple of patch_size")

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
  /// Patches along (height, width) of an input of height x width (timm's dynamic_feat_size).
  std::array<int64_t, 2> feat_size(int64_t height, int64_t width) const;
  int64_t num_patches() const;

  PatchEmbedOptions options;
  torch::nn::Conv2d proj{nullptr};
  Norm norm{nullptr};  ///< absent unless options.norm_layer()
};
TORCH_MODULE(PatchEmbed);

// ---------------------------------------------------------------------------------------------
#define VIT_ATTENTION_OPTIONS(X)                                                                   \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width; must be divisible by num_heads")          \
  X(int64_t, num_heads, 8, Range(1, 1 << 20), "number of heads")                                   \
  X(bool, qkv_bias, false, Any(), "bias in the fused qkv Linear")                                  \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                      \
  X(double, proj_drop, 0., Probability(), "dropout after the output projection")                   \
  X(bool, qk_norm, false, Any(), "a norm over head_dim on queries and keys (current timm)")         \
  X(double, norm_eps, 1e-5, Range(0., 1.), "eps of the norms (nn.LayerNorm's 1e-5; VisionTransformer uses 1e-6)") \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "the norms' kind")        \
  X(bool, scale_norm, false, Any(), "a norm over dim on the attention output before proj (BEiT3)") \
  X(bool, proj_bias, true, Any(), "bias in the output projection")                                 \
  X(int64_t, depth, 0, Range(0, 1 << 20), "the block's index (DiffAttention: lambda_init = 0.8 - 0.6 exp(-0.3 depth))")

/// Options for timm's `Attention(dim, num_heads=8, qkv_bias=False, ...)` and `DiffAttention`.
/// Example: `Attention(AttentionOptions(768).num_heads(12).qkv_bias(true))`
struct AttentionOptions {
  AttentionOptions() = default;
  /* implicit */ AttentionOptions(int64_t dim) : dim_(dim) {}
  VIT_OPTIONS(AttentionOptions, VIT_ATTENTION_OPTIONS)
  /// A relative-position bias of the attention's own, submodule `rel_pos` (timm's RelPosAttention);
  /// unset: none. Not a keyword argument: the model derives it from its grid (rel_pos_type).
  std::optional<RelPosOptions> rel_pos;
};

/// What the blocks ask of an attention layer (timm's attn_layer: Attention or DiffAttention).
class AttentionLayer : public torch::nn::Module {
 public:
  /// (B, N, dim) -> (B, N, dim); when `probs` is given, the softmax attention probabilities are
  /// stored there: (B, heads, N, N) (DiffAttention: (B, 2 * heads, N, N), both maps of each head).
  /// `attn_bias` (heads, N, N), when defined, is added to the scaled logits (BlockContext::attn_bias).
  virtual torch::Tensor forward(const torch::Tensor& x, torch::Tensor* probs = nullptr,
                                const torch::Tensor& attn_bias = {}) = 0;
};

/// Multi-head self-attention with a fused qkv projection, scale head_dim^-0.5.
class AttentionImpl : public AttentionLayer {
 public:
  explicit AttentionImpl(AttentionOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;

  int64_t head_dim() const { return options.dim() / options.num_heads(); }
  double scale() const;
  /// The attention's own relative-position bias (heads, N, N) plus `shared`, or undefined for none.
  torch::Tensor bias(const torch::Tensor& shared);

  AttentionOptions options;
  torch::nn::Linear qkv{nullptr};
  Norm q_norm{nullptr};  ///< absent unless qk_norm
  Norm k_norm{nullptr};  ///< absent unless qk_norm
  torch::nn::Dropout attn_drop{nullptr};
  Norm norm{nullptr};    ///< absent unless scale_norm
  torch::nn::Linear proj{nullptr};
  torch::nn::Dropout proj_drop{nullptr};
  std::shared_ptr<RelPosLayer> rel_pos;  ///< absent unless options.rel_pos
};
TORCH_MODULE(Attention);

/// Differential attention (timm's DiffAttention, dual_lambda false): each head splits its queries
/// and keys in two halves of head_dim = dim / heads / 2, computes softmax(q1.k1) - lambda *
/// softmax(q2.k2) against values of 2 * head_dim, then RmsNorm (sub_norm, eps 1e-5) and * (1 - lambda_init).
class DiffAttentionImpl : public AttentionLayer {
 public:
  explicit DiffAttentionImpl(AttentionOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;

  int64_t head_dim() const { return options.dim() / options.num_heads() / 2; }
  double lambda_init() const;
  /// exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init, a scalar tensor.
  torch::Tensor lambda_full() const;

  AttentionOptions options;
  torch::nn::Linear qkv{nullptr};
  Norm q_norm{nullptr};  ///< absent unless qk_norm
  Norm k_norm{nullptr};  ///< absent unless qk_norm
  torch::nn::Dropout attn_drop{nullptr};
  Norm norm{nullptr};    ///< absent unless scale_norm
  torch::nn::Linear proj{nullptr};
  torch::nn::Dropout proj_drop{nullptr};
  torch::Tensor lambda_q1, lambda_k1, lambda_q2, lambda_k2;
  Norm sub_norm{nullptr};
};
TORCH_MODULE(DiffAttention);

/// The softmax attention of queries q (B, H, Nq, d) over keys k and values v (B, H, N, d), scaled
/// and plus `bias` ((H, Nq, N) or broadcastable; undefined: none): the per-head outputs (B, H, Nq, d);
/// the probabilities are stored in `probs` when given, and dropped out by `drop` when given.
torch::Tensor scaled_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                               torch::nn::Dropout* drop, torch::Tensor* probs, const torch::Tensor& bias = {});

// ---------------------------------------------------------------------------------------------
#define VIT_MLP_OPTIONS(X)                                                                       \
  X(int64_t, in_features, 0, Required(1, 1 << 20), "input width")                                \
  X(std::optional<int64_t>, hidden_features, std::nullopt, Range(1, 1 << 24), "hidden width; unset: in_features") \
  X(std::optional<int64_t>, out_features, std::nullopt, Range(1, 1 << 20), "output width; unset: in_features") \
  X(double, drop, 0., Probability(), "dropout after the activation and after fc2")               \
  X(std::string, act_layer, "gelu", OneOf(VIT_ACT_LAYERS), "the activation (GluMlp / SwiGLU: of the gate)") \
  X(bool, bias, true, Any(), "bias in fc1 and fc2")                                              \
  X(bool, scale_norm, false, Any(), "a norm over the hidden width before fc2 (BEiT3)")           \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "that norm's kind")     \
  X(double, norm_eps, 1e-5, Range(0., 1.), "that norm's eps")                                    \
  X(bool, gate_last, true, Any(), "GluMlp: the gate is the second half of fc1's output (false: the first)")

/// Options for timm's `Mlp(in_features, hidden_features=None, out_features=None, act_layer=GELU,
/// drop=0.)`, `GluMlp` and `SwiGLU`.
/// Example: `Mlp(MlpOptions(768).hidden_features(3072))`
struct MlpOptions {
  MlpOptions() = default;
  /* implicit */ MlpOptions(int64_t in_features) : in_features_(in_features) {}
  VIT_OPTIONS(MlpOptions, VIT_MLP_OPTIONS)
  int64_t hidden() const { return hidden_features().value_or(in_features()); }
  int64_t out() const { return out_features().value_or(in_features()); }
};

/// What the blocks ask of an MLP (timm's mlp_layer: Mlp, GluMlp, SwiGLU).
class MlpLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

/// fc1 -> act -> dropout [-> norm] -> fc2 -> dropout.
class MlpImpl : public MlpLayer {
 public:
  explicit MlpImpl(MlpOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x) override;

  int64_t hidden_features() const { return options.hidden(); }
  int64_t out_features() const { return options.out(); }

  MlpOptions options;
  Activation act = Activation::kGelu;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Dropout drop1{nullptr};
  Norm norm{nullptr};  ///< absent unless scale_norm
  torch::nn::Linear fc2{nullptr};
  torch::nn::Dropout drop2{nullptr};
};
TORCH_MODULE(Mlp);

/// GLU: fc1 to the hidden width, split in halves x1, x2; x1 * act(x2) (gate_last) or act(x1) * x2,
/// then [norm,] fc2 from hidden / 2. timm's SwiGLUPacked is GluMlp(act silu, gate_last false).
class GluMlpImpl : public MlpLayer {
 public:
  explicit GluMlpImpl(MlpOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x) override;

  MlpOptions options;
  Activation act = Activation::kGelu;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Dropout drop1{nullptr};
  Norm norm{nullptr};  ///< absent unless scale_norm
  torch::nn::Linear fc2{nullptr};
  torch::nn::Dropout drop2{nullptr};
};
TORCH_MODULE(GluMlp);

/// SwiGLU with fc1 split in two Linears: act(fc1_g(x)) * fc1_x(x), [norm,] fc2.
class SwiGLUImpl : public MlpLayer {
 public:
  explicit SwiGLUImpl(MlpOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x) override;

  MlpOptions options;
  Activation act = Activation::kSilu;
  torch::nn::Linear fc1_g{nullptr};
  torch::nn::Linear fc1_x{nullptr};
  torch::nn::Dropout drop1{nullptr};
  Norm norm{nullptr};  ///< absent unless scale_norm
  torch::nn::Linear fc2{nullptr};
  torch::nn::Dropout drop2{nullptr};
};
TORCH_MODULE(SwiGLU);

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
#define VIT_ATTENTION_POOL_OPTIONS(X)                                                              \
  X(int64_t, in_features, 0, Required(1, 1 << 20), "token width")                                  \
  X(int64_t, num_heads, 8, Range(1, 1 << 20), "attention heads; must divide in_features")          \
  X(double, mlp_ratio, 4., Range(0., 4096.), "hidden width of the Mlp = int(dim * mlp_ratio)")     \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "the norm before the Mlp") \
  X(double, norm_eps, 1e-6, Range(0., 1.), "its eps")                                              \
  X(std::string, act_layer, "gelu", OneOf(VIT_ACT_LAYERS), "the Mlp's activation")

/// Options for timm's `AttentionPoolLatent(dim, num_heads, mlp_ratio, norm_layer, act_layer)` as
/// VisionTransformer's global_pool 'map' builds it (one latent query, biased q/kv, pooled 'token').
struct AttentionPoolLatentOptions {
  AttentionPoolLatentOptions() = default;
  /* implicit */ AttentionPoolLatentOptions(int64_t in_features) : in_features_(in_features) {}
  VIT_OPTIONS(AttentionPoolLatentOptions, VIT_ATTENTION_POOL_OPTIONS)
};

/// Multi-head attention pooling: a learned latent query attends over the tokens (q, kv), then
/// proj, and x + mlp(norm(x)). (B, N, dim) -> (B, dim).
class AttentionPoolLatentImpl : public torch::nn::Cloneable<AttentionPoolLatentImpl> {
 public:
  explicit AttentionPoolLatentImpl(AttentionPoolLatentOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// With `probs`: the latent's attention (B, heads, 1, N).
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* probs = nullptr);
  /// Multiply-accumulates of pooling `tokens` tokens (as Model::count_macs counts).
  int64_t count_macs(int64_t tokens) const;

  AttentionPoolLatentOptions options;
  torch::Tensor latent;  ///< (1, 1, dim)
  torch::nn::Linear q{nullptr};
  torch::nn::Linear kv{nullptr};
  torch::nn::Linear proj{nullptr};
  Norm norm{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(AttentionPoolLatent);

/// The number of parameters AttentionPoolLatent(options) has, computed from the options alone.
int64_t count_parameters(const AttentionPoolLatentOptions& options);

// ---------------------------------------------------------------------------------------------
/// timm's global_pool_nlc: tokens (B, N, D) -> (B, D) by `pool_type`: 'token' (the first token), or
/// 'avg', 'max', 'avgmax' (0.5 (max + mean)) over the tokens after the first `num_prefix_tokens`;
/// '' returns the tokens as they are.
torch::Tensor global_pool_nlc(const torch::Tensor& x, const std::string& pool_type, int64_t num_prefix_tokens);

/// timm's PatchDropout (patch_dropout_forward) on tokens (B, N, D): in training with `prob` > 0, each
/// image keeps max(1, int(L (1 - prob))) of its L patch tokens, drawn at random
/// (torch.randn(B, L).argsort(-1)[:, :kept], in that order), behind its `num_prefix_tokens` prefix
/// tokens, which always stay. Returns the tokens and the kept indices (B, kept) into the patches;
/// otherwise the tokens as they are and an undefined tensor.
std::pair<torch::Tensor, torch::Tensor> patch_dropout(const torch::Tensor& x, double prob, int64_t num_prefix_tokens,
                                                      bool training);

}  // namespace vit
