#pragma once
// The transformer blocks of timm's vision_transformer.py (its block_fn): Block (pre-norm),
// ResPostBlock, ParallelScalingBlock, DiffParallelScalingBlock and ParallelThingsBlock, built from
// the layers of vit/vit_layers.h. Python counterpart: tests/reference/vision_transformer.py; tests:
// tests/test_vision_transformer.cpp.

#include "vit/model.h"
#include "vit/vit_layers.h"

#include <optional>

namespace vit {

#define VIT_BLOCK_OPTIONS(X)                                                                        \
  X(int64_t, dim, 0, Required(1, 1 << 20), "token width")                                           \
  X(int64_t, num_heads, 0, Required(1, 1 << 20), "attention heads; must divide dim")                \
  X(double, mlp_ratio, 4., Range(0., 4096.), "Mlp hidden width = int(dim * mlp_ratio)")              \
  X(bool, qkv_bias, false, Any(), "bias in the qkv Linear")                                         \
  X(double, drop, 0., Probability(), "dropout after the attention projection and in the Mlp")       \
  X(double, attn_drop, 0., Probability(), "dropout on the attention weights")                       \
  X(double, drop_path, 0., Probability(), "DropPath rate on both residual branches")                \
  X(double, norm_eps, 1e-5, Range(0., 1.), "eps of every norm of the block (nn.LayerNorm's 1e-5; VisionTransformer uses 1e-6)") \
  X(bool, qk_norm, false, Any(), "a norm on queries and keys")                                      \
  X(std::optional<double>, init_values, std::nullopt, Any(),                                        \
    "LayerScale with this initial gamma; unset or 0: none (ParallelScalingBlock: any set value)")   \
  X(std::string, norm_layer, "layernorm", OneOf(VIT_NORM_LAYERS), "the norms' kind")         \
  X(std::string, act_layer, "gelu", OneOf(VIT_ACT_LAYERS), "the Mlp's activation")                  \
  X(std::string, mlp_layer, "mlp", OneOf("mlp", "glu", "swiglu", "swiglu_packed"),                  \
    "Mlp, GluMlp (gate last), SwiGLU (split fc1), or GluMlp with the gate first (timm's SwiGLUPacked)") \
  X(std::string, attn_layer, "attn", OneOf("attn", "diff"), "Attention or DiffAttention")           \
  X(bool, proj_bias, true, Any(), "bias in the attention projection and the Mlp's Linears")          \
  X(bool, scale_attn_norm, false, Any(), "a norm on the attention output before its projection")    \
  X(bool, scale_mlp_norm, false, Any(), "a norm on the Mlp's hidden activations")                   \
  X(int64_t, depth, 0, Range(0, 1 << 20), "the block's index in the model (DiffAttention's lambda_init)")

/// Options for timm's blocks: `Block(dim, num_heads, mlp_ratio=4., qkv_bias=False, ...)` and the
/// other block_fn classes, which take the same arguments.
/// Example: `Block(BlockOptions(768, 12).qkv_bias(true))`
struct BlockOptions {
  BlockOptions() = default;
  BlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  VIT_OPTIONS(BlockOptions, VIT_BLOCK_OPTIONS)
  /// The attention's own relative-position bias (AttentionOptions::rel_pos); unset: none.
  std::optional<RelPosOptions> rel_pos;
  /// The attention layer and the Mlp these options describe.
  AttentionOptions attention() const;
  MlpOptions mlp() const;
};

/// What VisionTransformer asks of a block (timm's block_fn).
class BlockLayer : public torch::nn::Module {
 public:
  /// (B, N, dim) -> (B, N, dim); with `probs`, the attention probabilities; `attn_bias`: a bias the
  /// model shares between its blocks (BlockContext::attn_bias), added to the attention logits.
  virtual torch::Tensor forward(torch::Tensor x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) = 0;
  /// Why InferenceModel's engines cannot run this block (only a pre-norm Block with LayerNorms,
  /// Attention and Mlp is one they run), or "": the one statement of what they run, which
  /// Model::engine_unsupported reports.
  virtual std::string engine_unsupported() const = 0;
  /// The block as tensors for the engines, or nullopt when engine_unsupported() says why not.
  virtual std::optional<BlockWeights> weights() const { return std::nullopt; }
};

/// Builds the attention layer / MLP that `options` name.
std::shared_ptr<AttentionLayer> make_attention(const AttentionOptions& options, const std::string& attn_layer);
std::shared_ptr<MlpLayer> make_mlp(const MlpOptions& options, const std::string& mlp_layer);
/// Builds the block `block_fn` names ("block", "res_post", "parallel_scaling",
/// "diff_parallel_scaling", "parallel_things").
std::shared_ptr<BlockLayer> make_block(const BlockOptions& options, const std::string& block_fn);

/// Pre-norm residual block: x + drop_path(ls1(attn(norm1(x)))), then x + drop_path(ls2(mlp(norm2(x)))).
class BlockImpl : public BlockLayer {
 public:
  explicit BlockImpl(BlockOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;
  std::string engine_unsupported() const override;
  std::optional<BlockWeights> weights() const override;

  BlockOptions options;
  Norm norm1{nullptr};
  std::shared_ptr<AttentionLayer> attn;
  LayerScale ls1{nullptr};  ///< absent unless init_values (non-zero)
  DropPath drop_path1{nullptr};
  Norm norm2{nullptr};
  std::shared_ptr<MlpLayer> mlp;
  LayerScale ls2{nullptr};  ///< absent unless init_values (non-zero)
  DropPath drop_path2{nullptr};
};
TORCH_MODULE(Block);

/// Post-norm residual block: x + drop_path(norm1(attn(x))), then x + drop_path(norm2(mlp(x))).
class ResPostBlockImpl : public BlockLayer {
 public:
  explicit ResPostBlockImpl(BlockOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;
  std::string engine_unsupported() const override { return "block_fn 'res_post'"; }

  BlockOptions options;
  std::shared_ptr<AttentionLayer> attn;
  Norm norm1{nullptr};
  DropPath drop_path1{nullptr};
  std::shared_ptr<MlpLayer> mlp;
  Norm norm2{nullptr};
  DropPath drop_path2{nullptr};
};
TORCH_MODULE(ResPostBlock);

/// ViT-22B's parallel block: one in_norm, one in_proj to [mlp hidden | q | k | v], attention and
/// MLP side by side, their output projections summed: x + drop_path(ls(attn_out + mlp_out)).
/// `differential`: DiffParallelScalingBlock (differential attention, one fused out_proj).
class ParallelScalingBlockImpl : public BlockLayer {
 public:
  ParallelScalingBlockImpl(BlockOptions options_, bool differential = false);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;
  std::string engine_unsupported() const override { return differential ? "block_fn 'diff_parallel_scaling'" : "block_fn 'parallel_scaling'"; }

  int64_t head_dim() const;
  int64_t mlp_hidden() const;

  BlockOptions options;
  bool differential;
  Norm in_norm{nullptr};
  torch::nn::Linear in_proj{nullptr};
  torch::Tensor mlp_bias;  ///< without qkv_bias (with it, in_proj's bias covers the MLP part)
  Norm q_norm{nullptr}, k_norm{nullptr};  ///< absent unless qk_norm
  torch::nn::Dropout attn_drop{nullptr};
  torch::Tensor lambda_q1, lambda_k1, lambda_q2, lambda_k2;  ///< differential only
  Norm sub_norm{nullptr};                                    ///< differential only
  torch::nn::Dropout mlp_drop{nullptr};
  torch::nn::Linear attn_out_proj{nullptr}, mlp_out_proj{nullptr};  ///< not differential
  torch::nn::Linear out_proj{nullptr};                              ///< differential: fused
  LayerScale ls{nullptr};  ///< absent unless init_values is set
  DropPath drop_path{nullptr};
  Activation act = Activation::kGelu;
};
TORCH_MODULE(ParallelScalingBlock);

/// "Three things" parallel block: two pre-norm attention branches summed, then two MLP branches
/// summed (attns.i = norm, attn, ls; ffns.i = norm, mlp, ls). Attention probabilities: both
/// branches' maps, stacked along the head dimension.
class ParallelThingsBlockImpl : public BlockLayer {
 public:
  explicit ParallelThingsBlockImpl(BlockOptions options_, int64_t num_parallel = 2);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x, torch::Tensor* probs = nullptr, const torch::Tensor& attn_bias = {}) override;
  std::string engine_unsupported() const override { return "block_fn 'parallel_things'"; }

  BlockOptions options;
  int64_t num_parallel;
  struct Branch {
    Norm norm{nullptr};
    std::shared_ptr<AttentionLayer> attn;  ///< attention branches
    std::shared_ptr<MlpLayer> mlp;         ///< MLP branches
    LayerScale ls{nullptr};
    DropPath drop_path{nullptr};
  };
  std::vector<Branch> attns, ffns;
};
TORCH_MODULE(ParallelThingsBlock);

}  // namespace vit
