#include "vit/model.h"

#include "vit/init.h"

#include <algorithm>

namespace vit {


Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_tanh") return Activation::kGeluTanh;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "silu") return Activation::kSilu;
  if (name == "sigmoid") return Activation::kSigmoid;
  TORCH_CHECK(false, "[activation] unknown act_layer '", name, "' (gelu, gelu_tanh, quick_gelu, silu, sigmoid)");
}

torch::Tensor activate(Activation act, const torch::Tensor& x) {
  switch (act) {
    case Activation::kGelu: return torch::gelu(x);
    case Activation::kGeluTanh: return torch::gelu(x, "tanh");
    case Activation::kQuickGelu: return x * torch::sigmoid(1.702 * x);  // ref: x * sigmoid(1.702 * x)
    case Activation::kSilu: return torch::silu(x);
    case Activation::kSigmoid: return torch::sigmoid(x);
  }
  return x;
}

DistilledLogits Model::forward_distilled(const torch::Tensor&) {
  TORCH_CHECK(false, "[", name(), "] forward_distilled needs a distilled model");
}

std::shared_ptr<torch::nn::Module> Model::clone(const c10::optional<torch::Device>& device) const {
  torch::NoGradGuard no_grad;
  std::shared_ptr<Model> copy;
  {
    const SkipInitGuard skip;  // every tensor is replaced below
    copy = fresh();
  }
  const auto copy_into = [&](const torch::OrderedDict<std::string, torch::Tensor>& from,
                             torch::OrderedDict<std::string, torch::Tensor> to, const char* kind) {
    TORCH_CHECK(from.size() == to.size(), "[", name(), "] clone: ", to.size(), " ", kind, "s rebuilt for ", from.size());
    for (const auto& item : from) {
      auto* target = to.find(item.key());
      TORCH_CHECK(target && target->sizes() == item.value().sizes(), "[", name(), "] clone: ", kind, " '", item.key(),
                  "' ", item.value().sizes(), " has no counterpart in the rebuilt model (weights released?)");
      target->set_data(device && item.value().device() != *device ? item.value().to(*device) : item.value().clone());
    }
  };
  copy_into(named_parameters(), copy->named_parameters(), "parameter");
  copy_into(named_buffers(), copy->named_buffers(), "buffer");
  copy->train(is_training());
  return copy;
}

void Model::check_block_input(const torch::Tensor& tokens, const BlockContext& context) const {
  const int64_t prefix = num_prefix_tokens();
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) == prefix + context.patches(),
              "[forward_block] the blocks expect tokens (B, ", prefix + context.patches(), ", D): ", prefix, " prefix tokens and the ",
              context.patches(), " patches of the input (a ", context.grid[0], "x", context.grid[1],
              " grid) whose forward_embed gave their context, got ", tokens.sizes());
}

torch::Tensor Model::forward_blocks(const Embedded& embedded) {
  check_block_input(embedded.tokens, embedded.context);
  auto x = embedded.tokens;
  for (int64_t i = 0; i < num_blocks(); ++i) x = forward_block(i, x, embedded.context);
  return x;
}

std::vector<int64_t> take_indices(int64_t num_blocks, const std::vector<int64_t>& indices, std::optional<int64_t> last_n) {
  std::vector<int64_t> take;
  if (last_n) {  // ref: feature_take_indices(n): the last n
    TORCH_CHECK(*last_n > 0 && *last_n <= num_blocks, "[forward_intermediates] last ", *last_n,
                " blocks asked for, the model has ", num_blocks);
    for (int64_t i = num_blocks - *last_n; i < num_blocks; ++i) take.push_back(i);
    return take;
  }
  if (indices.empty()) {
    TORCH_CHECK(num_blocks > 0, "[forward_intermediates] the model has no blocks");
    for (int64_t i = 0; i < num_blocks; ++i) take.push_back(i);
    return take;
  }
  for (const auto i : indices) {
    const int64_t index = i < 0 ? num_blocks + i : i;
    TORCH_CHECK(index >= 0 && index < num_blocks, "[forward_intermediates] block index ", i, " out of range for ",
                num_blocks, " blocks");
    take.push_back(index);
  }
  return take;
}

Intermediates Model::forward_intermediates(const torch::Tensor& images, const std::vector<int64_t>& indices,
                                           IntermediatesOptions options) {
  check_options(options, "[forward_intermediates]");
  const auto take = take_indices(num_blocks(), indices);
  const int64_t last = *std::max_element(take.begin(), take.end());
  TORCH_CHECK(images.dim() == 4, "[forward_intermediates] expected images (B, C, H, W), got ", images.sizes());
  const auto embedded = forward_embed(images);
  const auto& context = embedded.context;
  const auto& grid = context.grid;
  const int64_t prefix = num_prefix_tokens(), B = images.size(0);
  TORCH_CHECK(!context.keep.defined(), "[forward_intermediates] the feature maps need every patch: call eval() (patch dropout)");
  Intermediates out;
  auto x = embedded.tokens;
  check_block_input(x, context);
  const int64_t stop = options.stop_early() || options.intermediates_only() ? last + 1 : num_blocks();
  for (int64_t i = 0; i < stop; ++i) {
    x = forward_block(i, x, context);
    if (std::find(take.begin(), take.end(), i) == take.end()) continue;
    auto y = options.norm() ? forward_norm(x) : x;  // ref: self.norm(x) if norm else x
    if (options.return_prefix_tokens() && prefix > 0) out.prefix_tokens.push_back(y.narrow(1, 0, prefix));
    y = y.narrow(1, prefix, y.size(1) - prefix);
    if (options.output_fmt() == "NCHW") y = y.reshape({B, grid[0], grid[1], -1}).permute({0, 3, 1, 2}).contiguous();
    out.intermediates.push_back(y);
  }
  if (!options.intermediates_only()) out.features = forward_norm(x);
  return out;
}

std::vector<torch::Tensor> Model::attention_maps(const torch::Tensor& images, const std::vector<int64_t>& indices) {
  const auto take = take_indices(num_blocks(), indices);
  const int64_t last = *std::max_element(take.begin(), take.end());
  std::vector<torch::Tensor> maps;
  const auto embedded = forward_embed(images);
  const auto& context = embedded.context;
  auto x = embedded.tokens;
  check_block_input(x, context);
  for (int64_t i = 0; i <= last; ++i) {
    torch::Tensor probs;
    const bool wanted = std::find(take.begin(), take.end(), i) != take.end();
    x = forward_block(i, x, context, wanted ? &probs : nullptr);
    if (wanted) maps.push_back(probs);
  }
  return maps;
}

std::vector<int64_t> Model::prune_intermediate_layers(const std::vector<int64_t>&, bool, bool) {
  TORCH_CHECK(false, "[", name(), "] prune_intermediate_layers is not supported by the ", family(), " family");
}

torch::Tensor attention_heatmap(Model& model, const torch::Tensor& images, const std::string& method) {
  TORCH_CHECK(method == "cls" || method == "rollout", "[attention_heatmap] method must be 'cls' or 'rollout', got '", method, "'");
  TORCH_CHECK(images.dim() == 4, "[attention_heatmap] expected images (B, C, H, W), got ", images.sizes());
  TORCH_CHECK(model.num_blocks() > 0, "[attention_heatmap] the model has no blocks");
  const auto grid = model.feat_size(images.size(2), images.size(3));
  const int64_t prefix = model.num_prefix_tokens(), B = images.size(0);
  const bool class_token = model.head_tokens() >= 1;
  torch::Tensor row;  // (B, N): attention over every token
  if (method == "cls" && class_token) {
    row = model.attention_maps(images, {-1})[0].mean(1).select(1, 0);
  } else if (method == "cls") {
    const auto pooled = model.pool_attention(model.forward_features(images));
    if (pooled.defined()) row = pooled.mean(1);
  }
  if (!row.defined()) {
    torch::Tensor rollout;
    for (const auto& probs : model.attention_maps(images)) {
      const int64_t N = probs.size(-1);
      auto a = 0.5 * probs.mean(1) + 0.5 * torch::eye(N, probs.options()).unsqueeze(0);
      a = a / a.sum(-1, /*keepdim=*/true);
      rollout = rollout.defined() ? torch::matmul(a, rollout) : a;
    }
    row = class_token ? rollout.select(1, 0) : rollout.mean(1);
  }
  return row.narrow(1, prefix, row.size(1) - prefix).reshape({B, grid[0], grid[1]});
}

std::shared_ptr<Model> Model::clone_model() const { return std::static_pointer_cast<Model>(clone()); }

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace vit
