#pragma once
// Private to src/: the model families the zoo (src/zoo.cpp) builds, and what each knows about its
// checkpoints. A family is one model class implementing vit::Model; docs/architecture.md says how
// to add one.

#include "vit/model.h"

#include "io.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace vit::detail {

// ---- what the model classes share ----

/// timm's group_matcher(coarse=False) for the ViT families, as Model::layer_id answers it: 0 for a
/// parameter under one of the `stem` prefixes, 1 + i under blocks.i, num_blocks for the final norm
/// (which joins the last block), num_blocks + 1 for the rest (the head).
inline int64_t block_layer_id(const std::string& name, std::initializer_list<const char*> stem, int64_t num_blocks) {
  const auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (std::any_of(stem.begin(), stem.end(), starts)) return 0;
  if (starts("blocks.")) return 1 + std::stoll(name.substr(7, name.find('.', 7) - 7));
  if (starts("norm")) return num_blocks;
  return num_blocks + 1;
}

/// block_weights' part every family shares: the weights `block(i)` gives for each of `num_blocks`
/// blocks (all of them, or none when one has no engine form), each with `shared` (the bias the model
/// shares between its blocks, BlockContext::attn_bias; undefined: none) added to its own attn_bias.
template <typename BlockAt>
std::vector<BlockWeights> collect_block_weights(int64_t num_blocks, BlockAt&& block, const torch::Tensor& shared) {
  torch::NoGradGuard no_grad;
  std::vector<BlockWeights> out;
  for (int64_t i = 0; i < num_blocks; ++i) {
    auto w = block(i).weights();
    if (!w) return {};
    if (shared.defined()) w->attn_bias = w->attn_bias.defined() ? w->attn_bias + shared : shared;
    out.push_back(std::move(*w));
  }
  return out;
}

/// prune_intermediate_layers' part every family shares: `model`'s ModuleList "blocks" keeps the
/// blocks up to the last of `take` (take_indices). Returns how many it keeps.
inline int64_t prune_blocks(torch::nn::Module& model, torch::nn::ModuleList& blocks, const std::vector<int64_t>& take) {
  const int64_t keep = *std::max_element(take.begin(), take.end()) + 1;
  auto kept = torch::nn::ModuleList();
  for (int64_t i = 0; i < keep; ++i) kept->push_back(blocks->ptr(static_cast<size_t>(i)));
  blocks = model.replace_module("blocks", kept);
  return keep;
}

// ---- checkpoint keys: what the families' checkpoint conversions share ----

inline bool has_key(const StateDict& state, const std::string& key) {
  return std::any_of(state.begin(), state.end(), [&](const auto& kv) { return kv.first == key; });
}
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
/// Replaces every occurrence of `from` in `s`, left to right.
inline void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}
/// The keys starting with `prefix`, without it (the others are left out).
inline StateDict strip_prefix(const StateDict& state, const std::string& prefix) {
  StateDict out;
  for (const auto& [key, tensor] : state)
    if (key.rfind(prefix, 0) == 0) out.emplace_back(key.substr(prefix.size()), tensor);
  return out;
}
/// timm's _convert_openai_clip: an OpenAI CLIP / open_clip tower's keys under `prefix` (conv1,
/// transformer.resblocks, ln_pre / ln_post, in_proj, c_fc / c_proj, class_embedding, the bias-free
/// proj as the head) to timm's; Meta's PE follows the same layout (vision_transformer.cpp).
StateDict convert_openai_clip(const StateDict& state, const std::string& prefix);

struct Family {
  std::string name;
  /// Builds the model from keyword arguments over the family's defaults: validates every option,
  /// checks the parameter count against `max_parameters` (both before allocating), constructs.
  std::function<ModelPtr(const Json& args, const std::string& what, int64_t max_parameters)> build;
  /// Every option with its default value (a JSON object), the base that model_args diffs start from.
  Json defaults;
  /// Adds to `args` the keyword arguments a checkpoint's tensors imply and `args` leaves out, from
  /// their names and shapes in any layout the model's checkpoint_filter_fn converts. Only reads.
  std::function<void(const StateDict& state, Json& args)> args_from_weights;
  /// config.json's top-level keys (and the pretrained_cfg's num_classes) the family takes as
  /// defaults of its keyword arguments, as timm's hub loader does.
  std::vector<std::string> hub_keys;
  /// The zoo name a model of this family built in C++ is saved under.
  std::function<std::string(const Model&)> base_architecture;
};

/// The family called `name`; throws for others.
const Family& family(const std::string& name);

// Each family's knowledge of checkpoint keys, next to its model code.
void vision_transformer_args_from_weights(const StateDict& state, Json& args);
void vit_pytorch_args_from_weights(const StateDict& state, Json& args);
void eva_args_from_weights(const StateDict& state, Json& args);

/// What a family's args_from_weights reads: a checkpoint's names and shapes, as tensors on the meta
/// device (so that converting them into the family's layout costs no memory or time), and the
/// keyword arguments it sets where `args` has none.
class WeightsArgs {
 public:
  /// `convert` rewrites the (meta) state dict into the family's layout.
  WeightsArgs(const StateDict& weights, Json& args, const std::function<void(StateDict&)>& convert) : args_(args) {
    state_.reserve(weights.size());
    for (const auto& [key, tensor] : weights)
      state_.emplace_back(key, torch::empty(tensor.sizes(), tensor.options().device(torch::kMeta)));
    convert(state_);
  }
  /// The tensor called `name`, or null.
  const torch::Tensor* find(const std::string& name) const {
    for (const auto& [key, tensor] : state_)
      if (key == name) return &tensor;
    return nullptr;
  }
  bool has_blocks() const {
    return std::any_of(state_.begin(), state_.end(), [](const auto& kv) { return kv.first.rfind("blocks.", 0) == 0; });
  }
  /// args[key] = value unless args has the key.
  void set(const char* key, Json value) const {
    if (!args_.contains(key)) args_[key] = std::move(value);
  }

 private:
  StateDict state_;
  Json& args_;
};

}  // namespace vit::detail
