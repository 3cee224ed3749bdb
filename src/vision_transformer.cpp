#include "vit/vision_transformer.h"

#include "vit/init.h"
#include "vit/state_dict.h"

#include "families.h"
#include "layers.h"

#include <algorithm>
#include <cmath>

namespace vit {

using detail::make_linear;

namespace {

void check_tokens(const char* module, const torch::Tensor& x, int64_t dim) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == dim, "[", module, "] expected tokens (B, N, ", dim,
              "), got ", x.sizes());
}

BlockWeights::Norm norm_weights(const torch::nn::LayerNorm& ln) {
  if (!ln) return {};
  return {ln->weight, ln->bias, ln->options.eps()};
}

BlockWeights::Linear linear_weights(const torch::nn::Linear& l) { return {l->weight, l->bias}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// PatchEmbed

PatchEmbedImpl::PatchEmbedImpl(PatchEmbedOptions options_) : options(std::move(options_)) { reset(); }

void PatchEmbedImpl::reset() {
  const auto& o = options;
  check_options(o, "[PatchEmbed]");
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(o.img_size()->at(i) >= o.patch_size()->at(i), "[PatchEmbed] patch_size ", o.patch_size(),
                " does not fit in img_size ", o.img_size());
  }
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_chans(), o.embed_dim(),
                                                                            o.patch_size())
                                                       .stride(o.patch_size())
                                                       .bias(o.bias())));
  norm = nullptr;
  if (o.norm_layer()) norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
}

std::array<int64_t, 2> PatchEmbedImpl::grid_size() const {
  return {options.img_size()->at(0) / options.patch_size()->at(0),
          options.img_size()->at(1) / options.patch_size()->at(1)};
}

int64_t PatchEmbedImpl::num_patches() const {
  const auto g = grid_size();
  return g[0] * g[1];
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_chans(), "[PatchEmbed] expected images (B, ",
              options.in_chans(), ", H, W), got ", x.sizes());
  if (options.strict_img_size()) {
    TORCH_CHECK(x.size(2) == options.img_size()->at(0) && x.size(3) == options.img_size()->at(1),
                "[PatchEmbed] input image size (", x.size(2), "*", x.size(3), ") doesn't match model (",
                options.img_size()->at(0), "*", options.img_size()->at(1), ")");
  } else {
    TORCH_CHECK(x.size(2) % options.patch_size()->at(0) == 0 && x.size(3) % options.patch_size()->at(1) == 0 &&
                    x.size(2) > 0 && x.size(3) > 0,
                "[PatchEmbed] input image size (", x.size(2), "*", x.size(3), ") is not a multiple of the patch size (",
                options.patch_size()->at(0), "*", options.patch_size()->at(1), ")");
  }
  auto y = proj(x);
  if (options.flatten()) y = y.flatten(2).transpose(1, 2);  // ref: BCHW -> BNC
  if (norm) y = norm(y);
  return y;
}

void PatchEmbedImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::PatchEmbed", options); }

// ---------------------------------------------------------------------------------------------
// Attention

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto& o = options;
  check_options(o, "[Attention]");
  TORCH_CHECK(o.dim() % o.num_heads() == 0, "[Attention] dim ", o.dim(), " is not divisible by num_heads ",
              o.num_heads());
  qkv = register_module("qkv", make_linear(o.dim(), 3 * o.dim(), o.qkv_bias()));
  q_norm = k_norm = nullptr;
  if (o.qk_norm()) {
    const auto ln = torch::nn::LayerNormOptions({head_dim()}).eps(o.norm_eps());
    q_norm = register_module("q_norm", torch::nn::LayerNorm(ln));
    k_norm = register_module("k_norm", torch::nn::LayerNorm(ln));
  }
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  proj = register_module("proj", make_linear(o.dim(), o.dim()));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(o.proj_drop()));
}

double AttentionImpl::scale() const { return std::pow(static_cast<double>(head_dim()), -0.5); }

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  check_tokens("Attention", x, options.dim());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  // ref: qkv.reshape(B, N, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
  auto qkv_ = qkv(x).reshape({B, N, 3, options.num_heads(), head_dim()}).permute({2, 0, 3, 1, 4});
  auto q = qkv_[0], k = qkv_[1], v = qkv_[2];
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  auto attn = torch::matmul(q, k.transpose(-2, -1)) * scale();
  attn = attn_drop(attn.softmax(-1));
  auto y = torch::matmul(attn, v).transpose(1, 2).reshape({B, N, C});
  return proj_drop(proj(y));
}

void AttentionImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Attention", options); }

// ---------------------------------------------------------------------------------------------
// Mlp

MlpImpl::MlpImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void MlpImpl::reset() {
  check_options(options, "[Mlp]");
  fc1 = register_module("fc1", make_linear(options.in_features(), hidden_features()));
  act = register_module("act", torch::nn::GELU());
  drop1 = register_module("drop1", torch::nn::Dropout(options.drop()));
  fc2 = register_module("fc2", make_linear(hidden_features(), out_features()));
  drop2 = register_module("drop2", torch::nn::Dropout(options.drop()));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(), "[Mlp] expected last dimension ",
              options.in_features(), ", got input ", x.sizes());
  return drop2(fc2(drop1(act(fc1(x)))));
}

void MlpImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Mlp", options); }

// ---------------------------------------------------------------------------------------------
// DropPath

DropPathImpl::DropPathImpl(DropPathOptions options_) : options(options_) { reset(); }

void DropPathImpl::reset() { check_options(options, "[DropPath]"); }

torch::Tensor DropPathImpl::forward(const torch::Tensor& x) {
  const double p = options.drop_prob();
  if (p == 0. || !is_training()) return x;
  if (p == 1.) return torch::zeros_like(x);  // every path dropped; timm would divide by zero
  const double keep = 1. - p;
  // ref: random_tensor = keep_prob + torch.rand(shape); floor_(); x.div(keep_prob) * random_tensor
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = (torch::rand(shape, x.options()) + keep).floor_();
  return x.div(keep) * mask;
}

void DropPathImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::DropPath", options); }

// ---------------------------------------------------------------------------------------------
// LayerScale

LayerScaleImpl::LayerScaleImpl(int64_t dim_, double init_values_) : dim(dim_), init_values(init_values_) { reset(); }

void LayerScaleImpl::reset() {
  TORCH_CHECK(dim > 0, "[LayerScale] dim must be positive, got ", dim);
  gamma = register_parameter("gamma", SkipInitGuard::active() ? detail::uninitialised({dim}) : torch::full({dim}, init_values));
}

torch::Tensor LayerScaleImpl::forward(const torch::Tensor& x) { return x * gamma; }

void LayerScaleImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::LayerScale(dim=" << dim << ", init_values=" << init_values << ")";
}

// ---------------------------------------------------------------------------------------------
// Block

BlockImpl::BlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void BlockImpl::reset() {
  const auto& o = options;
  check_options(o, "[Block]");
  const auto ln = torch::nn::LayerNormOptions({o.dim()}).eps(o.norm_eps());
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  attn = register_module("attn", Attention(AttentionOptions(o.dim())
                                               .num_heads(o.num_heads())
                                               .qkv_bias(o.qkv_bias())
                                               .attn_drop(o.attn_drop())
                                               .proj_drop(o.drop())
                                               .qk_norm(o.qk_norm())
                                               .norm_eps(o.norm_eps())));
  ls1 = ls2 = nullptr;
  const bool layer_scale = o.init_values().value_or(0.) != 0.;  // ref: LayerScale(...) if init_values else Identity
  if (layer_scale) ls1 = register_module("ls1", LayerScale(o.dim(), *o.init_values()));
  drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  const auto hidden = static_cast<int64_t>(static_cast<double>(o.dim()) * o.mlp_ratio());  // ref: int(dim * mlp_ratio)
  mlp = register_module("mlp", Mlp(MlpOptions(o.dim()).hidden_features(hidden).drop(o.drop())));
  if (layer_scale) ls2 = register_module("ls2", LayerScale(o.dim(), *o.init_values()));
  drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  auto y = attn(norm1(x));
  x = x + drop_path1(ls1 ? ls1(y) : y);
  y = mlp(norm2(x));
  return x + drop_path2(ls2 ? ls2(y) : y);
}

BlockWeights BlockImpl::weights() const {
  BlockWeights w;
  w.heads = attn->options.num_heads();
  w.head_dim = attn->head_dim();
  w.scale = attn->scale();
  w.norm1 = norm_weights(norm1);
  w.norm2 = norm_weights(norm2);
  w.q_norm = norm_weights(attn->q_norm);
  w.k_norm = norm_weights(attn->k_norm);
  w.qkv = linear_weights(attn->qkv);
  w.proj = linear_weights(attn->proj);
  w.fc1 = linear_weights(mlp->fc1);
  w.fc2 = linear_weights(mlp->fc2);
  if (ls1) {
    w.ls1 = ls1->gamma;
    w.ls2 = ls2->gamma;
  }
  return w;
}

void BlockImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Block", options); }

// ---------------------------------------------------------------------------------------------
// VisionTransformer

VisionTransformerImpl::VisionTransformerImpl(VisionTransformerOptions options_) : options(std::move(options_)) {
  reset();
}

bool VisionTransformerImpl::has_pre_logits() const {
  return options.representation_size().value_or(0) > 0 && !options.distilled();
}

int64_t VisionTransformerImpl::num_features() const {
  return has_pre_logits() ? *options.representation_size() : options.embed_dim();
}

void VisionTransformerImpl::reset() {
  const auto& o = options;
  const int64_t D = o.embed_dim();
  check_options(o, "[VisionTransformer]");
  TORCH_CHECK(D % o.num_heads() == 0, "[VisionTransformer] embed_dim ", D, " is not divisible by num_heads ", o.num_heads());
  const auto& pool = o.global_pool();
  TORCH_CHECK(o.class_token() || pool != "token", "[VisionTransformer] global_pool 'token' needs class_token");
  TORCH_CHECK(!o.distilled() || (o.class_token() && pool == "token" && o.reg_tokens() == 0 && !o.no_embed_class() &&
                                  !use_fc_norm()),
              "[VisionTransformer] distilled models need class_token, global_pool 'token', no reg_tokens, "
              "no no_embed_class and no fc_norm (as timm's VisionTransformerDistilled)");

  // Construction order follows timm's __init__, so that a seeded build draws the same numbers.
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions()
                                                              .img_size(o.img_size())
                                                              .patch_size(o.patch_size())
                                                              .in_chans(o.in_chans())
                                                              .embed_dim(D)
                                                              .bias(!o.pre_norm())
                                                              .strict_img_size(!o.dynamic_img_size())));
  cls_token = o.class_token() ? register_parameter("cls_token", detail::tokens({1, 1, D})) : torch::Tensor();
  dist_token = o.distilled() ? register_parameter("dist_token", detail::tokens({1, 1, D})) : torch::Tensor();
  reg_token = o.reg_tokens() > 0 ? register_parameter("reg_token", detail::tokens({1, o.reg_tokens(), D})) : torch::Tensor();
  const int64_t embed_len = num_patches() + (o.no_embed_class() ? 0 : num_prefix_tokens());
  pos_embed = register_parameter("pos_embed", detail::tokens({1, embed_len, D}));
  pos_drop = register_module("pos_drop", torch::nn::Dropout(o.drop_rate()));
  const auto ln = torch::nn::LayerNormOptions({D}).eps(1e-6);
  norm_pre = o.pre_norm() ? register_module("norm_pre", torch::nn::LayerNorm(ln)) : nullptr;

  // ref: dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)] (float32, as in Python)
  const auto dpr = torch::linspace(0., o.drop_path_rate(), o.depth(), torch::kFloat32);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth(); ++i) {
    blocks->push_back(Block(BlockOptions(D, o.num_heads())
                                .mlp_ratio(o.mlp_ratio())
                                .qkv_bias(o.qkv_bias())
                                .drop(o.drop_rate())
                                .attn_drop(o.attn_drop_rate())
                                .drop_path(dpr[i].item<double>())
                                .norm_eps(1e-6)
                                .qk_norm(o.qk_norm())
                                .init_values(o.init_values())));
  }
  norm = o.final_norm() && !use_fc_norm() ? register_module("norm", torch::nn::LayerNorm(ln)) : nullptr;
  fc_norm = o.final_norm() && use_fc_norm() ? register_module("fc_norm", torch::nn::LayerNorm(ln)) : nullptr;
  pre_logits = nullptr;
  if (has_pre_logits()) {
    pre_logits = register_module("pre_logits",
                                 torch::nn::Sequential({{"fc", make_linear(D, num_features())}, {"act", torch::nn::Tanh()}}));
  }
  head = nullptr;
  head_dist = nullptr;
  if (o.num_classes() > 0) {
    head = register_module("head", make_linear(num_features(), o.num_classes()));
    if (o.distilled()) head_dist = register_module("head_dist", make_linear(D, o.num_classes()));
  }
  if (!SkipInitGuard::active()) reset_parameters();
}

void VisionTransformerImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // ref: init_weights(mode=''): pos_embed, dist_token, cls_token, then self.apply(_init_vit_weights)
  trunc_normal_(pos_embed, 0., .02);
  if (dist_token.defined()) trunc_normal_(dist_token, 0., .02);
  if (cls_token.defined()) trunc_normal_(cls_token, 0., .02);
  if (reg_token.defined()) reg_token.normal_(0., 1e-6);  // current timm
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0., .02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* ln = module->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.);
      ln->bias.zero_();
    }
  }
}

torch::Tensor VisionTransformerImpl::forward_embed(const torch::Tensor& images) {
  auto x = patch_embed(images);
  const int64_t B = x.size(0);
  auto pos = pos_embed;
  if (options.dynamic_img_size()) {
    const std::array<int64_t, 2> grid{images.size(2) / options.patch_size()->at(0),
                                      images.size(3) / options.patch_size()->at(1)};
    pos = resample_abs_pos_embed(pos_embed, grid, patch_embed->grid_size(),
                                 options.no_embed_class() ? 0 : num_prefix_tokens());
  }
  std::vector<torch::Tensor> tokens;
  if (cls_token.defined()) tokens.push_back(cls_token.expand({B, -1, -1}));
  if (dist_token.defined()) tokens.push_back(dist_token.expand({B, -1, -1}));
  if (reg_token.defined()) tokens.push_back(reg_token.expand({B, -1, -1}));
  if (options.no_embed_class()) {  // ref: x = x + pos_embed; x = torch.cat(to_cat + [x], dim=1)
    tokens.push_back(x + pos);
    x = torch::cat(tokens, 1);
  } else {  // ref: x = torch.cat(to_cat + [x], dim=1); x = x + pos_embed
    tokens.push_back(x);
    x = torch::cat(tokens, 1) + pos;
  }
  x = pos_drop(x);
  return norm_pre ? norm_pre(x) : x;
}

torch::Tensor VisionTransformerImpl::forward_blocks(const torch::Tensor& tokens) {
  auto x = tokens;
  for (const auto& block : *blocks) x = block->as<BlockImpl>()->forward(x);
  return x;
}

torch::Tensor VisionTransformerImpl::forward_norm(const torch::Tensor& tokens) { return norm ? norm(tokens) : tokens; }

torch::Tensor VisionTransformerImpl::forward_head(const torch::Tensor& x, bool want_pre_logits) {
  const int64_t needed = head_tokens() > 0 ? head_tokens() : num_prefix_tokens() + 1;
  TORCH_CHECK(x.dim() == 3 && x.size(1) >= needed && x.size(2) == options.embed_dim(),
              "[VisionTransformer] forward_head expects tokens (B, N, ", options.embed_dim(), ") with N >= ", needed,
              ", got ", x.sizes());
  if (options.distilled()) {
    if (want_pre_logits || !head) return (x.select(1, 0) + x.select(1, 1)) / 2;
    return (head(x.select(1, 0)) + head_dist(x.select(1, 1))) / 2;
  }
  const auto& pool = options.global_pool();
  torch::Tensor pooled;
  if (pool == "token") {
    pooled = x.select(1, 0);  // ref: x[:, 0]
  } else if (pool.empty()) {
    pooled = x;
  } else {  // ref: x[:, num_prefix_tokens:].mean(dim=1) (and max / avgmax)
    const auto patches = x.narrow(1, num_prefix_tokens(), x.size(1) - num_prefix_tokens());
    if (pool == "avg") pooled = patches.mean(1);
    else if (pool == "max") pooled = std::get<0>(patches.max(1));
    else pooled = 0.5 * (patches.mean(1) + std::get<0>(patches.max(1)));
  }
  if (fc_norm) pooled = fc_norm(pooled);
  if (pre_logits) pooled = pre_logits->forward(pooled);
  if (want_pre_logits || !head) return pooled;
  return head(pooled);
}

int64_t VisionTransformerImpl::head_tokens() const {
  if (options.distilled()) return 2;
  return options.global_pool() == "token" ? 1 : 0;
}

DistilledLogits VisionTransformerImpl::forward_distilled(const torch::Tensor& images) {
  TORCH_CHECK(options.distilled(), "[VisionTransformer] forward_distilled needs a distilled model");
  const auto x = forward_features(images);
  DistilledLogits out{x.select(1, 0), x.select(1, 1)};
  if (head) {
    out.cls = head(out.cls);
    out.dist = head_dist(out.dist);
  }
  return out;
}

std::array<int64_t, 3> VisionTransformerImpl::input_size() const {
  return {options.in_chans(), options.img_size()->at(0), options.img_size()->at(1)};
}

int64_t VisionTransformerImpl::count_macs(int64_t height, int64_t width) const {
  const auto& o = options;
  const int64_t P0 = o.patch_size()->at(0), P1 = o.patch_size()->at(1), D = o.embed_dim();
  const int64_t N = (height / P0) * (width / P1), T = N + num_prefix_tokens();
  const auto H = static_cast<int64_t>(static_cast<double>(D) * o.mlp_ratio());
  int64_t macs = N * D * o.in_chans() * P0 * P1;
  macs += o.depth() * (T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * H);
  if (has_pre_logits()) macs += D * num_features();
  return macs + num_features() * o.num_classes() * (o.distilled() ? 2 : 1);
}

std::vector<BlockWeights> VisionTransformerImpl::block_weights() const {
  std::vector<BlockWeights> out;
  for (const auto& block : *blocks) out.push_back(block->as<BlockImpl>()->weights());
  return out;
}

std::set<std::string> VisionTransformerImpl::no_weight_decay() const {
  return {"pos_embed", "cls_token", "dist_token", "reg_token"};
}

void VisionTransformerImpl::adapt_checkpoint(StateDict& state) const {
  for (auto& [name, tensor] : state) {
    if (name == "pos_embed" && tensor.dim() == 3 && tensor.sizes() != pos_embed.sizes()) {
      // ref: checkpoint_filter_fn: resample_abs_pos_embed to the model's grid
      tensor = resample_abs_pos_embed(tensor, patch_embed->grid_size(), std::nullopt,
                                      options.no_embed_class() ? 0 : num_prefix_tokens());
    } else if (name == "patch_embed.proj.weight" && tensor.sizes() != patch_embed->proj->weight.sizes()) {
      if (auto converted = convert_patch_weight(tensor, patch_embed->proj->weight); converted.defined()) tensor = converted;
    }
  }
}

void VisionTransformerImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::VisionTransformer", options);
}

int64_t count_parameters(const VisionTransformerOptions& o) {
  check_options(o, "[VisionTransformer]");
  // In double: a hostile config must not overflow the count that is meant to reject it.
  const double D = static_cast<double>(o.embed_dim()), P = static_cast<double>(o.patch_size()->at(0) * o.patch_size()->at(1));
  const double grid = static_cast<double>(o.img_size()->at(0) / o.patch_size()->at(0)) *
                      static_cast<double>(o.img_size()->at(1) / o.patch_size()->at(1));
  const double prefix = (o.class_token() ? 1 : 0) + (o.distilled() ? 1 : 0) + static_cast<double>(o.reg_tokens());
  const double H = std::floor(D * o.mlp_ratio()), head_dim = std::floor(D / static_cast<double>(o.num_heads()));
  const bool pre_logits = o.representation_size().value_or(0) > 0 && !o.distilled();
  const double features = pre_logits ? static_cast<double>(*o.representation_size()) : D;
  const double K = static_cast<double>(o.num_classes());
  double n = D * static_cast<double>(o.in_chans()) * P + (o.pre_norm() ? 0. : D);  // patch projection
  n += prefix * D + (grid + (o.no_embed_class() ? 0. : prefix)) * D;                // tokens, pos_embed
  n += o.pre_norm() ? 2 * D : 0.;
  double block = 2 * D + (3 * D * D + (o.qkv_bias() ? 3 * D : 0.)) + (D * D + D) + 2 * D + (D * H + H) + (H * D + D);
  if (o.qk_norm()) block += 4 * head_dim;
  if (o.init_values().value_or(0.) != 0.) block += 2 * D;
  n += static_cast<double>(o.depth()) * block;
  n += o.final_norm() ? 2 * D : 0.;  // norm or fc_norm
  if (pre_logits) n += D * features + features;
  if (K > 0) n += (features * K + K) * (o.distilled() ? 2 : 1);
  return n >= 9e18 ? INT64_MAX : static_cast<int64_t>(n);
}

void detail::vision_transformer_args_from_weights(const StateDict& state, Json& args) {
  const auto find = [&](const std::string& name) -> const torch::Tensor* {
    for (const auto& [key, tensor] : state)
      if (key == name) return &tensor;
    return nullptr;
  };
  const bool has_blocks = std::any_of(state.begin(), state.end(), [](const auto& kv) { return kv.first.rfind("blocks.", 0) == 0; });
  const auto set = [&](const char* key, Json value) {
    if (!args.contains(key)) args[key] = std::move(value);
  };
  if (const auto* w = find("pre_logits.fc.weight"); w && w->dim() == 2) set("representation_size", w->size(0));
  if (find("blocks.0.attn.qkv.weight") && !find("blocks.0.attn.qkv.bias")) set("qkv_bias", false);
  if (!find("cls_token")) set("class_token", false);
  if (find("dist_token")) set("distilled", true);
  if (const auto* r = find("reg_token"); r && r->dim() == 3) set("reg_tokens", r->size(1));
  if (find("blocks.0.ls1.gamma")) set("init_values", 1.0);  // any value: gamma comes from the weights
  if (find("blocks.0.attn.q_norm.weight")) set("qk_norm", true);
  if (find("norm_pre.weight")) set("pre_norm", true);
  if (find("fc_norm.weight")) set("global_pool", "avg");
  if (!find("norm.weight") && !find("fc_norm.weight") && has_blocks) set("final_norm", false);
  if (const auto* w = find("head.weight"); w && w->dim() == 2) set("num_classes", w->size(0));
  if (!find("head.weight") && has_blocks) set("num_classes", 0);
}

torch::Tensor resample_abs_pos_embed(const torch::Tensor& pos_embed, std::array<int64_t, 2> new_size,
                                     std::optional<std::array<int64_t, 2>> old_size, int64_t num_prefix_tokens) {
  TORCH_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "[resample_abs_pos_embed] expected pos_embed (1, N, D), got ",
              pos_embed.sizes());
  const int64_t grid_tokens = pos_embed.size(1) - num_prefix_tokens;
  TORCH_CHECK(num_prefix_tokens >= 0 && grid_tokens > 0, "[resample_abs_pos_embed] pos_embed ", pos_embed.sizes(),
              " has no grid after ", num_prefix_tokens, " prefix tokens");
  if (!old_size) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(grid_tokens))));
    TORCH_CHECK(side * side == grid_tokens, "[resample_abs_pos_embed] ", grid_tokens,
                " grid tokens are not a square; pass old_size");
    old_size = std::array<int64_t, 2>{side, side};
  }
  const auto [oh, ow] = *old_size;
  TORCH_CHECK(oh * ow == grid_tokens, "[resample_abs_pos_embed] old_size ", oh, "x", ow, " does not match ",
              grid_tokens, " grid tokens");
  TORCH_CHECK(new_size[0] > 0 && new_size[1] > 0, "[resample_abs_pos_embed] new_size must be positive");
  if (new_size == *old_size) return pos_embed;
  const int64_t D = pos_embed.size(2);
  const auto prefix = pos_embed.narrow(1, 0, num_prefix_tokens);
  auto grid = pos_embed.narrow(1, num_prefix_tokens, grid_tokens).reshape({1, oh, ow, D}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  grid = F::interpolate(grid.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{new_size[0], new_size[1]})
                                                     .mode(torch::kBicubic)
                                                     .align_corners(false)
                                                     .antialias(true));
  grid = grid.permute({0, 2, 3, 1}).reshape({1, -1, D}).to(pos_embed.scalar_type());
  return torch::cat({prefix, grid}, 1);
}

}  // namespace vit
