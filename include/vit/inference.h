#pragma once
// Fast inference for either family: InferenceModel runs a model's transformer blocks through a
// dedicated engine (oneDNN on the CPU: fused bias/GELU/residual/LayerScale, attention read in
// place from the qkv buffer; LibTorch ops elsewhere, with scaled_dot_product_attention on
// LibTorch >= 2.0) and the model's own embedding and head around them.
// Tests: tests/test_inference.cpp (against the plain forward and the Python reference).
// Benchmarks: benchmarks/.

#include "vit/pretrained.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace vit {

/// Options for `InferenceModel`.
/// Example: `vit::InferenceModel fast(model, vit::InferenceOptions().backend("torch"));`
struct InferenceOptions {
  /// "auto" (oneDNN for float32/bfloat16 on the CPU when vitcpp was built with it, else "torch"),
  /// "onednn" or "torch". Default "auto".
  TORCH_ARG(std::string, backend) = "auto";
  /// oneDNN: reorder the block weights once into the layout its GEMMs prefer (faster, but a copy of
  /// the block weights); false reads the module's own tensors (no extra memory). Default true.
  TORCH_ARG(bool, prepack) = true;
  /// With the oneDNN backend and prepack: free the module's own copies of the block Linear weights,
  /// which the engine no longer reads. Halves the memory of the weights, but the module can then
  /// no longer run its plain forward, train, or be saved (save_pretrained refuses); load it again
  /// for that. Default false.
  TORCH_ARG(bool, release_module_weights) = false;
  /// oneDNN backend, bfloat16: run attention (Q.K^T, softmax, P.V) in vitcpp's fused kernel on CPUs
  /// with AVX512-BF16 and head_dim a multiple of 16 (float32 scores, no (B, H, N, N) tensor); false,
  /// or another CPU, runs oneDNN's matmul and softmax primitives. Default true.
  TORCH_ARG(bool, fused_attention) = true;
};

/// An inference-only form of a VisionTransformer or vit_pytorch::ViT, on the model's device and in
/// its dtype (convert the model first: `model->to(torch::kBFloat16)`). Dropout and DropPath are off,
/// autograd is off, and logits equal the model's eval forward up to summation order (float32:
/// within 1e-4; bfloat16 keeps the residual stream in float32, so it is closer to float32 than the
/// plain bfloat16 forward). When the head reads only the class (and distillation) token, the last
/// block computes only those tokens (the model's head_tokens()). The model must outlive it; with
/// prepack, rebuild it after changing the weights. forward() may be called from several threads at once.
/// Example: `vit::InferenceModel fast(model); auto logits = fast.forward(images);`
class InferenceModel {
 public:
  explicit InferenceModel(std::shared_ptr<torch::nn::Module> model, InferenceOptions options = {});
  /// Images (B, C, H, W) -> logits (B, num_classes); a distilled model gives the mean of its heads.
  torch::Tensor forward(const torch::Tensor& images) const;
  torch::Tensor operator()(const torch::Tensor& images) const { return forward(images); }

  /// "onednn" or "torch": the backend that runs the blocks.
  const std::string& backend() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

/// Makes `model.forward` run through an InferenceModel of its module; returns the backend's name.
/// Example: `auto p = vit::load_pretrained(dir); vit::optimize_for_inference(p);`
std::string optimize_for_inference(Pretrained& model, InferenceOptions options = {});

/// Whether this build of vitcpp has the oneDNN backend.
bool onednn_available();

/// Measured throughput in GFLOP/s of a (m x k) . (k x n) matrix product in `dtype` on `device`, the
/// best of LibTorch's linear and (on the CPU) vitcpp's oneDNN GEMM with prepacked weights, over
/// `seconds` of repetitions: the machine's practical GEMM peak that efficiency figures divide by.
/// The defaults are ViT-B/16's MLP at batch 8.
double measure_gemm_gflops(torch::ScalarType dtype, const torch::Device& device = torch::kCPU, int64_t m = 1576,
                           int64_t k = 768, int64_t n = 3072, double seconds = 1.0);

}  // namespace vit
