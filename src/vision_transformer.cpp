#include "vit/vision_transformer.h"

#include "vit/init.h"

#include <cmath>

namespace vit {

namespace {

// LibTorch's Linear. Under a SkipInitGuard its weights are left uninitialised: LibTorch's constructor
// always runs its kaiming-uniform init, so the layer is built empty and then given full-size tensors.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = true) {
  if (!SkipInitGuard::active()) return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  torch::nn::Linear layer(torch::nn::LinearOptions(1, 0).bias(bias));  // a (0, 1) weight: nothing to draw
  layer->options = torch::nn::LinearOptions(in, out).bias(bias);
  torch::NoGradGuard no_grad;
  layer->weight.set_data(torch::empty({out, in}));
  if (bias) layer->bias.set_data(torch::empty({out}));
  return layer;
}

void check_probability(const char* module, const char* name, double p) {
  TORCH_CHECK(p >= 0. && p <= 1., "[", module, "] ", name, " must be in [0, 1], got ", p);
}

void check_tokens(const char* module, const torch::Tensor& x, int64_t dim) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == dim, "[", module, "] expected tokens (B, N, ", dim,
              "), got ", x.sizes());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PatchEmbed

PatchEmbedImpl::PatchEmbedImpl(PatchEmbedOptions options_) : options(std::move(options_)) { reset(); }

void PatchEmbedImpl::reset() {
  const auto& o = options;
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(o.patch_size()->at(i) > 0 && o.img_size()->at(i) >= o.patch_size()->at(i),
                "[PatchEmbed] patch_size ", o.patch_size(), " must be positive and fit in img_size ",
                o.img_size());
  }
  TORCH_CHECK(o.in_chans() > 0 && o.embed_dim() > 0, "[PatchEmbed] in_chans ", o.in_chans(),
              " and embed_dim ", o.embed_dim(), " must be positive");
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

void PatchEmbedImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::PatchEmbed(img_size=" << options.img_size() << ", patch_size=" << options.patch_size()
         << ", in_chans=" << options.in_chans() << ", embed_dim=" << options.embed_dim()
         << ", norm_layer=" << std::boolalpha << options.norm_layer() << ", flatten=" << options.flatten()
         << ", bias=" << options.bias() << ", strict_img_size=" << options.strict_img_size() << ")";
}

// ---------------------------------------------------------------------------------------------
// Attention

AttentionOptions::AttentionOptions(int64_t dim) : dim_(dim) {}

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.dim() > 0 && o.num_heads() > 0, "[Attention] dim ", o.dim(), " and num_heads ",
              o.num_heads(), " must be positive");
  TORCH_CHECK(o.dim() % o.num_heads() == 0, "[Attention] dim ", o.dim(), " is not divisible by num_heads ",
              o.num_heads());
  check_probability("Attention", "attn_drop", o.attn_drop());
  check_probability("Attention", "proj_drop", o.proj_drop());
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

void AttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::Attention(dim=" << options.dim() << ", num_heads=" << options.num_heads()
         << ", qkv_bias=" << std::boolalpha << options.qkv_bias() << ", attn_drop=" << options.attn_drop()
         << ", proj_drop=" << options.proj_drop() << ", qk_norm=" << options.qk_norm() << ")";
}

// ---------------------------------------------------------------------------------------------
// Mlp

MlpOptions::MlpOptions(int64_t in_features) : in_features_(in_features) {}

MlpImpl::MlpImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void MlpImpl::reset() {
  TORCH_CHECK(options.in_features() > 0 && hidden_features() > 0 && out_features() > 0,
              "[Mlp] in_features ", options.in_features(), ", hidden_features ", hidden_features(),
              " and out_features ", out_features(), " must be positive");
  check_probability("Mlp", "drop", options.drop());
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

void MlpImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::Mlp(in_features=" << options.in_features() << ", hidden_features=" << hidden_features()
         << ", out_features=" << out_features() << ", drop=" << options.drop() << ")";
}

// ---------------------------------------------------------------------------------------------
// DropPath

DropPathImpl::DropPathImpl(DropPathOptions options_) : options(options_) { reset(); }

void DropPathImpl::reset() { check_probability("DropPath", "drop_prob", options.drop_prob()); }

torch::Tensor DropPathImpl::forward(const torch::Tensor& x) {
  const double p = options.drop_prob();
  if (p == 0. || !is_training()) return x;
  if (p == 1.) return torch::zeros_like(x);  // every path dropped; the seed would divide by zero
  const double keep = 1. - p;
  // ref: random_tensor = keep_prob + torch.rand(shape); floor_(); x.div(keep_prob) * random_tensor
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  auto mask = (torch::rand(shape, x.options()) + keep).floor_();
  return x.div(keep) * mask;
}

void DropPathImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::DropPath(drop_prob=" << options.drop_prob() << ")";
}

// ---------------------------------------------------------------------------------------------
// LayerScale

LayerScaleImpl::LayerScaleImpl(int64_t dim_, double init_values_) : dim(dim_), init_values(init_values_) { reset(); }

void LayerScaleImpl::reset() {
  TORCH_CHECK(dim > 0, "[LayerScale] dim must be positive, got ", dim);
  gamma = register_parameter("gamma", torch::full({dim}, init_values));
}

torch::Tensor LayerScaleImpl::forward(const torch::Tensor& x) { return x * gamma; }

void LayerScaleImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::LayerScale(dim=" << dim << ", init_values=" << init_values << ")";
}

// ---------------------------------------------------------------------------------------------
// Block

BlockOptions::BlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}

BlockImpl::BlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void BlockImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.mlp_ratio() > 0., "[Block] mlp_ratio must be positive, got ", o.mlp_ratio());
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
  if (o.init_values()) ls1 = register_module("ls1", LayerScale(o.dim(), *o.init_values()));
  drop_path1 = register_module("drop_path1", DropPath(o.drop_path()));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  const auto hidden = static_cast<int64_t>(static_cast<double>(o.dim()) * o.mlp_ratio());  // ref: int(dim * mlp_ratio)
  mlp = register_module("mlp", Mlp(MlpOptions(o.dim()).hidden_features(hidden).drop(o.drop())));
  if (o.init_values()) ls2 = register_module("ls2", LayerScale(o.dim(), *o.init_values()));
  drop_path2 = register_module("drop_path2", DropPath(o.drop_path()));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  auto y = attn(norm1(x));
  x = x + drop_path1(ls1 ? ls1(y) : y);
  y = mlp(norm2(x));
  return x + drop_path2(ls2 ? ls2(y) : y);
}

void BlockImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::Block(dim=" << options.dim() << ", num_heads=" << options.num_heads()
         << ", mlp_ratio=" << options.mlp_ratio() << ", qkv_bias=" << std::boolalpha << options.qkv_bias()
         << ", drop=" << options.drop() << ", attn_drop=" << options.attn_drop()
         << ", drop_path=" << options.drop_path() << ", qk_norm=" << options.qk_norm() << ", init_values=";
  if (options.init_values()) stream << *options.init_values(); else stream << "None";
  stream << ")";
}

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
  TORCH_CHECK(o.depth() >= 0, "[VisionTransformer] depth must be non-negative, got ", o.depth());
  TORCH_CHECK(o.num_classes() >= 0, "[VisionTransformer] num_classes must be non-negative, got ", o.num_classes());
  TORCH_CHECK(!o.representation_size() || *o.representation_size() >= 0,
              "[VisionTransformer] representation_size must be non-negative, got ", *o.representation_size());
  TORCH_CHECK(D > 0 && o.num_heads() > 0 && D % o.num_heads() == 0, "[VisionTransformer] embed_dim ", D,
              " is not divisible by num_heads ", o.num_heads());
  TORCH_CHECK(o.reg_tokens() >= 0, "[VisionTransformer] reg_tokens must be non-negative, got ", o.reg_tokens());
  const auto& pool = o.global_pool();
  TORCH_CHECK(pool == "token" || pool == "avg" || pool == "max" || pool == "avgmax" || pool.empty(),
              "[VisionTransformer] global_pool must be 'token', 'avg', 'max', 'avgmax' or '', got '", pool, "'");
  TORCH_CHECK(o.class_token() || pool != "token", "[VisionTransformer] global_pool 'token' needs class_token");
  TORCH_CHECK(!o.distilled() || (o.class_token() && pool == "token" && o.reg_tokens() == 0 && !o.no_embed_class() &&
                                  !use_fc_norm()),
              "[VisionTransformer] distilled models need class_token, global_pool 'token', no reg_tokens, "
              "no no_embed_class and no fc_norm (as timm's VisionTransformerDistilled)");
  check_probability("VisionTransformer", "drop_rate", o.drop_rate());
  check_probability("VisionTransformer", "attn_drop_rate", o.attn_drop_rate());
  check_probability("VisionTransformer", "drop_path_rate", o.drop_path_rate());

  // Construction order follows the seed's __init__, so that a seeded build draws the same numbers.
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptions()
                                                              .img_size(o.img_size())
                                                              .patch_size(o.patch_size())
                                                              .in_chans(o.in_chans())
                                                              .embed_dim(D)
                                                              .bias(!o.pre_norm())
                                                              .strict_img_size(!o.dynamic_img_size())));
  cls_token = o.class_token() ? register_parameter("cls_token", torch::zeros({1, 1, D})) : torch::Tensor();
  dist_token = o.distilled() ? register_parameter("dist_token", torch::zeros({1, 1, D})) : torch::Tensor();
  reg_token = o.reg_tokens() > 0 ? register_parameter("reg_token", torch::zeros({1, o.reg_tokens(), D})) : torch::Tensor();
  const int64_t embed_len = num_patches() + (o.no_embed_class() ? 0 : num_prefix_tokens());
  pos_embed = register_parameter("pos_embed", torch::zeros({1, embed_len, D}));
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

torch::Tensor VisionTransformerImpl::forward_features(const torch::Tensor& images) {
  auto x = forward_embed(images);
  for (const auto& block : *blocks) x = block->as<BlockImpl>()->forward(x);
  return norm ? norm(x) : x;
}

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

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& x) { return forward_head(forward_features(x)); }

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

void VisionTransformerImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "vit::VisionTransformer(img_size=" << o.img_size() << ", patch_size=" << o.patch_size()
         << ", in_chans=" << o.in_chans() << ", num_classes=" << o.num_classes() << ", embed_dim=" << o.embed_dim()
         << ", depth=" << o.depth() << ", num_heads=" << o.num_heads() << ", mlp_ratio=" << o.mlp_ratio()
         << ", qkv_bias=" << std::boolalpha << o.qkv_bias() << ", representation_size=";
  if (o.representation_size()) stream << *o.representation_size(); else stream << "None";
  stream << ", distilled=" << o.distilled() << ", drop_rate=" << o.drop_rate()
         << ", attn_drop_rate=" << o.attn_drop_rate() << ", drop_path_rate=" << o.drop_path_rate();
  // current-timm options, printed when they differ from the seed's design
  if (o.global_pool() != "token") stream << ", global_pool='" << o.global_pool() << "'";
  if (!o.class_token()) stream << ", class_token=false";
  if (o.reg_tokens()) stream << ", reg_tokens=" << o.reg_tokens();
  if (o.no_embed_class()) stream << ", no_embed_class=true";
  if (o.init_values()) stream << ", init_values=" << *o.init_values();
  if (o.pre_norm()) stream << ", pre_norm=true";
  if (o.qk_norm()) stream << ", qk_norm=true";
  if (!o.final_norm()) stream << ", final_norm=false";
  if (o.fc_norm()) stream << ", fc_norm=" << *o.fc_norm();
  if (o.dynamic_img_size()) stream << ", dynamic_img_size=true";
  stream << ")";
}

}  // namespace vit
