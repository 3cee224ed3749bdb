#include "vit/vit_layers.h"

#include "vit/init.h"

#include "layers.h"

#include <algorithm>
#include <cmath>

namespace vit {

using detail::make_linear;
using detail::make_norm;

namespace {

void check_tokens(const char* module, const torch::Tensor& x, int64_t dim) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == dim, "[", module, "] expected tokens (B, N, ", dim, "), got ", x.sizes());
}

}  // namespace

Norm detail::make_norm(int64_t dim, const std::string& norm_layer, double eps) {
  return Norm(NormOptions(dim).norm_layer(norm_layer).eps(eps));
}

// ---------------------------------------------------------------------------------------------
// Norm

NormImpl::NormImpl(NormOptions options_) : options(std::move(options_)) { reset(); }

void NormImpl::reset() {
  check_options(options, "[Norm]");
  weight = register_parameter("weight", detail::uninitialised({options.dim()}));
  bias = rms() ? torch::Tensor() : register_parameter("bias", detail::uninitialised({options.dim()}));
  if (!SkipInitGuard::active()) reset_parameters();
}

void NormImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  weight.fill_(1.);
  if (bias.defined()) bias.zero_();
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.dim(), "[Norm] expected last dimension ", options.dim(),
              ", got input ", x.sizes());
  if (!rms()) return torch::layer_norm(x, {options.dim()}, weight, bias, options.eps());
  // ref: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + options.eps()) * weight;
}

void NormImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Norm", options); }

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
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_chans(), o.embed_dim(), o.patch_size())
                                                       .stride(o.patch_size())
                                                       .bias(o.bias())));
  norm = nullptr;
  if (!o.norm_layer().empty()) norm = register_module("norm", make_norm(o.embed_dim(), o.norm_layer(), o.norm_eps()));
}

std::array<int64_t, 2> PatchEmbedImpl::grid_size() const {
  // floor even with dynamic_img_pad: the position embedding's grid (timm pads only at run time)
  return {options.img_size()->at(0) / options.patch_size()->at(0), options.img_size()->at(1) / options.patch_size()->at(1)};
}

std::array<int64_t, 2> PatchEmbedImpl::feat_size(int64_t height, int64_t width) const {
  const int64_t ph = options.patch_size()->at(0), pw = options.patch_size()->at(1);
  if (options.dynamic_img_pad()) return {(height + ph - 1) / ph, (width + pw - 1) / pw};  // ref: math.ceil
  return {height / ph, width / pw};
}

int64_t PatchEmbedImpl::num_patches() const {
  const auto g = grid_size();
  return g[0] * g[1];
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_chans(), "[PatchEmbed] expected images (B, ",
              options.in_chans(), ", H, W), got ", x.sizes());
  const int64_t ph = options.patch_size()->at(0), pw = options.patch_size()->at(1);
  if (options.strict_img_size()) {
    TORCH_CHECK(x.size(2) == options.img_size()->at(0) && x.size(3) == options.img_size()->at(1),
                "[PatchEmbed] input image size (", x.size(2), "*", x.size(3), ") doesn't match model (",
                options.img_size()->at(0), "*", options.img_size()->at(1), ")");
  } else if (!options.dynamic_img_pad()) {
    TORCH_CHECK(x.size(2) % ph == 0 && x.size(3) % pw == 0 && x.size(2) > 0 && x.size(3) > 0,
                "[PatchEmbed] input image size (", x.size(2), "*", x.size(3), ") is not a multiple of the patch size (",
                ph, "*", pw, ")");
  }
  auto input = x;
  if (options.dynamic_img_pad()) {  // ref: F.pad(x, (0, pad_w, 0, pad_h))
    const int64_t pad_h = (ph - x.size(2) % ph) % ph, pad_w = (pw - x.size(3) % pw) % pw;
    if (pad_h || pad_w) input = torch::constant_pad_nd(x, {0, pad_w, 0, pad_h});
  }
  auto y = proj(input);
  if (options.flatten()) y = y.flatten(2).transpose(1, 2);  // ref: BCHW -> BNC
  if (norm) y = norm(y);
  return y;
}

void PatchEmbedImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::PatchEmbed", options); }

// ---------------------------------------------------------------------------------------------
// Attention

torch::Tensor scaled_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                               torch::nn::Dropout* drop, torch::Tensor* probs, const torch::Tensor& bias) {
  // ref: q = q * scale; attn = q @ k.transpose(-2, -1) [+ bias]; attn.softmax(-1); attn_drop(attn) @ v
  auto attn = torch::matmul(q * scale, k.transpose(-2, -1));
  if (bias.defined()) attn = attn + bias.to(attn.scalar_type());
  attn = attn.softmax(-1);
  if (probs) *probs = attn;
  return torch::matmul(drop ? (*drop)(attn) : attn, v);
}

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto& o = options;
  check_options(o, "[Attention]");
  TORCH_CHECK(o.dim() % o.num_heads() == 0, "[Attention] dim ", o.dim(), " is not divisible by num_heads ", o.num_heads());
  qkv = register_module("qkv", make_linear(o.dim(), 3 * o.dim(), o.qkv_bias()));
  q_norm = k_norm = norm = nullptr;
  if (o.qk_norm()) {
    q_norm = register_module("q_norm", make_norm(head_dim(), o.norm_layer(), o.norm_eps()));
    k_norm = register_module("k_norm", make_norm(head_dim(), o.norm_layer(), o.norm_eps()));
  }
  rel_pos = nullptr;  // timm's RelPosAttention registers it here
  if (o.rel_pos) {
    TORCH_CHECK(o.rel_pos->num_heads() == o.num_heads(), "[Attention] rel_pos has ", o.rel_pos->num_heads(),
                " heads, the attention ", o.num_heads());
    rel_pos = register_module("rel_pos", make_rel_pos(*o.rel_pos));
  }
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  if (o.scale_norm()) norm = register_module("norm", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
  proj = register_module("proj", make_linear(o.dim(), o.dim(), o.proj_bias()));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(o.proj_drop()));
}

torch::Tensor AttentionImpl::bias(const torch::Tensor& shared) {
  if (!rel_pos) return shared;
  auto own = rel_pos->get_bias();
  return shared.defined() ? own + shared : own;
}

double AttentionImpl::scale() const { return std::pow(static_cast<double>(head_dim()), -0.5); }

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  check_tokens("Attention", x, options.dim());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  // ref: qkv.reshape(B, N, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)
  auto qkv_ = qkv(x).reshape({B, N, 3, options.num_heads(), head_dim()}).permute({2, 0, 3, 1, 4});
  auto q = qkv_[0], k = qkv_[1], v = qkv_[2];
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  const auto b = bias(attn_bias);  // RelPosMlp's dropout draws here, after qkv, as in timm
  if (b.defined()) {
    TORCH_CHECK(b.size(-1) == N, "[Attention] the relative position bias is for ", b.size(-1), " tokens, got ", N,
                " (the model's input size is fixed)");
  }
  auto y = scaled_attention(q, k, v, scale(), &attn_drop, probs, b).transpose(1, 2).reshape({B, N, C});
  if (norm) y = norm(y);
  return proj_drop(proj(y));
}

void AttentionImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Attention", options); }

// ---------------------------------------------------------------------------------------------
// DiffAttention

DiffAttentionImpl::DiffAttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void DiffAttentionImpl::reset() {
  const auto& o = options;
  check_options(o, "[DiffAttention]");
  TORCH_CHECK(!o.rel_pos, "[DiffAttention] a relative position bias is not supported");
  TORCH_CHECK(o.dim() % (2 * o.num_heads()) == 0, "[DiffAttention] dim ", o.dim(), " is not divisible by 2 * num_heads ",
              2 * o.num_heads());
  // Registration order is timm's: qkv, q_norm, k_norm, norm, proj, lambdas, sub_norm.
  qkv = register_module("qkv", make_linear(o.dim(), 3 * o.dim(), o.qkv_bias()));
  q_norm = k_norm = norm = nullptr;
  if (o.qk_norm()) {
    q_norm = register_module("q_norm", make_norm(head_dim(), o.norm_layer(), o.norm_eps()));
    k_norm = register_module("k_norm", make_norm(head_dim(), o.norm_layer(), o.norm_eps()));
  }
  attn_drop = register_module("attn_drop", torch::nn::Dropout(o.attn_drop()));
  if (o.scale_norm()) norm = register_module("norm", make_norm(o.dim(), o.norm_layer(), o.norm_eps()));
  proj = register_module("proj", make_linear(o.dim(), o.dim(), o.proj_bias()));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(o.proj_drop()));
  lambda_q1 = detail::register_lambda(*this, "lambda_q1", head_dim());
  lambda_k1 = detail::register_lambda(*this, "lambda_k1", head_dim());
  lambda_q2 = detail::register_lambda(*this, "lambda_q2", head_dim());
  lambda_k2 = detail::register_lambda(*this, "lambda_k2", head_dim());
  sub_norm = register_module("sub_norm", make_norm(2 * head_dim(), "rmsnorm", 1e-5));
}

double DiffAttentionImpl::lambda_init() const { return detail::differential_lambda_init(options.depth()); }

torch::Tensor DiffAttentionImpl::lambda_full() const {
  return detail::differential_lambda(lambda_q1, lambda_k1, lambda_q2, lambda_k2, lambda_init());
}

namespace detail {

double differential_lambda_init(int64_t depth) { return 0.8 - 0.6 * std::exp(-0.3 * static_cast<double>(depth)); }

torch::Tensor differential_lambda(const torch::Tensor& q1, const torch::Tensor& k1, const torch::Tensor& q2,
                                  const torch::Tensor& k2, double lambda_init) {
  // ref: exp(sum(lambda_q1 * lambda_k1)) - exp(sum(lambda_q2 * lambda_k2)) + lambda_init
  return torch::exp((q1 * k1).sum(-1).to(torch::kFloat32)) - torch::exp((q2 * k2).sum(-1).to(torch::kFloat32)) + lambda_init;
}

torch::Tensor register_lambda(torch::nn::Module& module, const char* name, int64_t dim) {
  auto t = uninitialised({dim});
  if (!SkipInitGuard::active()) {
    torch::NoGradGuard no_grad;
    t.normal_(0., 0.1);  // ref: nn.init.normal_(lambda_*, mean=0, std=0.1)
  }
  return module.register_parameter(name, t);
}

// Differential attention on q, k (B, 2H, N, d) and v (B, H, N, 2d): (B, H, N, 2d), after sub_norm
// and the (1 - lambda_init) scale. Shared by DiffAttention and DiffParallelScalingBlock.
torch::Tensor differential_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& lambda_full, double lambda_init, double scale,
                                     torch::nn::Dropout& drop, Norm& sub_norm, torch::Tensor* probs) {
  const int64_t B = q.size(0), H = v.size(1), N = q.size(2);
  auto attn = torch::matmul(q * scale, k.transpose(-2, -1)).softmax(-1);
  if (probs) *probs = attn;
  attn = drop(attn).view({B, H, 2, N, N});
  // ref: attn[:, :, 0] - lambda_full * attn[:, :, 1]
  attn = attn.select(2, 0) - lambda_full.to(q.scalar_type()) * attn.select(2, 1);
  return sub_norm(torch::matmul(attn, v)) * (1. - lambda_init);
}

}  // namespace detail

torch::Tensor DiffAttentionImpl::forward(const torch::Tensor& x, torch::Tensor* probs, const torch::Tensor& attn_bias) {
  check_tokens("DiffAttention", x, options.dim());
  TORCH_CHECK(!attn_bias.defined(), "[DiffAttention] an attention bias (relative position) is not supported");
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = options.num_heads(), d = head_dim();
  const auto parts = qkv(x).chunk(3, 2);
  auto q = parts[0].reshape({B, N, 2 * H, d}).transpose(1, 2);
  auto k = parts[1].reshape({B, N, 2 * H, d}).transpose(1, 2);
  const auto v = parts[2].reshape({B, N, H, 2 * d}).transpose(1, 2);
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  auto y = detail::differential_attention(q, k, v, lambda_full(), lambda_init(), std::pow(static_cast<double>(d), -0.5),
                                          attn_drop, sub_norm, probs);
  y = y.transpose(1, 2).reshape({B, N, C});
  if (norm) y = norm(y);
  return proj_drop(proj(y));
}

void DiffAttentionImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::DiffAttention", options); }

// ---------------------------------------------------------------------------------------------
// Mlp, GluMlp, SwiGLU

namespace {

void check_last(const char* module, const torch::Tensor& x, int64_t width) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == width, "[", module, "] expected last dimension ", width, ", got input ",
              x.sizes());
}

}  // namespace

MlpImpl::MlpImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void MlpImpl::reset() {
  const auto& o = options;
  check_options(o, "[Mlp]");
  act = activation_from_name(o.act_layer());
  fc1 = register_module("fc1", make_linear(o.in_features(), o.hidden(), o.bias()));
  drop1 = register_module("drop1", torch::nn::Dropout(o.drop()));
  norm = o.scale_norm() ? register_module("norm", make_norm(o.hidden(), o.norm_layer(), o.norm_eps())) : nullptr;
  fc2 = register_module("fc2", make_linear(o.hidden(), o.out(), o.bias()));
  drop2 = register_module("drop2", torch::nn::Dropout(o.drop()));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  check_last("Mlp", x, options.in_features());
  auto h = drop1(activate(act, fc1(x)));
  if (norm) h = norm(h);
  return drop2(fc2(h));
}

void MlpImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::Mlp", options); }

GluMlpImpl::GluMlpImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void GluMlpImpl::reset() {
  const auto& o = options;
  check_options(o, "[GluMlp]");
  TORCH_CHECK(o.hidden() % 2 == 0, "[GluMlp] hidden_features ", o.hidden(), " must be even");
  act = activation_from_name(o.act_layer());
  fc1 = register_module("fc1", make_linear(o.in_features(), o.hidden(), o.bias()));
  drop1 = register_module("drop1", torch::nn::Dropout(o.drop()));
  norm = o.scale_norm() ? register_module("norm", make_norm(o.hidden() / 2, o.norm_layer(), o.norm_eps())) : nullptr;
  fc2 = register_module("fc2", make_linear(o.hidden() / 2, o.out(), o.bias()));
  drop2 = register_module("drop2", torch::nn::Dropout(o.drop()));
}

torch::Tensor GluMlpImpl::forward(const torch::Tensor& x) {
  check_last("GluMlp", x, options.in_features());
  const auto halves = fc1(x).chunk(2, -1);
  // ref: x1 * act(x2) if gate_last else act(x1) * x2
  auto h = options.gate_last() ? halves[0] * activate(act, halves[1]) : activate(act, halves[0]) * halves[1];
  h = drop1(h);
  if (norm) h = norm(h);
  return drop2(fc2(h));
}

void GluMlpImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::GluMlp", options); }

SwiGLUImpl::SwiGLUImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void SwiGLUImpl::reset() {
  const auto& o = options;
  check_options(o, "[SwiGLU]");
  act = activation_from_name(o.act_layer());
  fc1_g = register_module("fc1_g", make_linear(o.in_features(), o.hidden(), o.bias()));
  fc1_x = register_module("fc1_x", make_linear(o.in_features(), o.hidden(), o.bias()));
  drop1 = register_module("drop1", torch::nn::Dropout(o.drop()));
  norm = o.scale_norm() ? register_module("norm", make_norm(o.hidden(), o.norm_layer(), o.norm_eps())) : nullptr;
  fc2 = register_module("fc2", make_linear(o.hidden(), o.out(), o.bias()));
  drop2 = register_module("drop2", torch::nn::Dropout(o.drop()));
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x) {
  check_last("SwiGLU", x, options.in_features());
  auto h = drop1(activate(act, fc1_g(x)) * fc1_x(x));
  if (norm) h = norm(h);
  return drop2(fc2(h));
}

void SwiGLUImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::SwiGLU", options); }

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
// AttentionPoolLatent

AttentionPoolLatentImpl::AttentionPoolLatentImpl(AttentionPoolLatentOptions options_) : options(std::move(options_)) {
  reset();
}

void AttentionPoolLatentImpl::reset() {
  const auto& o = options;
  check_options(o, "[AttentionPoolLatent]");
  TORCH_CHECK(o.in_features() % o.num_heads() == 0, "[AttentionPoolLatent] dim ", o.in_features(), " is not divisible by num_heads ",
              o.num_heads());
  latent = register_parameter("latent", detail::tokens({1, 1, o.in_features()}));
  q = register_module("q", make_linear(o.in_features(), o.in_features()));
  kv = register_module("kv", make_linear(o.in_features(), 2 * o.in_features()));
  proj = register_module("proj", make_linear(o.in_features(), o.in_features()));
  norm = register_module("norm", make_norm(o.in_features(), o.norm_layer(), o.norm_eps()));
  const auto hidden = static_cast<int64_t>(static_cast<double>(o.in_features()) * o.mlp_ratio());  // ref: int(dim * mlp_ratio)
  mlp = register_module("mlp", Mlp(MlpOptions(o.in_features()).hidden_features(hidden).act_layer(o.act_layer())));
  if (!SkipInitGuard::active()) {
    torch::NoGradGuard no_grad;
    const double std = std::pow(static_cast<double>(o.in_features()), -0.5);
    trunc_normal_(latent, 0., std, -2. * std, 2. * std);  // ref: trunc_normal_tf_(latent, std=dim ** -0.5)
  }
}

torch::Tensor AttentionPoolLatentImpl::forward(const torch::Tensor& x, torch::Tensor* probs) {
  check_tokens("AttentionPoolLatent", x, options.in_features());
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), H = options.num_heads(), d = C / H;
  const auto qh = q(latent.expand({B, -1, -1})).reshape({B, 1, H, d}).transpose(1, 2);
  const auto kvh = kv(x).reshape({B, N, 2, H, d}).permute({2, 0, 3, 1, 4});
  auto y = scaled_attention(qh, kvh[0], kvh[1], std::pow(static_cast<double>(d), -0.5), nullptr, probs);
  y = proj(y.transpose(1, 2).reshape({B, 1, C}));
  y = y + mlp(norm(y));
  return y.select(1, 0);  // ref: pool 'token': x[:, 0]
}

int64_t AttentionPoolLatentImpl::count_macs(int64_t tokens) const {
  const int64_t D = options.in_features(), H = mlp->fc1->options.out_features();
  return 3 * D * D + 2 * tokens * D * D + 2 * tokens * D + 2 * D * H;  // q, kv, attention, proj, mlp
}

void AttentionPoolLatentImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::AttentionPoolLatent", options);
}

int64_t count_parameters(const AttentionPoolLatentOptions& o) {
  check_options(o, "[AttentionPoolLatent]");
  const int64_t D = o.in_features(), H = static_cast<int64_t>(static_cast<double>(D) * o.mlp_ratio());
  const int64_t norm = (o.norm_layer() == "rmsnorm" ? 1 : 2) * D;
  return D + (D * D + D) + 2 * (D * D + D) + (D * D + D) + norm + (D * H + H) + (H * D + D);  // latent, q, kv, proj, norm, mlp
}

std::pair<torch::Tensor, torch::Tensor> patch_dropout(const torch::Tensor& x, double prob, int64_t num_prefix_tokens,
                                                      bool training) {
  if (!training || prob == 0.) return {x, {}};
  TORCH_CHECK(prob > 0. && prob < 1., "[patch_dropout] prob must be in [0, 1), got ", prob);
  const int64_t B = x.size(0), L = x.size(1) - num_prefix_tokens;
  const int64_t kept = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(L) * (1. - prob)));
  const auto keep = torch::randn({B, L}, x.options().dtype(torch::kFloat32)).argsort(/*dim=*/int64_t{-1}).narrow(1, 0, kept);
  auto patches = x.narrow(1, num_prefix_tokens, L).gather(1, keep.unsqueeze(-1).expand({-1, -1, x.size(2)}));
  if (num_prefix_tokens > 0) patches = torch::cat({x.narrow(1, 0, num_prefix_tokens), patches}, 1);
  return {patches, keep};
}

torch::Tensor global_pool_nlc(const torch::Tensor& x, const std::string& pool_type, int64_t num_prefix_tokens) {
  if (pool_type.empty()) return x;
  if (pool_type == "token") return x.select(1, 0);  // ref: x[:, 0]
  const auto patches = x.narrow(1, num_prefix_tokens, x.size(1) - num_prefix_tokens);
  if (pool_type == "avg") return patches.mean(1);
  if (pool_type == "max") return patches.amax(1);
  TORCH_CHECK(pool_type == "avgmax", "[global_pool_nlc] unknown pool_type '", pool_type, "'");
  return 0.5 * (patches.amax(1) + patches.mean(1));
}

}  // namespace vit
