#pragma once
// The contract every vitcpp model class keeps (timm's: forward_features, forward_head(pre_logits),
// num_prefix_tokens, num_features, ...), so that loading, inference, training and the `vit` tool
// never ask which family they hold. vit::VisionTransformer (timm) and vit::ViT (vit-pytorch)
// implement it; docs/architecture.md says how a new model class joins.
// Tests: tests/test_vision_transformer.cpp, tests/test_vit_pytorch.cpp (each family's answers).

#include "vit/options.h"

#include <torch/torch.h>

#include <array>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// Activations: timm's act_layer names.
#define VIT_ACT_LAYERS "gelu", "gelu_tanh", "quick_gelu", "silu", "sigmoid"
/// timm's get_norm_layer names that vitcpp builds (NormOptions::norm_layer).
#define VIT_NORM_LAYERS "layernorm", "rmsnorm"

/// An activation by timm's name: gelu (erf), gelu_tanh, quick_gelu (x * sigmoid(1.702 x)), silu, sigmoid.
enum class Activation { kGelu, kGeluTanh, kQuickGelu, kSilu, kSigmoid };
Activation activation_from_name(const std::string& name);
torch::Tensor activate(Activation act, const torch::Tensor& x);

/// Tensors by name, in file order: a checkpoint's state dict (vit/state_dict.h reads and loads them).
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

/// A pre-norm transformer block reduced to its tensors, the form InferenceModel's engines run:
/// x + ls1 * proj(attention(norm1(x))), then x + ls2 * fc2(gelu(fc1(norm2(x)))). The tensors are
/// the module's own (no copies); undefined ones are absent layers.
struct BlockWeights {
  struct Norm {
    torch::Tensor weight, bias;
    double eps = 1e-5;
    bool defined() const { return weight.defined(); }
  };
  struct Linear {
    torch::Tensor weight;  ///< (out, in)
    torch::Tensor bias;    ///< (out) or undefined
    bool defined() const { return weight.defined(); }
  };
  int64_t heads = 1, head_dim = 1;
  double scale = 1.;        ///< applied to q.k (head_dim^-0.5 in every family)
  Norm norm1, norm2;
  Norm q_norm, k_norm;      ///< over head_dim; undefined unless qk_norm
  Linear qkv;               ///< (3 * heads * head_dim, dim)
  Linear proj;              ///< (dim, heads * head_dim); undefined: the attention output is added as is
  Linear fc1, fc2;
  Activation act = Activation::kGelu;  ///< fc1's activation
  torch::Tensor ls1, ls2;   ///< LayerScale gammas (dim) or undefined
  /// Added to the scaled attention logits before the softmax, (heads, N, N) for the N tokens of the
  /// model's fixed input (relative-position biases); undefined: none.
  torch::Tensor attn_bias;

  int64_t dim() const { return qkv.weight.size(1); }
  int64_t inner() const { return heads * head_dim; }
};

/// What a model's blocks need to know about one input besides its tokens: the patch grid and the
/// tables that depend on it, as timm hands them to every block (eva.py's `rope=`). forward_embed
/// builds it with the tokens and every block call takes it, so that the tokens of two inputs with the
/// same token count but different grids (16x32 and 32x16 patches) each get their own tables; nothing
/// about an input is kept in the model between calls.
struct BlockContext {
  std::array<int64_t, 2> grid{0, 0};  ///< patches along (height, width)
  /// Rotary table [sin | cos] of the grid's patches (vit/eva.h, RotaryEmbedding::get_embed): one for
  /// every block, or with learned per-block frequencies a leading block dimension; undefined without
  /// rotary embeddings.
  torch::Tensor rope;
  /// Patch dropout in training (timm's PatchDropout): the patches each image kept, (B, kept) indices
  /// into the grid's patches; undefined when every patch is there.
  torch::Tensor keep;
  /// A bias every block adds to its attention logits, (heads, N, N) (a relative-position bias the
  /// model shares between its blocks: BEiT's use_shared_rel_pos_bias, timm's shared_rel_pos);
  /// undefined: none. Blocks with biases of their own add both.
  torch::Tensor attn_bias;
  /// The patch tokens the blocks see: the grid's, or those patch dropout kept.
  int64_t patches() const { return keep.defined() ? keep.size(1) : grid[0] * grid[1]; }
};

/// What forward_embed gives the blocks: the tokens and their context.
struct Embedded {
  torch::Tensor tokens;  ///< (B, prefix tokens + patches, D)
  BlockContext context;
};

/// The two logits of a distilled model: the class head on the class token and head_dist on the
/// distillation token. A DeiT training loop uses both; inference uses their mean.
struct DistilledLogits {
  torch::Tensor cls;
  torch::Tensor dist;
  torch::Tensor mean() const { return (cls + dist) / 2; }
};

/// What forward_intermediates returns (timm's (final_features, intermediates) pair).
struct Intermediates {
  torch::Tensor features;                     ///< the normalised tokens (undefined with intermediates_only)
  std::vector<torch::Tensor> intermediates;   ///< per chosen block: (B, D, gh, gw) NCHW or (B, patches, D) NLC
  std::vector<torch::Tensor> prefix_tokens;   ///< per chosen block: (B, num_prefix_tokens, D), with return_prefix_tokens (none without prefix tokens)
};

#define VIT_INTERMEDIATES_OPTIONS(X)                                                                   \
  X(std::string, output_fmt, "NCHW", OneOf("NCHW", "NLC"), "intermediates as feature maps or token lists") \
  X(bool, norm, false, Any(), "apply the final norm to every intermediate")                            \
  X(bool, intermediates_only, false, Any(), "return the intermediates only (no features)")                \
  X(bool, stop_early, false, Any(), "stop after the last chosen block: the features are its output, normalised") \
  X(bool, return_prefix_tokens, false, Any(), "also return the prefix tokens of every intermediate")

/// Options of forward_intermediates besides the block indices (timm's keyword arguments).
struct IntermediatesOptions {
  VIT_OPTIONS(IntermediatesOptions, VIT_INTERMEDIATES_OPTIONS)
};

/// timm's feature_take_indices: the blocks of `num_blocks` that `indices` names: empty = all; one
/// value n >= 1 given as `last_n` = the last n; otherwise each index, negatives counting from the end.
std::vector<int64_t> take_indices(int64_t num_blocks, const std::vector<int64_t>& indices, std::optional<int64_t> last_n = std::nullopt);

/// A Vision Transformer of any family: images -> embedding -> blocks -> final norm -> head. A model
/// class derives from Model (not from torch::nn::Cloneable, whose base LibTorch 2.x makes
/// non-virtual): Model is the torch::nn::Module, and its clone() rebuilds the class from fresh().
class Model : public torch::nn::Module {
 public:
  // ---- forward, split as timm splits it ----
  /// Images (B, C, H, W) -> the tokens the first block sees (patches, prefix tokens, position
  /// embedding) and what the blocks need to know about the images besides them (their patch grid,
  /// the tables of a family whose blocks take some: Eva's rotary table).
  virtual Embedded forward_embed(const torch::Tensor& images) = 0;
  /// The blocks, run as the module's own layers.
  torch::Tensor forward_blocks(const Embedded& embedded);
  virtual int64_t num_blocks() const = 0;
  /// Block `index` on tokens (B, N, D) of the images whose forward_embed gave `context`; with
  /// `probs`, its attention probabilities are stored there (B, heads, N, N): the softmax that timm's
  /// AttentionExtract captures.
  virtual torch::Tensor forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& context,
                                      torch::Tensor* probs = nullptr) = 0;
  /// The final norm over every token (identity where the model has none or normalises after pooling).
  virtual torch::Tensor forward_norm(const torch::Tensor& tokens) = 0;
  /// Normalised tokens -> logits (B, num_classes), or with `pre_logits` (or no head) the pooled
  /// features (B, num_features). Given only the first head_tokens() tokens when that is not 0.
  virtual torch::Tensor forward_head(const torch::Tensor& tokens, bool pre_logits = false) = 0;
  /// Images -> normalised tokens (B, num_prefix_tokens + patches, dim).
  torch::Tensor forward_features(const torch::Tensor& images) {
    return forward_norm(forward_blocks(forward_embed(images)));
  }
  /// Images -> logits (a distilled model: the mean of its two heads).
  torch::Tensor forward(const torch::Tensor& images) { return forward_head(forward_features(images)); }

  // ---- features, as timm's forward_intermediates / AttentionExtract ----
  /// The outputs of the blocks `indices` (take_indices), in block order, as timm's forward_intermediates.
  Intermediates forward_intermediates(const torch::Tensor& images, const std::vector<int64_t>& indices = {},
                                      IntermediatesOptions options = {});
  /// The attention probabilities (B, heads, N, N) of the blocks `indices` (take_indices), in block
  /// order: N counts every token; differential attention gives both maps of each head (2 * heads),
  /// a ParallelThingsBlock its branches' maps one after the other along the head dimension.
  std::vector<torch::Tensor> attention_maps(const torch::Tensor& images, const std::vector<int64_t>& indices = {});
  /// The attention of the head's pooling query over the tokens, (B, heads, N) (attention pooling
  /// 'map'), or undefined when the head does not attend.
  virtual torch::Tensor pool_attention(const torch::Tensor& /*tokens*/) { return {}; }
  /// Drops the blocks after the last of `indices` (and the final norm, the head), as timm's
  /// prune_intermediate_layers; model_args() then describes the smaller model. Returns the indices.
  virtual std::vector<int64_t> prune_intermediate_layers(const std::vector<int64_t>& indices, bool prune_norm = false,
                                                         bool prune_head = true);
  /// Patches along (height, width) of an input of height x width.
  virtual std::array<int64_t, 2> feat_size(int64_t height, int64_t width) const = 0;

  // ---- distillation (DeiT) ----
  virtual bool distilled() const { return false; }
  /// Distilled models: both heads' logits, separately. Others throw.
  virtual DistilledLogits forward_distilled(const torch::Tensor& images);

  // ---- sizes ----
  /// Tokens before the patches (class, distillation, register tokens).
  virtual int64_t num_prefix_tokens() const = 0;
  /// Patch tokens at the configured input size.
  virtual int64_t num_patches() const = 0;
  /// How many leading tokens forward_head reads: 1 for a class token, 2 with a distillation token,
  /// 0 when it reads all of them (average or max pooling).
  virtual int64_t head_tokens() const = 0;
  virtual int64_t num_classes() const = 0;
  /// Width of forward_head(x, true).
  virtual int64_t num_features() const = 0;
  /// timm's name of the pooling forward_head does: "token", "avg", "max", "avgmax" or "".
  virtual std::string global_pool() const = 0;
  /// The input the model was configured for: {channels, height, width}.
  virtual std::array<int64_t, 3> input_size() const = 0;
  /// Multiply-accumulates of one forward for one image of height x width: Linear and conv layers and
  /// the two attention products (norms, softmax and activations are not counted).
  virtual int64_t count_macs(int64_t height, int64_t width) const = 0;

  // ---- for the engines, the trainer and the loader ----
  /// The blocks as tensors (the module's own), in order; empty when engine_unsupported() says why.
  virtual std::vector<BlockWeights> block_weights() const = 0;
  /// Why InferenceModel's engines cannot run the blocks (they then run as the module's layers), or "".
  virtual std::string engine_unsupported() const { return ""; }
  /// Parameters AdamW must not decay beyond the 1-D ones (tokens, position embeddings): timm's no_weight_decay().
  virtual std::set<std::string> no_weight_decay() const = 0;
  /// The classifier's modules (timm's pretrained_cfg 'classifier'): what a checkpoint for another
  /// number of classes leaves out, and what `--freeze` trains.
  virtual std::vector<std::string> classifier() const = 0;
  /// timm's group_matcher(coarse=False) resolved for one parameter, the layer that layer-wise
  /// learning-rate decay scales by: 0 for the stem (patch embedding, tokens, position embedding),
  /// 1 + i for block i (the final norm with the last block), num_blocks() + 1 for the rest (head).
  virtual int64_t layer_id(const std::string& parameter) const = 0;
  /// The Python keyword arguments that build this model (a JSON object of every option).
  virtual std::string model_args() const = 0;
  /// The family's name in the zoo's registry ("vision_transformer", "vit_pytorch").
  virtual std::string family() const = 0;
  /// timm's checkpoint_filter_fn(state_dict, model): rewrites a checkpoint into this model's form
  /// before a strict load: the other layouts of the family's keys (OpenAI CLIP, DINOv2, EVA02, ...),
  /// then each tensor to this model's shapes (resampled position embeddings, patch weights of
  /// another size or of the other family's form). The one place a family converts checkpoints.
  virtual void checkpoint_filter_fn(StateDict& state) const = 0;
  /// A new model of the same class and options; under a SkipInitGuard (vit/init.h), uninitialised.
  virtual std::shared_ptr<Model> fresh() const = 0;
  /// A deep copy: fresh(), uninitialised, given copies of every parameter and buffer (moved to
  /// `device` when given) and this model's training mode.
  std::shared_ptr<torch::nn::Module> clone(const c10::optional<torch::Device>& device = c10::nullopt) const override;
  /// The same, as a Model.
  std::shared_ptr<Model> clone_model() const;

 protected:
  /// Checks that `tokens` are (B, N, D) with N the prefix tokens and patches of `context`'s input.
  void check_block_input(const torch::Tensor& tokens, const BlockContext& context) const;
};

using ModelPtr = std::shared_ptr<Model>;

/// Where a model looks in each image, (B, gh, gw) over its patch grid. "cls": the class token's
/// attention in the last block, heads averaged (a model without a class token: its attention-pooling
/// query's, else "rollout"); "rollout": attention rollout (Abnar & Zuidema 2020): per block the
/// heads' mean, 0.5 A + 0.5 I with rows renormalised, multiplied through the blocks; the class
/// token's row, or the mean of every row without one.
torch::Tensor attention_heatmap(Model& model, const torch::Tensor& images, const std::string& method = "cls");

/// Number of parameters of any module.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace vit
