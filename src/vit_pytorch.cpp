#include "vit/vit_pytorch.h"

#include "vit/init.h"
#include "vit/state_dict.h"

#include "families.h"
#include "layers.h"

#include <algorithm>
#include <cmath>

namespace vit {
namespace vit_pytorch {

using detail::make_linear;

// ---------------------------------------------------------------------------------------------
// PatchRearrange

PatchRearrangeImpl::PatchRearrangeImpl(int64_t p1_, int64_t p2_) : p1(p1_), p2(p2_) { reset(); }

void PatchRearrangeImpl::reset() {
  TORCH_CHECK(p1 > 0 && p2 > 0, "[vit_pytorch::PatchRearrange] patch sizes must be positive, got ", p1, "x", p2);
}

torch::Tensor PatchRearrangeImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "[vit_pytorch::PatchRearrange] expected images (B, C, H, W), got ", x.sizes());
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(H % p1 == 0 && W % p2 == 0, "[vit_pytorch::PatchRearrange] image size (", H, "*", W,
              ") is not divisible by the patch size (", p1, "*", p2, ")");
  const int64_t h = H / p1, w = W / p2;
  // ref: 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'
  return x.reshape({B, C, h, p1, w, p2}).permute({0, 2, 4, 3, 5, 1}).reshape({B, h * w, p1 * p2 * C});
}

void PatchRearrangeImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::vit_pytorch::PatchRearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=" << p1
         << ", p2=" << p2 << ")";
}

// ---------------------------------------------------------------------------------------------
// PreNorm

PreNormImpl::PreNormImpl(int64_t dim_, torch::nn::AnyModule fn_) : dim(dim_), fn(std::move(fn_)) { reset(); }

void PreNormImpl::reset() {
  TORCH_CHECK(dim > 0, "[vit_pytorch::PreNorm] dim must be positive, got ", dim);
  TORCH_CHECK(!fn.is_empty(), "[vit_pytorch::PreNorm] fn is empty");
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  register_module("fn", fn.ptr());
}

std::shared_ptr<torch::nn::Module> PreNormImpl::clone(const c10::optional<torch::Device>& device) const {
  auto copy = std::make_shared<PreNormImpl>(dim, fn.clone(device));
  copy->norm = copy->replace_module("norm", torch::nn::LayerNorm(std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(
                                                 norm->clone(device))));
  copy->train(is_training());
  return copy;
}

torch::Tensor PreNormImpl::forward(const torch::Tensor& x) { return fn.forward<torch::Tensor>(norm(x)); }

void PreNormImpl::pretty_print(std::ostream& stream) const { stream << "vit::vit_pytorch::PreNorm(dim=" << dim << ")"; }

// ---------------------------------------------------------------------------------------------
// Attention

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto& o = options;
  check_options(o, "[vit_pytorch::Attention]");
  norm = o.norm() ? register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}))) : nullptr;
  dropout = register_module("dropout", torch::nn::Dropout(o.attn_dropout() ? o.dropout() : 0.));
  to_qkv = register_module("to_qkv", make_linear(o.dim(), 3 * inner_dim(), /*bias=*/false));
  to_out = nullptr;
  if (project_out()) {
    to_out = register_module("to_out", torch::nn::Sequential(make_linear(inner_dim(), o.dim()), torch::nn::Dropout(o.dropout())));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& input) { return forward_with_probs(input, nullptr); }

torch::Tensor AttentionImpl::forward_with_probs(const torch::Tensor& input, torch::Tensor* probs) {
  TORCH_CHECK(input.dim() == 3 && input.size(2) == options.dim(), "[vit_pytorch::Attention] expected tokens (B, N, ",
              options.dim(), "), got ", input.sizes());
  const auto x = norm ? norm(input) : input;
  const int64_t B = x.size(0), N = x.size(1), h = options.heads(), d = options.dim_head();
  // ref: q, k, v = map(lambda t: rearrange(t, 'b n (h d) -> b h n d'), to_qkv(x).chunk(3, dim=-1))
  const auto qkv = to_qkv(x).reshape({B, N, 3, h, d}).permute({2, 0, 3, 1, 4});
  const auto q = qkv[0], k = qkv[1], v = qkv[2];
  const auto dots = torch::matmul(q, k.transpose(-1, -2)) * std::pow(static_cast<double>(d), -0.5);
  const auto attn = dots.softmax(-1);
  if (probs) *probs = attn;
  auto out = torch::matmul(dropout(attn), v);
  out = out.transpose(1, 2).reshape({B, N, h * d});  // ref: 'b h n d -> b n (h d)'
  return to_out ? to_out->forward(out) : out;
}

void AttentionImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::vit_pytorch::Attention", options);
}

// ---------------------------------------------------------------------------------------------
// FeedForward

FeedForwardImpl::FeedForwardImpl(FeedForwardOptions options_) : options(std::move(options_)) { reset(); }

void FeedForwardImpl::reset() {
  const auto& o = options;
  check_options(o, "[vit_pytorch::FeedForward]");
  // Separate statements: C++ leaves argument evaluation order open, and the Linears must draw their
  // initial weights in Python's order for seeded builds to match.
  auto fc1 = make_linear(o.dim(), o.hidden_dim());
  auto fc2 = make_linear(o.hidden_dim(), o.dim());
  net = register_module("net", torch::nn::Sequential());
  if (o.norm()) net->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  net->extend(*torch::nn::Sequential(fc1, torch::nn::GELU(), torch::nn::Dropout(o.dropout()), fc2,
                                     torch::nn::Dropout(o.dropout())));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.dim(), "[vit_pytorch::FeedForward] expected last dimension ",
              options.dim(), ", got input ", x.sizes());
  return net->forward(x);
}

void FeedForwardImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::vit_pytorch::FeedForward", options);
}

// ---------------------------------------------------------------------------------------------
// Transformer

TransformerImpl::TransformerImpl(TransformerOptions options_) : options(std::move(options_)) { reset(); }

void TransformerImpl::reset() {
  const auto& o = options;
  check_options(o, "[vit_pytorch::Transformer]");
  const bool current = o.layout() == "current";
  norm = current ? register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}))) : nullptr;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth(); ++i) {
    Attention attn(AttentionOptions(o.dim())
                       .heads(o.heads())
                       .dim_head(o.dim_head())
                       .dropout(o.dropout())
                       .norm(current)
                       .attn_dropout(o.layout() != "0.35"));
    FeedForward ff(FeedForwardOptions(o.dim(), o.mlp_dim()).dropout(o.dropout()).norm(current));
    if (current) {
      layers->push_back(torch::nn::ModuleList(attn, ff));
    } else {
      layers->push_back(torch::nn::ModuleList(PreNorm(o.dim(), torch::nn::AnyModule(attn)),
                                              PreNorm(o.dim(), torch::nn::AnyModule(ff))));
    }
  }
}

torch::Tensor TransformerImpl::forward(torch::Tensor x) {
  x = forward_layers(std::move(x));
  return norm ? norm(x) : x;
}

torch::Tensor TransformerImpl::forward_layers(torch::Tensor x) {
  for (int64_t i = 0; i < static_cast<int64_t>(layers->size()); ++i) x = forward_layer(i, std::move(x));
  return x;
}

torch::Tensor TransformerImpl::forward_layer(int64_t index, torch::Tensor x, torch::Tensor* probs) {
  TORCH_CHECK(index >= 0 && index < static_cast<int64_t>(layers->size()), "[vit_pytorch::Transformer] layer ", index,
              " out of range");
  const auto& pair = *layers[static_cast<size_t>(index)]->as<torch::nn::ModuleList>();
  if (options.layout() == "current") {
    x = pair[0]->as<AttentionImpl>()->forward_with_probs(x, probs) + x;
    return pair[1]->as<FeedForwardImpl>()->forward(x) + x;
  }
  auto* attn = pair[0]->as<PreNormImpl>();  // PreNorm(Attention), PreNorm(FeedForward)
  x = attn->fn.ptr()->as<AttentionImpl>()->forward_with_probs(attn->norm(x), probs) + x;
  return pair[1]->as<PreNormImpl>()->forward(x) + x;
}

void TransformerImpl::pretty_print(std::ostream& stream) const {
  print_options(stream, "vit::vit_pytorch::Transformer", options);
}

// ---------------------------------------------------------------------------------------------
// ViT

ViTImpl::ViTImpl(ViTOptions options_) : options(std::move(options_)) { reset(); }


void ViTImpl::reset() {
  const auto& o = options;
  check_options(o, "[vit_pytorch::ViT]");
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(o.image_size()->at(i) % o.patch_size()->at(i) == 0, "[vit_pytorch::ViT] image_size ", o.image_size(),
                " must be divisible by patch_size ", o.patch_size());
  }
  const bool skip_init = SkipInitGuard::active();
  auto tokens = [&](at::IntArrayRef shape) { return skip_init ? detail::uninitialised(shape) : torch::randn(shape); };

  // Construction order follows Python's __init__, so that a seeded build draws the same numbers.
  to_patch_embedding = register_module("to_patch_embedding", torch::nn::Sequential(PatchRearrange(o.patch_size()->at(0), o.patch_size()->at(1))));
  if (o.layout() == "0.35") {
    to_patch_embedding->push_back(make_linear(patch_dim(), o.dim()));
  } else {  // dual patch norm
    to_patch_embedding->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({patch_dim()})));
    to_patch_embedding->push_back(make_linear(patch_dim(), o.dim()));
    to_patch_embedding->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  }
  if (o.layout() == "current") {  // cls_token first, 2-D, none with mean pooling
    cls_token = register_parameter("cls_token", tokens({num_cls_tokens(), o.dim()}));
    pos_embedding = register_parameter("pos_embedding", tokens({num_patches() + num_cls_tokens(), o.dim()}));
  } else {
    pos_embedding = register_parameter("pos_embedding", tokens({1, num_patches() + 1, o.dim()}));
    cls_token = register_parameter("cls_token", tokens({1, 1, o.dim()}));
  }
  dropout = register_module("dropout", torch::nn::Dropout(o.emb_dropout()));
  transformer = register_module("transformer", Transformer(TransformerOptions(o.dim(), o.depth(), o.heads(), o.dim_head(),
                                                                              o.mlp_dim())
                                                               .dropout(o.dropout())
                                                               .layout(o.layout())));
  to_latent = register_module("to_latent", torch::nn::Identity());
  mlp_head = nullptr;
  head = nullptr;
  if (o.layout() == "current") {
    head = register_module("mlp_head", make_linear(o.dim(), o.num_classes()));
  } else {
    mlp_head = register_module("mlp_head", torch::nn::Sequential(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})),
                                                                 make_linear(o.dim(), o.num_classes())));
  }
}

std::vector<std::string> ViTImpl::classifier() const { return {head ? "mlp_head" : "mlp_head.1"}; }

int64_t ViTImpl::layer_id(const std::string& name) const {
  const auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("to_patch_embedding") || starts("cls_token") || starts("pos_embedding")) return 0;
  if (starts("transformer.layers.")) {
    const auto end = name.find('.', 19);
    return 1 + std::stoll(name.substr(19, end - 19));
  }
  if (starts("transformer.norm")) return num_blocks();
  return num_blocks() + 1;
}

Embedded ViTImpl::forward_embed(const torch::Tensor& img) {
  TORCH_CHECK(img.dim() == 4 && img.size(1) == options.channels(), "[vit_pytorch::ViT] expected images (B, ",
              options.channels(), ", H, W), got ", img.sizes());
  auto x = to_patch_embedding->forward(img);
  const int64_t b = x.size(0), n = x.size(1);
  TORCH_CHECK(n <= num_patches(), "[vit_pytorch::ViT] input image size (", img.size(2), "*", img.size(3), ") gives ",
              n, " patches, more than the model's ", num_patches(), " (image_size ", options.image_size(), ")");
  // ref: x = cat((cls_tokens, x), dim=1); x += pos_embedding[:, :(n + 1)]
  const int64_t n_cls = cls_token.size(-2);
  const auto cls = cls_token.dim() == 2 ? cls_token.unsqueeze(0) : cls_token;
  const auto pos = pos_embedding.dim() == 2 ? pos_embedding.unsqueeze(0) : pos_embedding;
  x = torch::cat({cls.expand({b, -1, -1}), x}, 1) + pos.narrow(1, 0, n + n_cls);
  BlockContext context;
  context.grid = feat_size(img.size(2), img.size(3));
  return {dropout(x), context};
}

torch::Tensor ViTImpl::forward_block(int64_t index, const torch::Tensor& tokens, const BlockContext& /*context*/,
                                   torch::Tensor* probs) {
  return transformer->forward_layer(index, tokens, probs);
}

torch::Tensor ViTImpl::forward_norm(const torch::Tensor& tokens) {
  return transformer->norm ? transformer->norm(tokens) : tokens;
}

torch::Tensor ViTImpl::forward_head(const torch::Tensor& tokens, bool pre_logits) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) > 0 && tokens.size(2) == options.dim(),
              "[vit_pytorch::ViT] forward_head expects tokens (B, N, ", options.dim(), "), got ", tokens.sizes());
  auto x = options.pool() == "mean" ? tokens.mean(1) : tokens.select(1, 0);
  x = to_latent(x);
  if (head) return pre_logits ? x : head(x);  // layout "current": mlp_head is a Linear
  if (pre_logits) return mlp_head->ptr(0)->as<torch::nn::LayerNorm>()->forward(x);
  return mlp_head->forward(x);
}

int64_t ViTImpl::num_patches() const {
  return (options.image_size()->at(0) / options.patch_size()->at(0)) *
         (options.image_size()->at(1) / options.patch_size()->at(1));
}

int64_t ViTImpl::patch_dim() const {
  return options.channels() * options.patch_size()->at(0) * options.patch_size()->at(1);
}

std::array<int64_t, 3> ViTImpl::input_size() const {
  return {options.channels(), options.image_size()->at(0), options.image_size()->at(1)};
}

int64_t ViTImpl::count_macs(int64_t height, int64_t width) const {
  const auto& o = options;
  const int64_t N = (height / o.patch_size()->at(0)) * (width / o.patch_size()->at(1)), T = N + num_cls_tokens();
  const int64_t inner = o.heads() * o.dim_head(), D = o.dim();
  const bool project_out = !(o.heads() == 1 && o.dim_head() == D);
  int64_t macs = N * patch_dim() * D;
  macs += o.depth() * (T * D * 3 * inner + 2 * T * T * inner + (project_out ? T * inner * D : 0) + 2 * T * D * o.mlp_dim());
  return macs + D * o.num_classes();
}

std::vector<BlockWeights> ViTImpl::block_weights() const {
  auto norm = [](const torch::nn::LayerNormImpl& ln) { return BlockWeights::Norm{ln.weight, ln.bias, ln.options.eps()}; };
  auto linear = [](const torch::nn::Module& m) {
    const auto* l = m.as<torch::nn::Linear>();
    return BlockWeights::Linear{l->weight, l->bias};
  };
  const bool current = options.layout() == "current";
  std::vector<BlockWeights> out;
  for (const auto& layer : *transformer->layers) {
    const auto& pair = *layer->as<torch::nn::ModuleList>();
    // each layer is (attention, feed-forward): wrapped in PreNorm (0.35, 1.0) or with the norm inside (current)
    const auto* attn = current ? pair[0]->as<AttentionImpl>() : pair[0]->as<PreNormImpl>()->fn.get<Attention>().get();
    const auto* ff = current ? pair[1]->as<FeedForwardImpl>() : pair[1]->as<PreNormImpl>()->fn.get<FeedForward>().get();
    const auto& net = *ff->net;
    const size_t first = current ? 1 : 0;  // net: [LayerNorm,] Linear, GELU, Dropout, Linear, Dropout
    BlockWeights w;
    w.heads = options.heads();
    w.head_dim = options.dim_head();
    w.scale = std::pow(static_cast<double>(options.dim_head()), -0.5);
    w.norm1 = norm(current ? *attn->norm : *pair[0]->as<PreNormImpl>()->norm);
    w.norm2 = norm(current ? *net.ptr(0)->as<torch::nn::LayerNorm>() : *pair[1]->as<PreNormImpl>()->norm);
    w.qkv = {attn->to_qkv->weight, {}};
    if (attn->to_out) w.proj = linear(*attn->to_out->ptr(0));
    w.fc1 = linear(*net.ptr(first));
    w.fc2 = linear(*net.ptr(first + 3));
    out.push_back(std::move(w));
  }
  return out;
}

void ViTImpl::checkpoint_filter_fn(StateDict& state) const {
  const auto params = named_parameters();
  for (auto& [name, tensor] : state) {
    // some "current" releases keep a leading batch dimension of 1 on the tokens
    if ((name == "cls_token" || name == "pos_embedding") && options.layout() == "current" && tensor.dim() == 3 &&
        tensor.size(0) == 1)
      tensor = tensor.squeeze(0);
    const auto* target = params.find(name);
    if (name.rfind("to_patch_embedding.", 0) == 0 && target && tensor.sizes() != target->sizes()) {
      if (auto converted = convert_patch_weight(tensor, *target); converted.defined()) tensor = converted;
    }
  }
}

void ViTImpl::pretty_print(std::ostream& stream) const { print_options(stream, "vit::ViT", options); }

}  // namespace vit_pytorch

void detail::vit_pytorch_args_from_weights(const StateDict& state, Json& args) {
  // The keys tell the vit-pytorch version: 0.35.x (PreNorm), 1.0.x (dual patch norm), current (norms in blocks).
  const auto has = [&](const std::string& prefix) {
    return std::any_of(state.begin(), state.end(), [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
  };
  if (!args.contains("layout")) args["layout"] = has("transformer.norm.") ? "current" : has("to_patch_embedding.3.") ? "1.0" : "0.35";
}

int64_t count_parameters(const vit_pytorch::ViTOptions& o) {
  check_options(o, "[vit_pytorch::ViT]");
  const double D = static_cast<double>(o.dim()), inner = static_cast<double>(o.heads() * o.dim_head());
  const double H = static_cast<double>(o.mlp_dim());
  const double patch_dim = static_cast<double>(o.channels() * o.patch_size()->at(0) * o.patch_size()->at(1));
  const double patches = static_cast<double>(o.image_size()->at(0) / o.patch_size()->at(0)) *
                         static_cast<double>(o.image_size()->at(1) / o.patch_size()->at(1));
  const bool current = o.layout() == "current";
  const double n_cls = current && o.pool() == "mean" ? 0. : 1.;
  double n = patch_dim * D + D + (o.layout() == "0.35" ? 0. : 2 * patch_dim + 2 * D);  // to_patch_embedding
  n += (patches + n_cls) * D + n_cls * D;                                                 // pos_embedding, cls_token
  const bool project_out = !(o.heads() == 1 && o.dim_head() == o.dim());
  const double layer = 2 * D + 3 * D * inner + (project_out ? inner * D + D : 0.) + 2 * D + D * H + H + H * D + D;
  n += static_cast<double>(o.depth()) * layer;
  n += current ? 2 * D : 0.;                                     // transformer.norm
  n += (current ? 0. : 2 * D) + D * static_cast<double>(o.num_classes()) + static_cast<double>(o.num_classes());  // mlp_head
  return n >= 9e18 ? INT64_MAX : static_cast<int64_t>(n);
}

}  // namespace vit
