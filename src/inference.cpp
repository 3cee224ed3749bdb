#include "vit/inference.h"

#include "engine/engine.h"

namespace vit {

struct InferenceModel::Impl {
  ModelPtr model;  // runs the embedding, final norm and head; keeps the weights the engine reads alive
  std::unique_ptr<detail::Blocks> blocks;
  int64_t head_tokens = 0;  // the leading tokens the head reads (0: all), all the last block computes
  std::string backend;
};

InferenceModel::InferenceModel(ModelPtr model, InferenceOptions options) {
  TORCH_CHECK(model, "[InferenceModel] model is null");
  check_options(options, "[InferenceModel]");
  auto impl = std::make_shared<Impl>();
  impl->model = model;
  impl->head_tokens = model->head_tokens();
  auto blocks = model->block_weights();
  const auto unsupported = model->engine_unsupported();
  const int64_t rows = model->num_prefix_tokens() + model->num_patches();

  const auto params = model->parameters();
  TORCH_CHECK(!params.empty(), "[InferenceModel] model has no parameters");
  const auto device = params.front().device();
  const auto dtype = params.front().scalar_type();
  const auto& backend = options.backend();
  const bool int8 = options.quantize() == "int8";
  if (int8) {
    TORCH_CHECK(device.is_cpu(), "[InferenceModel] quantize 'int8' runs on the CPU, the model is on ", device);
    TORCH_CHECK(detail::onednn_built(), "[InferenceModel] quantize 'int8' needs vitcpp built with oneDNN "
                                        "(install libdnnl-dev and reconfigure)");
    TORCH_CHECK(backend != "torch", "[InferenceModel] quantize 'int8' runs on backend 'onednn', not 'torch'");
    TORCH_CHECK(unsupported.empty(), "[InferenceModel] quantize 'int8' cannot run this model (", unsupported,
                " has no fast path)");
  }
  const bool onednn_fits = detail::onednn_built() && device.is_cpu() &&
                           (dtype == torch::kFloat32 || dtype == torch::kBFloat16) && !blocks.empty();
  if (backend == "onednn") {  // (without oneDNN, make_onednn_blocks says so)
    TORCH_CHECK(device.is_cpu(), "[InferenceModel] backend 'onednn' runs on the CPU, the model is on ", device);
    TORCH_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16,
                "[InferenceModel] backend 'onednn' runs float32 or bfloat16, the model is ", dtype);
  }
  if (!unsupported.empty()) {  // the module's own layers run the blocks
    TORCH_CHECK(backend == "auto" || backend == "torch", "[InferenceModel] backend '", backend, "' cannot run this model (",
                unsupported, ")");
    impl->backend = "module (" + unsupported + " has no fast path)";
    impl_ = std::move(impl);
    return;
  }
  const bool use_onednn = int8 || backend == "onednn" || (backend == "auto" && onednn_fits);
  torch::NoGradGuard no_grad;
  if (use_onednn) {
    impl->blocks = detail::make_onednn_blocks(std::move(blocks), options.prepack(), rows,
                                              options.release_module_weights(), options.fused_attention(), int8);
    impl->backend = int8 ? "onednn int8" : "onednn";
  } else if (device.is_cpu() && dtype == torch::kBFloat16 && !at::hasMKLDNN()) {
    // LibTorch's bfloat16 CPU GEMMs without oneDNN are a generic loop, several times slower than float32
    impl->blocks = detail::make_torch_blocks(std::move(blocks), torch::kFloat32);
    impl->backend = "torch (float32 blocks: this LibTorch has no oneDNN for bfloat16 GEMMs)";
  } else {
    impl->blocks = detail::make_torch_blocks(std::move(blocks));
    impl->backend = "torch";
  }
  impl_ = std::move(impl);
}

torch::Tensor InferenceModel::forward(const torch::Tensor& images) const {
  c10::InferenceMode guard;
  auto& model = *impl_->model;
  // The embedding and head run in the module, whose dropout would be live in training mode.
  TORCH_CHECK(!model.is_training(), "[InferenceModel] the model is in training mode; call model->eval() first");
  const auto embedded = model.forward_embed(images);
  if (!impl_->blocks) return model.forward_head(model.forward_norm(model.forward_blocks(embedded)));
  const auto& tokens = embedded.tokens;
  const int64_t N = tokens.size(1), wanted = impl_->head_tokens;
  return model.forward_head(model.forward_norm(impl_->blocks->forward(tokens, wanted > 0 && wanted < N ? wanted : N)));
}

const std::string& InferenceModel::backend() const { return impl_->backend; }

std::string optimize_for_inference(Pretrained& model, InferenceOptions options) {
  model.engine = std::make_shared<const InferenceModel>(model.module, std::move(options));
  return model.engine->backend();
}

bool onednn_available() { return detail::onednn_built(); }

double measure_gemm_gflops(torch::ScalarType dtype, const torch::Device& device, int64_t m, int64_t k, int64_t n,
                           double seconds) {
  TORCH_CHECK(m > 0 && k > 0 && n > 0 && seconds > 0., "[measure_gemm_gflops] sizes and time must be positive");
  c10::InferenceMode guard;
  if (dtype == torch::kInt8) {  // oneDNN's s8 x s8 -> s32 GEMM (VNNI where the CPU has it); LibTorch has none
    TORCH_CHECK(device.is_cpu() && detail::onednn_built(), "[measure_gemm_gflops] int8 needs the CPU and vitcpp built with oneDNN");
    return detail::onednn_gemm_gflops(dtype, m, k, n, seconds);
  }
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
