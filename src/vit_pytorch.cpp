#include "vit/vit_pytorch.h"

#include <cmath>

namespace vit {
namespace vit_pytorch {

namespace {

void check_probability(const char* module, const char* name, double p) {
  TORCH_CHECK(p >= 0. && p <= 1., "[vit_pytorch::", module, "] ", name, " must be in [0, 1], got ", p);
}

}  // namespace

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

AttentionOptions::AttentionOptions(int64_t dim) : dim_(dim) {}

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.dim() > 0 && o.heads() > 0 && o.dim_head() > 0, "[vit_pytorch::Attention] dim ", o.dim(),
              ", heads ", o.heads(), " and dim_head ", o.dim_head(), " must be positive");
  check_probability("Attention", "dropout", o.dropout());
  norm = o.norm() ? register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}))) : nullptr;
  dropout = register_module("dropout", torch::nn::Dropout(o.attn_dropout() ? o.dropout() : 0.));
  to_qkv = register_module("to_qkv", torch::nn::Linear(torch::nn::LinearOptions(o.dim(), 3 * inner_dim()).bias(false)));
  to_out = nullptr;
  if (project_out()) {
    to_out = register_module("to_out", torch::nn::Sequential(torch::nn::Linear(inner_dim(), o.dim()),
                                                             torch::nn::Dropout(o.dropout())));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 3 && input.size(2) == options.dim(), "[vit_pytorch::Attention] expected tokens (B, N, ",
              options.dim(), "), got ", input.sizes());
  const auto x = norm ? norm(input) : input;
  const int64_t B = x.size(0), N = x.size(1), h = options.heads(), d = options.dim_head();
  // ref: q, k, v = map(lambda t: rearrange(t, 'b n (h d) -> b h n d'), to_qkv(x).chunk(3, dim=-1))
  const auto qkv = to_qkv(x).reshape({B, N, 3, h, d}).permute({2, 0, 3, 1, 4});
  const auto q = qkv[0], k = qkv[1], v = qkv[2];
  const auto dots = torch::matmul(q, k.transpose(-1, -2)) * std::pow(static_cast<double>(d), -0.5);
  auto out = torch::matmul(dropout(dots.softmax(-1)), v);
  out = out.transpose(1, 2).reshape({B, N, h * d});  // ref: 'b h n d -> b n (h d)'
  return to_out ? to_out->forward(out) : out;
}

void AttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "vit::vit_pytorch::Attention(dim=" << options.dim() << ", heads=" << options.heads()
         << ", dim_head=" << options.dim_head() << ", dropout=" << options.dropout() << ", norm=" << std::boolalpha
         << options.norm() << ", attn_dropout=" << options.attn_dropout() << ")";
}

// ---------------------------------------------------------------------------------------------
// FeedForward

FeedForwardOptions::FeedForwardOptions(int64_t dim, int64_t hidden_dim) : dim_(dim), hidden_dim_(hidden_dim) {}

FeedForwardImpl::FeedForwardImpl(FeedForwardOptions options_) : options(std::move(options_)) { reset(); }

void FeedForwardImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.dim() > 0 && o.hidden_dim() > 0, "[vit_pytorch::FeedForward] dim ", o.dim(), " and hidden_dim ",
              o.hidden_dim(), " must be positive");
  check_probability("FeedForward", "dropout", o.dropout());
  // Separate statements: C++ leaves argument evaluation order open, and the Linears must draw their
  // initial weights in Python's order for seeded builds to match.
  torch::nn::Linear fc1(o.dim(), o.hidden_dim());
  torch::nn::Linear fc2(o.hidden_dim(), o.dim());
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
  stream << "vit::vit_pytorch::FeedForward(dim=" << options.dim() << ", hidden_dim=" << options.hidden_dim()
         << ", dropout=" << options.dropout() << ", norm=" << std::boolalpha << options.norm() << ")";
}

// ---------------------------------------------------------------------------------------------
// Transformer

TransformerOptions::TransformerOptions(int64_t dim, int64_t depth, int64_t heads, int64_t dim_head, int64_t mlp_dim)
    : dim_(dim), depth_(depth), heads_(heads), dim_head_(dim_head), mlp_dim_(mlp_dim) {}

TransformerImpl::TransformerImpl(TransformerOptions options_) : options(std::move(options_)) { reset(); }

void TransformerImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.depth() >= 0, "[vit_pytorch::Transformer] depth must be non-negative, got ", o.depth());
  TORCH_CHECK(o.layout() == "0.35" || o.layout() == "1.0" || o.layout() == "current",
              "[vit_pytorch::Transformer] layout must be '0.35', '1.0' or 'current', got '", o.layout(), "'");
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
  const bool current = options.layout() == "current";
  for (const auto& layer : *layers) {
    const auto& pair = *layer->as<torch::nn::ModuleList>();
    if (current) {
      x = pair[0]->as<AttentionImpl>()->forward(x) + x;
      x = pair[1]->as<FeedForwardImpl>()->forward(x) + x;
    } else {
      x = pair[0]->as<PreNormImpl>()->forward(x) + x;  // attention
      x = pair[1]->as<PreNormImpl>()->forward(x) + x;  // feed-forward
    }
  }
  return norm ? norm(x) : x;
}

void TransformerImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "vit::vit_pytorch::Transformer(dim=" << o.dim() << ", depth=" << o.depth() << ", heads=" << o.heads()
         << ", dim_head=" << o.dim_head() << ", mlp_dim=" << o.mlp_dim() << ", dropout=" << o.dropout()
         << ", layout='" << o.layout() << "')";
}

// ---------------------------------------------------------------------------------------------
// ViT

ViTOptions::ViTOptions(torch::ExpandingArray<2> image_size, torch::ExpandingArray<2> patch_size, int64_t num_classes,
                       int64_t dim, int64_t depth, int64_t heads, int64_t mlp_dim)
    : image_size_(image_size),
      patch_size_(patch_size),
      num_classes_(num_classes),
      dim_(dim),
      depth_(depth),
      heads_(heads),
      mlp_dim_(mlp_dim) {}

ViTImpl::ViTImpl(ViTOptions options_) : options(std::move(options_)) { reset(); }

int64_t ViTImpl::num_patches() const {
  return (options.image_size()->at(0) / options.patch_size()->at(0)) *
         (options.image_size()->at(1) / options.patch_size()->at(1));
}

int64_t ViTImpl::patch_dim() const {
  return options.channels() * options.patch_size()->at(0) * options.patch_size()->at(1);
}

void ViTImpl::reset() {
  const auto& o = options;
  for (int i = 0; i < 2; ++i) {
    const int64_t image = o.image_size()->at(i), patch = o.patch_size()->at(i);
    TORCH_CHECK(patch > 0 && image > 0 && image % patch == 0, "[vit_pytorch::ViT] image_size ", o.image_size(),
                " must be divisible by patch_size ", o.patch_size());
  }
  TORCH_CHECK(o.pool() == "cls" || o.pool() == "mean", "[vit_pytorch::ViT] pool must be 'cls' or 'mean', got '",
              o.pool(), "'");
  TORCH_CHECK(o.num_classes() > 0 && o.dim() > 0 && o.channels() > 0 && o.mlp_dim() > 0,
              "[vit_pytorch::ViT] num_classes ", o.num_classes(), ", dim ", o.dim(), ", channels ", o.channels(),
              " and mlp_dim ", o.mlp_dim(), " must be positive");
  check_probability("ViT", "emb_dropout", o.emb_dropout());

  TORCH_CHECK(o.layout() == "0.35" || o.layout() == "1.0" || o.layout() == "current",
              "[vit_pytorch::ViT] layout must be '0.35', '1.0' or 'current', got '", o.layout(), "'");

  // Construction order follows Python's __init__, so that a seeded build draws the same numbers.
  to_patch_embedding = register_module("to_patch_embedding", torch::nn::Sequential(PatchRearrange(o.patch_size()->at(0), o.patch_size()->at(1))));
  if (o.layout() == "0.35") {
    to_patch_embedding->push_back(torch::nn::Linear(patch_dim(), o.dim()));
  } else {  // dual patch norm
    to_patch_embedding->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({patch_dim()})));
    to_patch_embedding->push_back(torch::nn::Linear(patch_dim(), o.dim()));
    to_patch_embedding->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  }
  if (o.layout() == "current") {  // cls_token first, 2-D, none with mean pooling
    cls_token = register_parameter("cls_token", torch::randn({num_cls_tokens(), o.dim()}));
    pos_embedding = register_parameter("pos_embedding", torch::randn({num_patches() + num_cls_tokens(), o.dim()}));
  } else {
    pos_embedding = register_parameter("pos_embedding", torch::randn({1, num_patches() + 1, o.dim()}));
    cls_token = register_parameter("cls_token", torch::randn({1, 1, o.dim()}));
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
    head = register_module("mlp_head", torch::nn::Linear(o.dim(), o.num_classes()));
  } else {
    mlp_head = register_module("mlp_head", torch::nn::Sequential(torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})),
                                                                 torch::nn::Linear(o.dim(), o.num_classes())));
  }
}

torch::Tensor ViTImpl::forward(const torch::Tensor& img) { return forward_head(transformer(forward_embed(img))); }

torch::Tensor ViTImpl::forward_embed(const torch::Tensor& img) {
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
  return dropout(x);
}

torch::Tensor ViTImpl::forward_head(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) > 0 && tokens.size(2) == options.dim(),
              "[vit_pytorch::ViT] forward_head expects tokens (B, N, ", options.dim(), "), got ", tokens.sizes());
  auto x = options.pool() == "mean" ? tokens.mean(1) : tokens.select(1, 0);
  x = to_latent(x);
  return head ? head(x) : mlp_head->forward(x);
}

void ViTImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "vit::ViT(image_size=" << o.image_size() << ", patch_size=" << o.patch_size()
         << ", num_classes=" << o.num_classes() << ", dim=" << o.dim() << ", depth=" << o.depth()
         << ", heads=" << o.heads() << ", mlp_dim=" << o.mlp_dim() << ", pool='" << o.pool()
         << "', channels=" << o.channels() << ", dim_head=" << o.dim_head() << ", dropout=" << o.dropout()
         << ", emb_dropout=" << o.emb_dropout() << ", layout='" << o.layout() << "')";
}

}  // namespace vit_pytorch
}  // namespace vit
