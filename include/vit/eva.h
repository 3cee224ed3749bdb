#pragma once
// timm's Eva family (timm/models/eva.py): EVA, EVA02 and EVA-CLIP, Meta's Perception Encoder
// (vit_pe_*), DINOv3 (vit_*_dinov3*) and the rotary-embedding ViTs of timm and Naver (vit_*_rope_*).
// A pre-norm (or post-norm) ViT with rotary position embeddings on the patch tokens' queries and
// keys (RotaryEmbedding: 'cat', 'mixed' or 'dinov3'), an optional absolute position embedding,
// EVA's attention (q and v biases, no k bias; fused or separate projections) or timm's
// AttentionRope, SwiGLU with an optional norm inside (scale_mlp), LayerScale gammas, register
// tokens and attention pooling. Submodule and parameter names equal timm's state_dict keys.
// Python counterpart: tests/reference/eva.py; tests: tests/test_eva.cpp.
//
// Each options struct lists its fields once (vit/options.h): X(type, name, default, check, doc).
// The names are timm's keyword arguments, except that timm's norm_layer class is named by string
// (layernorm, rmsnorm) with its eps in norm_eps.

#include "vit/model.h"
#include "vit/options.h"
#include "vit/vit_layers.h"

#include <torch/torch.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vit {

// ---------------------------------------------------------------------------------------------
#define VIT_ROTARY_EMBEDDING_OPTIONS(X)                                                                   \
  X(std::string, rope_type, "cat", OneOf("cat", "mixed", "dinov3"),                                       \
    "timm's RotaryEmbeddingCat (fixed bands), RotaryEmbeddingMixed (learned per block and head) or RotaryEmbeddingDinoV3") \
  X(int64_t, dim, 768, Range(1, 1 << 20), "token width (head_dim = dim / num_heads)")                     \
  X(int64_t, num_heads, 12, Range(1, 1 << 20), "attention heads")                                         \
  X(int64_t, depth, 12, Range(0, 10000), "blocks ('mixed': one set of frequencies per block)")            \
  X(double, temperature, 10000., Range(1e-6, 1e12), "frequency base (dinov3: of the periods)")            \
  X(double, grid_offset, 0., Range(-65536, 65536), "'cat': added to the grid coordinates")               \
  X(std::string, grid_indexing, "ij", OneOf("ij", "xy"), "meshgrid indexing of the patch grid")           \
  X(std::optional<Size2>, ref_feat_shape, std::nullopt, Range(1, 65536),                                  \
    "'cat': coordinates are scaled to this grid (EVA's scheme for other resolutions); unset: none")

/// Options for the rotary position embedding the Eva model builds (timm's create_rope_embed).
struct RotaryEmbeddingOptions {
  VIT_OPTIONS(RotaryEmbeddingOptions, VIT_ROTARY_EMBEDDING_OPTIONS)
  int64_t head_dim() const { return dim() / num_heads(); }
};

/// Rotary position embedding tables for a patch grid, as [sin | cos] along the last dimension:
/// 'cat' and 'dinov3' (h*w, 2 * head_dim), 'mixed' (depth, heads, h*w, 2 * head_dim). The fixed
/// tables ('cat', 'dinov3') are computed once per grid and device and cached; 'mixed' has learned
/// frequencies (parameter `freqs`, (2, depth, heads, head_dim / 2)), so its table follows them.
class RotaryEmbeddingImpl : public torch::nn::Module {
 public:
  explicit RotaryEmbeddingImpl(RotaryEmbeddingOptions options_);
  void reset();
  /// timm's init of 'mixed': magnitudes temperature^(-4i/head_dim), a random rotation per block and head.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  /// The table of a grid of (height, width) patches, float32, on the device of `like`.
  torch::Tensor get_embed(std::array<int64_t, 2> grid, const torch::Tensor& like);
  /// 'mixed': keeps the frequencies of the first `depth` blocks (prune_intermediate_layers).
  void truncate(int64_t depth);

  RotaryEmbeddingOptions options;
  torch::Tensor freqs;  ///< 'mixed' only

 private:
  torch::Tensor compute(std::array<int64_t, 2> grid, const torch::Device& device) const;
  std::mutex mutex_;
  std::map<std::string, torch::Tensor> cache_;  ///< "h,w,device" -> table
};
TORCH_MODULE(RotaryEmbedding);

/// timm's apply_rot_embed_cat: x * cos + rot(x) * sin for x (..., N, head_dim) and a table
/// (..., N, 2 * head_dim); rot interleaved ([-x1, x0, -x3, x2, ...]) or with `half`, rotate_half
/// ([-x_(d/2).., x_0..]). Computed in float32 and returned in x's dtype.
torch::Tensor apply_rotary_embedding(const torch::Tensor& x, const torch::Tensor& table, bool half);

// ---------------------------------------------------------------------------------------------
#define VIT_EVA_ATTENTION_OPTIONS(X)                                                                      \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width; must be divisible by num_heads")                 \
  X(int64_t, num_heads, 8, Range(1, 1 << 20), "attention heads")                                          \
  X(bool, qkv_bias, true, Any(), "'eva': q_bias and v_bias (k has none); 'rope': biases in the projections") \
  X(bool, qkv_fused, true, Any(), "one qkv Linear, or q_proj, k_proj, v_proj")                           \
  X(std::string, attn_type, "eva", OneOf("eva", "rope"), "EvaAttention or timm's AttentionRope")          \
  X(int64_t, num_prefix_tokens, 1, Range(0, 65536), "leading tokens the rotary embedding leaves alone")   \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                             \
  X(double, proj_drop, 0., Probability(), "dropout after the output projection")                          \
  X(bool, scale_norm, false, Any(), "a norm on the attention output before proj (timm's scale_attn_inner)") \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "that norm's kind")              \
  X(double, norm_eps, 1e-6, Range(0., 1.), "that norm's eps")                                             \
  X(bool, rotate_half, false, Any(), "apply the rotary embedding in the half layout, not interleaved")      \
  X(std::optional<Size2>, rel_pos_window, std::nullopt, Range(1, 4096),                                   \
    "BEiT: a relative_position_bias_table for this patch grid and one class token; unset: none")

/// Options for timm's `EvaAttention` / `AttentionRope` as EvaBlock builds them.
/// Example: `EvaAttention(EvaAttentionOptions(64).num_heads(4).qkv_fused(false))`
struct EvaAttentionOptions {
  EvaAttentionOptions() = default;
  /* implicit */ EvaAttentionOptions(int64_t dim) : dim_(dim) {}
  VIT_OPTIONS(EvaAttentionOptions, VIT_EVA_ATTENTION_OPTIONS)
  int64_t head_dim() const { return dim() / num_heads(); }
};

/// Multi-head self-attention with rotary embeddings on the tokens after the prefix.
class EvaAttentionImpl : public torch::nn::Module {
 public:
  explicit EvaAttentionImpl(EvaAttentionOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  /// (B, N, dim) -> (B, N, dim). `rope`: a table for the N - num_prefix_tokens patch tokens
  /// ((N', 2 hd) or (heads, N', 2 hd)), or undefined for none. With `probs`: (B, heads, N, N).
  /// `attn_bias` (heads, N, N): added to the logits with the attention's own relative-position bias.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& rope = {}, torch::Tensor* probs = nullptr,
                        const torch::Tensor& attn_bias = {});
  /// The attention's own relative-position bias (heads, N, N) plus `shared`, or undefined for none.
  torch::Tensor bias(const torch::Tensor& shared) const;

  EvaAttentionOptions options;
  torch::Tensor q_bias, v_bias;  ///< 'eva', fused, qkv_bias
  torch::Tensor relative_position_bias_table;  ///< BEiT: with options.rel_pos
  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr};  ///< not fused
  torch::nn::Dropout attn_drop{nullptr};
  Norm norm{nullptr};  ///< absent unless scale_norm
  torch::nn::Linear proj{nullptr};
  torch::nn::Dropout proj_drop{nullptr};
};
TORCH_MODULE(EvaAttention);

// ---------------------------------------------------------------------------------------------
#define VIT_EVA_BLOCK_OPTIONS(X)                                                                          \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                                 \
  X(int64_t, num_heads, 0, Required(1, 1 << 20), "attention heads; must divide dim")                      \
  X(bool, qkv_bias, true, Any(), "see EvaAttentionOptions")                                               \
  X(bool, qkv_fused, true, Any(), "see EvaAttentionOptions")                                              \
  X(double, mlp_ratio, 4., Range(0., 4096.), "MLP hidden width = int(dim * mlp_ratio)")                   \
  X(bool, swiglu_mlp, false, Any(), "SwiGLU (silu gate) instead of Mlp (gelu)")                          \
  X(int64_t, swiglu_align_to, 0, Range(0, 65536), "round SwiGLU's hidden width up to a multiple of this") \
  X(bool, scale_mlp, false, Any(), "a norm on the MLP's hidden activations")                             \
  X(bool, scale_attn_inner, false, Any(), "a norm on the attention output before its projection")        \
  X(int64_t, num_prefix_tokens, 1, Range(0, 65536), "leading tokens without rotary embedding")            \
  X(std::string, attn_type, "eva", OneOf("eva", "rope"), "EvaAttention or AttentionRope")                 \
  X(bool, rotate_half, false, Any(), "the rotary embedding's half layout")                                \
  X(double, proj_drop, 0., Probability(), "dropout after the projections (attention and MLP)")           \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                             \
  X(double, drop_path, 0., Probability(), "DropPath rate on both residual branches")                      \
  X(std::optional<double>, init_values, std::nullopt, Any(), "LayerScale gammas gamma_1, gamma_2; unset: none (post-norm: ignored)") \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "the norms' kind")               \
  X(double, norm_eps, 1e-6, Range(0., 1.), "the norms' eps")                                              \
  X(bool, use_post_norm, false, Any(), "EvaBlockPostNorm: x + norm1(attn(x)), x + norm2(mlp(x))")    \
  X(std::optional<Size2>, rel_pos_window, std::nullopt, Range(1, 4096), "see EvaAttentionOptions")

/// Options for timm's `EvaBlock` / `EvaBlockPostNorm`.
/// Example: `EvaBlock(EvaBlockOptions(64, 4).swiglu_mlp(true).scale_mlp(true))`
struct EvaBlockOptions {
  EvaBlockOptions() = default;
  EvaBlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  VIT_OPTIONS(EvaBlockOptions, VIT_EVA_BLOCK_OPTIONS)
  EvaAttentionOptions attention() const;
  /// The MLP's hidden width (SwiGLU: aligned) and kind: "mlp", "swiglu" (fc1_g, fc1_x) or
  /// "swiglu_packed" (one fc1 of twice the width; timm's GluMlp with the gate first).
  int64_t mlp_hidden() const;
  std::string mlp_kind() const;
};

/// Pre-norm: x + drop_path(gamma_1 * attn(norm1(x))), x + drop_path(gamma_2 * mlp(norm2(x))).
/// Post-norm: x + drop_path(norm1(attn(x))), x + drop_path(norm2(mlp(x))).
class EvaBlockImpl : public torch::nn::Module {
 public:
  explicit EvaBlockImpl(EvaBlockOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& rope = {}, torch::Tensor* probs = nullptr,
                        const torch::Tensor& attn_bias = {});
  /// Why the engines cannot run this block, or "" (a pre-norm block with LayerNorms, fused qkv
  /// and a GELU Mlp: BEiT's).
  std::string engine_unsupported() const;
  /// The block as tensors for the engines (q_bias, a zero k bias and v_bias as the qkv bias; the
  /// relative-position bias as attn_bias), or nullopt when engine_unsupported() says why not.
  std::optional<BlockWeights> weights() const;

  EvaBlockOptions options;
  torch::Tensor gamma_1, gamma_2;  ///< pre-norm with init_values
  Norm norm1{nullptr};
  EvaAttention attn{nullptr};
  DropPath drop_path1{nullptr};
  Norm norm2{nullptr};
  std::shared_ptr<MlpLayer> mlp;
  DropPath drop_path2{nullptr};
};
TORCH_MODULE(EvaBlock);

// ---------------------------------------------------------------------------------------------
#define VIT_EVA_OPTIONS(X)                                                                                        \
  X(Size2, img_size, 224, Range(1, 65536), "input image size, an int or {height, width}")                         \
  X(Size2, patch_size, 16, Range(1, 65536), "patch size, an int or {height, width}")                              \
  X(int64_t, in_chans, 3, Range(1, 65536), "input channels")                                                      \
  X(int64_t, num_classes, 1000, Range(0, 1 << 26), "classes of the head; 0: no head")                             \
  X(std::string, global_pool, "avg", OneOf("", "avg", "avgmax", "max", "token", "map"),                           \
    "pooling for the head: patch mean / max / both, the first token, attention pooling over all tokens, or none") \
  X(int64_t, embed_dim, 768, Range(1, 1 << 20), "token width")                                                    \
  X(int64_t, depth, 12, Range(0, 10000), "number of blocks")                                                      \
  X(int64_t, num_heads, 12, Range(1, 1 << 20), "attention heads; must divide embed_dim")                          \
  X(bool, qkv_bias, true, Any(), "'eva': q_bias and v_bias; 'rope': biases in the q/k/v projections")            \
  X(bool, qkv_fused, true, Any(), "one qkv Linear, or q_proj, k_proj, v_proj")                                   \
  X(double, mlp_ratio, 4., Range(0., 4096.), "MLP hidden width = int(embed_dim * mlp_ratio)")                     \
  X(bool, swiglu_mlp, false, Any(), "SwiGLU MLPs (silu gate)")                                                    \
  X(int64_t, swiglu_align_to, 0, Range(0, 65536), "round SwiGLU's hidden width up to a multiple of this")         \
  X(bool, scale_mlp, false, Any(), "a norm on the MLPs' hidden activations")                                     \
  X(bool, scale_attn_inner, false, Any(), "a norm on each attention output before its projection")               \
  X(std::string, attn_type, "eva", OneOf("eva", "rope"), "EvaAttention or timm's AttentionRope")                  \
  X(double, drop_rate, 0., Probability(), "dropout before the head")                                              \
  X(double, pos_drop_rate, 0., Probability(), "dropout after the position embedding")                             \
  X(double, patch_drop_rate, 0., Range(0., 0.999), "training: the fraction of each image's patch tokens dropped after the position embedding (PatchDropout)") \
  X(double, proj_drop_rate, 0., Probability(), "dropout after the attention and MLP projections")                \
  X(double, attn_drop_rate, 0., Probability(), "dropout on the attention weights")                                \
  X(double, drop_path_rate, 0., Probability(), "stochastic depth; block i gets linspace(0, drop_path_rate, depth)[i]") \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "kind of every norm")                   \
  X(double, norm_eps, 1e-6, Range(0., 1.), "eps of every norm (timm's LayerNorm 1e-6; PE and DINOv3 1e-5)")        \
  X(std::optional<double>, init_values, std::nullopt, Any(), "LayerScale gammas with this initial value; unset: none") \
  X(bool, class_token, true, Any(), "prepend a class token")                                                      \
  X(int64_t, num_reg_tokens, 0, Range(0, 65536), "register tokens after the class token, reg_token (1, n, D)")    \
  X(bool, no_embed_class, false, Any(), "pos_embed covers the patches only")                                     \
  X(bool, use_abs_pos_emb, true, Any(), "a learned absolute position embedding")                                  \
  X(bool, use_rot_pos_emb, false, Any(), "rotary position embeddings on the patch tokens")                        \
  X(std::string, rope_type, "cat", OneOf("cat", "mixed", "dinov3"), "the rotary embedding (RotaryEmbeddingOptions)") \
  X(double, rope_grid_offset, 0., Range(-65536, 65536), "'cat': offset of the grid coordinates")                 \
  X(std::string, rope_grid_indexing, "ij", OneOf("ij", "xy"), "meshgrid indexing of the rotary grid")             \
  X(double, rope_temperature, 10000., Range(1e-6, 1e12), "the rotary frequency base")                             \
  X(bool, rope_rotate_half, false, Any(), "apply the rotary embedding in the half layout, not interleaved")       \
  X(bool, use_post_norm, false, Any(), "post-norm blocks (EvaBlockPostNorm)")                                     \
  X(bool, use_pre_transformer_norm, false, Any(), "a norm norm_pre before the blocks; removes the patch bias")     \
  X(std::optional<bool>, use_post_transformer_norm, std::nullopt, Any(), "the final norm on every token; unset: unless fc_norm") \
  X(std::optional<bool>, use_fc_norm, std::nullopt, Any(), "a norm after pooling; unset: with global_pool avg")   \
  X(std::optional<int64_t>, attn_pool_num_heads, std::nullopt, Range(0, 1 << 20), "attention pooling's heads; unset or 0: num_heads") \
  X(std::optional<double>, attn_pool_mlp_ratio, std::nullopt, Range(0., 4096.), "attention pooling's MLP ratio; unset or 0: mlp_ratio") \
  X(bool, dynamic_img_size, false, Any(), "accept any multiple of the patch size (pos_embed resampled, RoPE per grid)") \
  X(bool, dynamic_img_pad, false, Any(), "zero-pad inputs to a multiple of the patch size")                      \
  X(std::optional<Size2>, ref_feat_shape, std::nullopt, Range(1, 65536), "'cat' RoPE: the grid it was trained at") \
  X(bool, use_rel_pos_bias, false, Any(), "BEiT: a relative-position bias table in every block's attention (fixed input size)") \
  X(bool, use_shared_rel_pos_bias, false, Any(), "BEiT: one relative-position bias (module rel_pos_bias) added in every block")

/// Options for timm's `Eva`; defaults are timm's (an EVA ViT-B/16 at 224 with average pooling).
/// Example: `Eva(EvaOptions().img_size(32).patch_size(8).embed_dim(64).depth(2).num_heads(4).use_rot_pos_emb(true))`
struct EvaOptions {
  VIT_OPTIONS(EvaOptions, VIT_EVA_OPTIONS)
  bool fc_norm_active() const { return use_fc_norm().value_or(global_pool() == "avg"); }
  bool post_norm_active() const { return use_post_transformer_norm().value_or(!fc_norm_active()); }
  int64_t num_prefix_tokens() const { return (class_token() ? 1 : 0) + num_reg_tokens(); }
  EvaBlockOptions block(double drop_path) const;
  RotaryEmbeddingOptions rope() const;
  /// BEiT's relative-position bias over the patch grid at img_size (class token included); unset
  /// without use_rel_pos_bias or use_shared_rel_pos_bias.
  std::optional<RelPosOptions> rel_pos() const;
  /// The attention pool of global_pool 'map' (attn_pool_num_heads / attn_pool_mlp_ratio, else the blocks').
  AttentionPoolLatentOptions attn_pool() const;
};

/// timm's Eva: patch embedding, [cls, reg] tokens (+ absolute position embedding), norm_pre, blocks
/// with rotary embeddings of the patch grid, final norm, pooling (avg, max, avgmax, token, map),
/// fc_norm, head.
class EvaImpl : public Model {
 public:
  explicit EvaImpl(EvaOptions options_ = {});
  void reset();
  /// timm's init: trunc_normal(.02) for tokens, pos_embed and Linear weights, zero biases, the
  /// attention and MLP output projections of block i divided by sqrt(2 (i + 1)), the head scaled by
  /// 0.001, LayerScale gammas init_values, 'mixed' rotary frequencies randomly rotated.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Images -> the tokens the first block sees, and with rotary embeddings the table of their patch
  /// grid (cached per grid and device; recomputed from the learned frequencies for 'mixed', so that
  /// their gradient flows).
  Embedded forward_embed(const torch::Tensor& images) override;
  int64_t num_blocks() const override { return static_cast<int64_t>(blocks->size()); }
  torch::Tensor forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                              torch::Tensor* probs = nullptr) override;
  torch::Tensor forward_norm(const torch::Tensor& tokens) override { return norm ? norm(tokens) : tokens; }
  torch::Tensor forward_head(const torch::Tensor& tokens, bool pre_logits = false) override;
  torch::Tensor pool_attention(const torch::Tensor& tokens) override;
  std::vector<int64_t> prune_intermediate_layers(const std::vector<int64_t>& indices, bool prune_norm = false,
                                                 bool prune_head = true) override;
  std::array<int64_t, 2> feat_size(int64_t height, int64_t width) const override {
    return patch_embed->feat_size(height, width);
  }
  int64_t num_prefix_tokens() const override { return options.num_prefix_tokens(); }
  int64_t num_patches() const override { return patch_embed->num_patches(); }
  int64_t head_tokens() const override { return options.global_pool() == "token" ? 1 : 0; }
  int64_t num_classes() const override { return options.num_classes(); }
  int64_t num_features() const override { return options.embed_dim(); }
  std::string global_pool() const override { return options.global_pool(); }
  std::array<int64_t, 3> input_size() const override;
  int64_t count_macs(int64_t height, int64_t width) const override;
  std::vector<BlockWeights> block_weights() const override;
  std::string engine_unsupported() const override;
  std::set<std::string> no_weight_decay() const override;
  std::vector<std::string> classifier() const override { return {"head"}; }
  int64_t layer_id(const std::string& parameter) const override;
  std::string model_args() const override { return options_to_json(options); }
  std::string family() const override { return "eva"; }
  std::shared_ptr<Model> fresh() const override { return std::make_shared<EvaImpl>(options); }
  /// timm's checkpoint_filter_fn: EVA / EVA02 originals (mlp.ffn_ln, attn.inner_attn_ln, w1/w2/w3,
  /// w12), open_clip towers (visual.trunk. / visual.), Meta's PE (conv1, transformer.resblocks, ...)
  /// and DINOv3 (storage_tokens, ls1.gamma, qkv.bias split into q_bias / v_bias) keys; rotary
  /// tables dropped; pos_embed and patch_embed resampled to this model's grid and patch.
  void checkpoint_filter_fn(StateDict& state) const override;

  EvaBlockImpl& block(int64_t index) const;

  EvaOptions options;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;  ///< undefined unless class_token
  torch::Tensor reg_token;  ///< undefined unless num_reg_tokens > 0
  torch::Tensor pos_embed;  ///< undefined unless use_abs_pos_emb
  torch::nn::Dropout pos_drop{nullptr};
  RotaryEmbedding rope{nullptr};  ///< absent unless use_rot_pos_emb
  RelPosBias rel_pos_bias{nullptr};  ///< absent unless use_shared_rel_pos_bias
  Norm norm_pre{nullptr};         ///< absent unless use_pre_transformer_norm
  torch::nn::ModuleList blocks{nullptr};  ///< EvaBlocks
  Norm norm{nullptr};                      ///< absent unless post_norm_active()
  AttentionPoolLatent attn_pool{nullptr};  ///< global_pool 'map'
  Norm fc_norm{nullptr};                   ///< absent unless fc_norm_active()
  torch::nn::Dropout head_drop{nullptr};
  torch::nn::Linear head{nullptr};  ///< absent when num_classes == 0
};
TORCH_MODULE(Eva);

/// The number of parameters Eva(options) has, computed from the options alone.
int64_t count_parameters(const EvaOptions& options);

}  // namespace vit
