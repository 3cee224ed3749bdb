#pragma once
// Relative-position attention biases (timm/layers/pos_embed_rel.py): a learned table indexed by the
// offset between two patches of a window (Swin v1 / BEiT: RelPosBias, and BEiT's per-block table),
// or a small MLP of the log-spaced offsets (Swin v2 style: RelPosMlp). Each gives an additive bias
// (heads, N, N) on the attention logits of a fixed window of patches plus at most one prefix token.
// BEiT (Eva family, use_rel_pos_bias) and timm's relpos ViTs (VisionTransformer, rel_pos_type)
// use them. Python counterpart: tests/reference/pos_embed_rel.py; tests: tests/test_vision_transformer.cpp,
// tests/test_eva.cpp.

#include "vit/options.h"

#include <torch/torch.h>

#include <array>
#include <memory>
#include <string>

namespace vit {

#define VIT_REL_POS_OPTIONS(X)                                                                              \
  X(std::string, rel_pos_type, "bias", OneOf("bias", "mlp", "mlp_swin"),                                   \
    "a learned table (RelPosBias), or an MLP of log-spaced offsets (RelPosMlp 'cr'; 'swin': sigmoid x 16)") \
  X(Size2, window_size, 14, Range(1, 4096), "the patch grid (height, width) the bias is for")             \
  X(int64_t, num_heads, 8, Range(1, 1 << 20), "attention heads (one bias each)")                          \
  X(int64_t, prefix_tokens, 0, Range(0, 1), "a class token before the patches ('bias': three table entries; 'mlp': zero bias)") \
  X(int64_t, hidden_dim, 128, Range(1, 1 << 20), "'mlp': the MLP's hidden width")

/// Options for timm's `RelPosBias(window_size, num_heads, prefix_tokens)` and
/// `RelPosMlp(window_size, num_heads, hidden_dim, prefix_tokens, mode)`.
/// Example: `make_rel_pos(RelPosOptions().rel_pos_type("mlp").window_size(14).num_heads(12))`
struct RelPosOptions {
  VIT_OPTIONS(RelPosOptions, VIT_REL_POS_OPTIONS)
  /// Tokens the bias covers: the window's patches and the prefix token.
  int64_t tokens() const { return window_size()->at(0) * window_size()->at(1) + prefix_tokens(); }
};

/// timm's gen_relative_position_index: for every pair of the window's h*w patches (row-major) the
/// row of a ((2h-1)(2w-1) [+ 3]) table for their offset; with `class_token`, (h*w+1)^2 entries where
/// class->patch, patch->class and class->class use the table's last three rows.
torch::Tensor relative_position_index(std::array<int64_t, 2> window, bool class_token);
/// The rows of a table (entries, heads) for `relative_position_index(window, class_token)`, as a bias
/// (heads, N, N) (BEiT's Attention._get_rel_pos_bias and RelPosBias.get_bias).
torch::Tensor relative_position_bias(const torch::Tensor& table, std::array<int64_t, 2> window, bool class_token);
/// Entries of the table for a window: (2h-1)(2w-1), plus 3 with a class token.
int64_t relative_position_table_size(std::array<int64_t, 2> window, bool class_token);

/// A relative-position bias module: its bias (heads, N, N) for the window.
class RelPosLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor get_bias() = 0;
  RelPosOptions options;

 protected:
  explicit RelPosLayer(RelPosOptions options_) : options(std::move(options_)) {}
};

/// The bias is a learned table, `relative_position_bias_table` (entries, heads) (zeros at init;
/// timm's init is trunc_normal(std 0.02), which vit::init applies).
class RelPosBiasImpl : public RelPosLayer {
 public:
  explicit RelPosBiasImpl(RelPosOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor get_bias() override;

  torch::Tensor relative_position_bias_table;
};
TORCH_MODULE(RelPosBias);

/// The bias is mlp(log-coordinates of the offset): mlp.fc1 (2 -> hidden_dim), ReLU, a dropout of
/// 0.125 in training, mlp.fc2 (-> heads; no bias in 'swin'). 'cr': log coordinates sign(d) ln(1+|d|);
/// 'swin': d scaled to [-8, 8] by the window, sign(d) log2(1+|d|) / 3, and the bias 16 sigmoid(.).
/// A prefix token gets zero bias.
class RelPosMlpImpl : public RelPosLayer {
 public:
  explicit RelPosMlpImpl(RelPosOptions options_);
  void reset();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor get_bias() override;

  std::shared_ptr<torch::nn::Module> mlp;  ///< holds fc1, fc2 (timm's Mlp names)
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};

 private:
  torch::Tensor coords_, index_;  // the window's log coordinates and offset index (not parameters)
};
TORCH_MODULE(RelPosMlp);

/// The module `options.rel_pos_type()` names.
std::shared_ptr<RelPosLayer> make_rel_pos(const RelPosOptions& options);
/// Parameters of that module.
int64_t count_parameters(const RelPosOptions& options);

}  // namespace vit
