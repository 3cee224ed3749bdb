#include "vit/inference.h"

#include "blocks.h"
#include "vit/vision_transformer.h"
#include "vit/vit_pytorch.h"

#include <torch/version.h>

#include <cmath>

namespace vit {

namespace detail {
namespace {

// ---- weights of either family as BlockWeights -----------------------------------------------------

LayerNormWeights layer_norm(const torch::nn::LayerNorm& ln) {
  if (!ln) return {};
  return {ln->weight, ln->bias, ln->options.eps()};
}

LinearWeights linear(const torch::nn::Linear& l) { return {l->weight, l->bias}; }

BlockWeights timm_block(const BlockImpl& b) {
  BlockWeights w;
  w.heads = b.attn->options.num_heads();
  w.head_dim = b.attn->head_dim();
  w.scale = b.attn->scale();
  w.norm1 = layer_norm(b.norm1);
  w.norm2 = layer_norm(b.norm2);
  w.q_norm = layer_norm(b.attn->q_norm);
  w.k_norm = layer_norm(b.attn->k_norm);
  w.qkv = linear(b.attn->qkv);
  w.proj = linear(b.attn->proj);
  w.fc1 = linear(b.mlp->fc1);
  w.fc2 = linear(b.mlp->fc2);
  if (b.ls1) {
    w.ls1 = b.ls1->gamma;
    w.ls2 = b.ls2->gamma;
  }
  return w;
}

// A layer of vit-pytorch's Transformer: ModuleList(attention, feed-forward), each wrapped in PreNorm
// (layouts 0.35 / 1.0) or with the norm inside (current); parameters found by their state_dict names.
BlockWeights lucid_block(const torch::nn::Module& layer, const vit_pytorch::TransformerOptions& o) {
  const bool current = o.layout() == "current";
  const std::string attn = current ? "0." : "0.fn.", ff = current ? "1.net." : "1.fn.net.";
  const int fc1 = current ? 1 : 0, fc2 = current ? 4 : 3;
  const auto eps = 1e-5;  // nn.LayerNorm's default in every vit-pytorch layout
  const auto params = layer.named_parameters();
  auto param = [&](const std::string& name) {
    const auto* found = params.find(name);
    return found ? *found : torch::Tensor();
  };
  BlockWeights w;
  w.heads = o.heads();
  w.head_dim = o.dim_head();
  w.scale = std::pow(static_cast<double>(o.dim_head()), -0.5);
  w.norm1 = {param("0.norm.weight"), param("0.norm.bias"), eps};
  w.norm2 = current ? LayerNormWeights{param("1.net.0.weight"), param("1.net.0.bias"), eps}
                    : LayerNormWeights{param("1.norm.weight"), param("1.norm.bias"), eps};
  w.qkv = {param(attn + "to_qkv.weight"), {}};
  w.proj = {param(attn + "to_out.0.weight"), param(attn + "to_out.0.bias")};
  w.fc1 = {param(ff + std::to_string(fc1) + ".weight"), param(ff + std::to_string(fc1) + ".bias")};
  w.fc2 = {param(ff + std::to_string(fc2) + ".weight"), param(ff + std::to_string(fc2) + ".bias")};
  TORCH_CHECK(w.norm1.defined() && w.norm2.defined() && w.qkv.defined() && w.fc1.defined() && w.fc2.defined(),
              "[InferenceModel] unexpected vit-pytorch layer layout");
  return w;
}

// ---- the LibTorch engine ---------------------------------------------------------------------------

torch::Tensor layer_norm_of(const torch::Tensor& x, const LayerNormWeights& n) {
  return torch::layer_norm(x, {x.size(-1)}, n.weight, n.bias, n.eps);
}

class TorchBlocks final : public Blocks {
 public:
  explicit TorchBlocks(std::vector<BlockWeights> blocks) : blocks_(std::move(blocks)) {}

  torch::Tensor forward(const torch::Tensor& tokens, int64_t last_rows) const override {
    auto x = tokens;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto& b = blocks_[i];
      const int64_t B = x.size(0), N = x.size(1);
      // the last block: only the first `last_rows` tokens' queries (every token is a key and value)
      const int64_t Nq = i + 1 == blocks_.size() ? last_rows : N;
      const auto qkv = torch::linear(layer_norm_of(x, b.norm1), b.qkv.weight, b.qkv.bias)
                           .view({B, N, 3, b.heads, b.head_dim})
                           .permute({2, 0, 3, 1, 4});
      auto q = qkv[0].narrow(2, 0, Nq), k = qkv[1], v = qkv[2];
      if (b.q_norm.defined()) {
        q = layer_norm_of(q, b.q_norm);
        k = layer_norm_of(k, b.k_norm);
      }
#if TORCH_VERSION_MAJOR >= 2
      // flash / memory-efficient kernels on CUDA; its default scale is head_dim^-0.5, as both families use
      auto o = at::scaled_dot_product_attention(q, k, v);
#else
      auto o = torch::matmul(torch::matmul(q, k.transpose(-2, -1)).mul_(b.scale).softmax(-1), v);
#endif
      auto y = o.transpose(1, 2).reshape({B, Nq, b.inner()});
      if (b.proj.defined()) y = torch::linear(y, b.proj.weight, b.proj.bias);
      if (Nq < N) x = x.narrow(1, 0, Nq);
      x = b.ls1.defined() ? x.addcmul(y, b.ls1) : x + y;
      y = torch::linear(torch::gelu(torch::linear(layer_norm_of(x, b.norm2), b.fc1.weight, b.fc1.bias)), b.fc2.weight,
                        b.fc2.bias);
      x = b.ls2.defined() ? x.addcmul_(y, b.ls2) : x.add_(y);
    }
    return x;
  }

 private:
  std::vector<BlockWeights> blocks_;
};

}  // namespace

std::unique_ptr<Blocks> make_torch_blocks(std::vector<BlockWeights> blocks) {
  return std::make_unique<TorchBlocks>(std::move(blocks));
}

}  // namespace detail

// ---- InferenceModel ----------------------------------------------------------------------------------

struct InferenceModel::Impl {
  std::shared_ptr<torch::nn::Module> model;  // keeps the embedding, final norm and head alive
  std::function<torch::Tensor(const torch::Tensor&)> embed;
  std::function<torch::Tensor(const torch::Tensor&)> head;  // final norm + head
  std::unique_ptr<detail::Blocks> blocks;
  int64_t head_tokens = 0;  // the leading tokens the head reads (0: all), all the last block computes
  std::string backend;
};

InferenceModel::InferenceModel(std::shared_ptr<torch::nn::Module> model, InferenceOptions options) {
  TORCH_CHECK(model, "[InferenceModel] model is null");
  const auto& backend = options.backend();
  TORCH_CHECK(backend == "auto" || backend == "onednn" || backend == "torch",
              "[InferenceModel] backend must be 'auto', 'onednn' or 'torch', got '", backend, "'");
  auto impl = std::make_shared<Impl>();
  impl->model = model;
  std::vector<detail::BlockWeights> blocks;
  int64_t rows = 0;
  if (auto timm = std::dynamic_pointer_cast<VisionTransformerImpl>(model)) {
    for (const auto& block : *timm->blocks) blocks.push_back(detail::timm_block(*block->as<BlockImpl>()));
    impl->embed = [timm](const torch::Tensor& x) { return timm->forward_embed(x); };
    impl->head = [timm](const torch::Tensor& x) { return timm->forward_head(timm->norm ? timm->norm(x) : x); };
    rows = timm->num_prefix_tokens() + timm->num_patches();
    impl->head_tokens = timm->head_tokens();
  } else if (auto lucid = std::dynamic_pointer_cast<vit_pytorch::ViTImpl>(model)) {
    const auto& transformer = lucid->transformer;
    for (const auto& layer : *transformer->layers) blocks.push_back(detail::lucid_block(*layer, transformer->options));
    impl->embed = [lucid](const torch::Tensor& x) { return lucid->forward_embed(x); };
    impl->head = [lucid](const torch::Tensor& x) {
      return lucid->forward_head(lucid->transformer->norm ? lucid->transformer->norm(x) : x);
    };
    rows = lucid->num_cls_tokens() + lucid->num_patches();
    impl->head_tokens = lucid->head_tokens();
  } else {
    TORCH_CHECK(false, "[InferenceModel] model is neither a vit::VisionTransformer nor a vit::ViT");
  }

  const auto params = model->parameters();
  TORCH_CHECK(!params.empty(), "[InferenceModel] model has no parameters");
  const auto device = params.front().device();
  const auto dtype = params.front().scalar_type();
  const bool onednn_fits = detail::onednn_built() && device.is_cpu() &&
                           (dtype == torch::kFloat32 || dtype == torch::kBFloat16) && !blocks.empty();
  if (backend == "onednn") {  // (without oneDNN, make_onednn_blocks says so)
    TORCH_CHECK(device.is_cpu(), "[InferenceModel] backend 'onednn' runs on the CPU, the model is on ", device);
    TORCH_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16,
                "[InferenceModel] backend 'onednn' runs float32 or bfloat16, the model is ", dtype);
  }
  const bool use_onednn = backend == "onednn" || (backend == "auto" && onednn_fits);
  torch::NoGradGuard no_grad;
  impl->blocks = use_onednn ? detail::make_onednn_blocks(std::move(blocks), options.prepack(), rows,
                                                         options.release_module_weights(), options.fused_attention())
                            : detail::make_torch_blocks(std::move(blocks));
  impl->backend = use_onednn ? "onednn" : "torch";
  impl_ = std::move(impl);
}

torch::Tensor InferenceModel::forward(const torch::Tensor& images) const {
  c10::InferenceMode guard;
  // The embedding and head run in the module, whose dropout would be live in training mode.
  TORCH_CHECK(!impl_->model->is_training(), "[InferenceModel] the model is in training mode; call model->eval() first");
  const auto tokens = impl_->embed(images);
  const int64_t N = tokens.size(1), wanted = impl_->head_tokens;
  return impl_->head(impl_->blocks->forward(tokens, wanted > 0 && wanted < N ? wanted : N));
}

const std::string& InferenceModel::backend() const { return impl_->backend; }

std::string optimize_for_inference(Pretrained& model, InferenceOptions options) {
  const InferenceModel fast(model.module, std::move(options));
  model.forward = [fast](const torch::Tensor& x) { return fast.forward(x); };
  return fast.backend();
}

bool onednn_available() { return detail::onednn_built(); }

double measure_gemm_gflops(torch::ScalarType dtype, const torch::Device& device, int64_t m, int64_t k, int64_t n,
                           double seconds) {
  TORCH_CHECK(m > 0 && k > 0 && n > 0 && seconds > 0., "[measure_gemm_gflops] sizes and time must be positive");
  c10::InferenceMode guard;
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  const auto a = torch::randn({m, k}, options), w = torch::randn({n, k}, options), bias = torch::zeros({n}, options);
  double best = detail::gemm_gflops(m, k, n, seconds, [&] {
    (void)torch::linear(a, w, bias);
    if (device.is_cuda()) torch::cuda::synchronize();
  });
  if (device.is_cpu() && detail::onednn_built() && (dtype == torch::kFloat32 || dtype == torch::kBFloat16))
    best = std::max(best, detail::onednn_gemm_gflops(dtype, m, k, n, seconds));
  return best;
}

}  // namespace vit
