#include "vit/pos_embed_rel.h"

#include "layers.h"

#include <cmath>

namespace vit {

torch::Tensor relative_position_index(std::array<int64_t, 2> window, bool class_token) {
  // ref: gen_relative_position_index: offsets (dh + h - 1) * (2w - 1) + (dw + w - 1) between the
  // row-major patches; the class token's row, column and corner are the table's last three entries.
  const int64_t h = window[0], w = window[1], area = h * w, base = (2 * h - 1) * (2 * w - 1);
  const auto rows = torch::arange(h).repeat_interleave(w), cols = torch::arange(w).repeat(h);
  const auto dh = rows.unsqueeze(1) - rows.unsqueeze(0) + (h - 1);
  const auto dw = cols.unsqueeze(1) - cols.unsqueeze(0) + (w - 1);
  auto index = dh * (2 * w - 1) + dw;
  if (!class_token) return index;
  auto out = torch::empty({area + 1, area + 1}, torch::kLong);
  out.slice(0, 1).slice(1, 1).copy_(index);
  out[0].fill_(base);
  out.select(1, 0).fill_(base + 1);
  out[0][0].fill_(base + 2);
  return out;
}

int64_t relative_position_table_size(std::array<int64_t, 2> window, bool class_token) {
  return (2 * window[0] - 1) * (2 * window[1] - 1) + (class_token ? 3 : 0);
}

torch::Tensor relative_position_bias(const torch::Tensor& table, std::array<int64_t, 2> window, bool class_token) {
  TORCH_CHECK(table.dim() == 2 && table.size(0) == relative_position_table_size(window, class_token),
              "[relative position bias] a table of ", relative_position_table_size(window, class_token),
              " entries is needed for a ", window[0], "x", window[1], " window", class_token ? " and a class token" : "",
              ", got ", table.sizes());
  const auto index = relative_position_index(window, class_token).to(table.device());
  const int64_t n = index.size(0);
  // ref: table[index.view(-1)].view(N, N, heads).permute(2, 0, 1)
  return table.index_select(0, index.view({-1})).view({n, n, table.size(1)}).permute({2, 0, 1}).contiguous();
}

// ---------------------------------------------------------------------------------------------

RelPosBiasImpl::RelPosBiasImpl(RelPosOptions options_) : RelPosLayer(std::move(options_)) { reset(); }

void RelPosBiasImpl::reset() {
  check_options(options, "[RelPosBias]");
  const std::array<int64_t, 2> window{options.window_size()->at(0), options.window_size()->at(1)};
  relative_position_bias_table = register_parameter(
      "relative_position_bias_table",
      detail::tokens({relative_position_table_size(window, options.prefix_tokens() > 0), options.num_heads()}));
}

torch::Tensor RelPosBiasImpl::get_bias() {
  return relative_position_bias(relative_position_bias_table, {options.window_size()->at(0), options.window_size()->at(1)},
                                options.prefix_tokens() > 0);
}

void RelPosBiasImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::RelPosBias", options); }

// ---------------------------------------------------------------------------------------------

RelPosMlpImpl::RelPosMlpImpl(RelPosOptions options_) : RelPosLayer(std::move(options_)) { reset(); }

void RelPosMlpImpl::reset() {
  check_options(options, "[RelPosMlp]");
  const bool swin = options.rel_pos_type() == "mlp_swin";
  TORCH_CHECK(!swin || (options.window_size()->at(0) > 1 && options.window_size()->at(1) > 1),
              "[RelPosMlp] 'mlp_swin' scales the offsets by the window and needs a window of at least 2x2, got ",
              options.window_size()->at(0), "x", options.window_size()->at(1));
  mlp = register_module("mlp", std::make_shared<torch::nn::Module>("Mlp"));
  fc1 = mlp->register_module("fc1", detail::make_linear(2, options.hidden_dim()));
  drop = mlp->register_module("drop1", torch::nn::Dropout(0.125));
  fc2 = mlp->register_module("fc2", detail::make_linear(options.hidden_dim(), options.num_heads(), !swin));
  // ref: gen_relative_log_coords: offsets -(h-1)..(h-1) x -(w-1)..(w-1), (2h-1, 2w-1, 2)
  const int64_t h = options.window_size()->at(0), w = options.window_size()->at(1);
  auto dh = torch::arange(-(h - 1), h, torch::kFloat32), dw = torch::arange(-(w - 1), w, torch::kFloat32);
  if (swin) {
    dh = dh / static_cast<float>(h - 1) * 8;
    dw = dw / static_cast<float>(w - 1) * 8;
  }
  auto coords = torch::stack({dh.unsqueeze(1).expand({2 * h - 1, 2 * w - 1}), dw.unsqueeze(0).expand({2 * h - 1, 2 * w - 1})}, -1);
  coords = swin ? torch::sign(coords) * torch::log2(1 + coords.abs()) / 3.f : torch::sign(coords) * torch::log1p(coords.abs());
  coords_ = coords.contiguous();
  index_ = relative_position_index({h, w}, false).view({-1});
}

torch::Tensor RelPosMlpImpl::get_bias() {
  const int64_t area = options.window_size()->at(0) * options.window_size()->at(1), heads = options.num_heads();
  const auto coords = coords_.to(fc1->weight.device(), fc1->weight.scalar_type());
  // ref: RelPosMlp.get_bias: mlp(coords) (fc1, ReLU, drop 0.125, fc2), gathered by the offset index
  auto bias = fc2(drop(torch::relu(fc1(coords)))).view({-1, heads});
  bias = bias.index_select(0, index_.to(bias.device())).view({area, area, heads}).permute({2, 0, 1});
  if (options.rel_pos_type() == "mlp_swin") bias = 16 * torch::sigmoid(bias);
  if (options.prefix_tokens() > 0) {
    bias = torch::constant_pad_nd(bias, {options.prefix_tokens(), 0, options.prefix_tokens(), 0});
  }
  return bias.contiguous();
}

void RelPosMlpImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::RelPosMlp", options); }

// ---------------------------------------------------------------------------------------------

std::shared_ptr<RelPosLayer> make_rel_pos(const RelPosOptions& options) {
  if (options.rel_pos_type() == "bias") return std::make_shared<RelPosBiasImpl>(options);
  return std::make_shared<RelPosMlpImpl>(options);
}

int64_t count_parameters(const RelPosOptions& o) {
  if (o.rel_pos_type() == "bias") {
    return relative_position_table_size({o.window_size()->at(0), o.window_size()->at(1)}, o.prefix_tokens() > 0) * o.num_heads();
  }
  const bool swin = o.rel_pos_type() == "mlp_swin";
  return 3 * o.hidden_dim() + o.hidden_dim() * o.num_heads() + (swin ? 0 : o.num_heads());
}

}  // namespace vit
