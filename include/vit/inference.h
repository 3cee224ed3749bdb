#pragma once
// Fast inference for any model (vit/model.h): InferenceModel runs a model's transformer blocks
// through a dedicated engine (src/engine/: oneDNN on the CPU, with fused bias/GELU/residual/LayerScale
// and attention read in place from the qkv buffer; LibTorch ops elsewhere, with
// scaled_dot_product_attention on LibTorch >= 2.0) and the model's own embedding and head around them.
// Tests: tests/test_inference.cpp (against the plain forward and the Python reference).
// Benchmarks: benchmarks/.

#include "vit/options.h"
#include "vit/pretrained.h"

#include <torch/torch.h>

#include <memory>
#include <string>

namespace vit {

#define VIT_INFERENCE_OPTIONS(X)                                                                              \
  X(std::string, backend, "auto", OneOf("auto", "onednn", "torch"),                                               \
    "auto (oneDNN for float32/bfloat16 on the CPU when vitcpp was built with it, else torch), onednn or torch")   \
  X(bool, prepack, true, Any(),                                                                                   \
    "oneDNN: reorder the block weights once into the layout its GEMMs prefer (faster, a copy of the block "       \
    "weights); false reads the module's own tensors")                                                            \
  X(bool, release_module_weights, false, Any(),                                                                   \
    "oneDNN with prepack (or int8): free the module's own copies of the block Linear weights the engine holds "   \
    "its own packed or quantised copies of (half the weights' memory; the module can then no longer run its "    \
    "plain forward, train or be saved)")                                                                         \
  X(bool, fused_attention, true, Any(),                                                                           \
    "oneDNN, bfloat16: attention in vitcpp's fused kernel on CPUs with AVX512-BF16 and head_dim a multiple of 16 " \
    "(float32 scores, no (B, H, N, N) tensor); false, or another CPU, runs oneDNN's matmul and softmax")          \
  X(std::string, quantize, "none", OneOf("none", "int8"),                                                         \
    "int8: the block GEMMs in int8 on the CPU (oneDNN; VNNI where the CPU has it): weights quantised once per "   \
    "output channel, activations per token as they arrive (dynamic, symmetric); LayerNorm, softmax and the "     \
    "residual stream stay float (the model itself stays float32 and runs the embedding and head)")

/// Options for `InferenceModel`.
/// Example: `vit::InferenceModel fast(model, vit::InferenceOptions().backend("torch"));`
struct InferenceOptions {
  VIT_OPTIONS(InferenceOptions, VIT_INFERENCE_OPTIONS)
};

/// An inference-only form of a model (any family), on the model's device and in
/// its dtype (convert the model first: `model->to(torch::kBFloat16)`). Dropout and DropPath are off,
/// autograd is off, and logits equal the model's eval forward up to summation order (float32:
/// within 1e-4; bfloat16 keeps the residual stream in float32, so it is closer to float32 than the
/// plain bfloat16 forward). When the head reads only the class (and distillation) token, the last
/// block computes only those tokens (the model's head_tokens()). The model must outlive it; with
/// prepack, rebuild it after changing the weights. forward() may be called from several threads at once.
/// Example: `vit::InferenceModel fast(model); auto logits = fast.forward(images);`
class InferenceModel {
 public:
  explicit InferenceModel(ModelPtr model, InferenceOptions options = {});
  /// Images (B, C, H, W) -> logits (B, num_classes); a distilled model gives the mean of its heads.
  torch::Tensor forward(const torch::Tensor& images) const;
  torch::Tensor operator()(const torch::Tensor& images) const { return forward(images); }

  /// "onednn", "onednn int8" or "torch": the backend that runs the blocks; "module (<why>)" when the
  /// model's blocks are not ones the engines run (Model::engine_unsupported) and its own layers run them.
  /// The torch backend of a bfloat16 model on a LibTorch without oneDNN (mkldnn), whose bfloat16 CPU
  /// GEMMs are several times slower than its float32 ones, runs its blocks in float32 and says
  /// "torch (float32 blocks: ...)".
  const std::string& backend() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

/// Makes `model.forward` run through an InferenceModel of its module (model.engine); returns the
/// backend's name.
/// Example: `auto p = vit::load_pretrained(dir); vit::optimize_for_inference(p);`
std::string optimize_for_inference(Pretrained& model, InferenceOptions options = {});

/// Whether this build of vitcpp has the oneDNN backend.
bool onednn_available();

/// Measured throughput in GFLOP/s of a (m x k) . (k x n) matrix product in `dtype` on `device`, the
/// best of LibTorch's linear and (on the CPU) vitcpp's oneDNN GEMM with prepacked weights, over
/// `seconds` of repetitions: the machine's practical GEMM peak that efficiency figures divide by.
/// The defaults are ViT-B/16's MLP at batch 8. torch::kInt8: oneDNN's s8 x s8 -> s32 GEMM as the int8
/// engine runs it (VNNI where the CPU has it), in GOP/s (CPU, oneDNN builds only).
double measure_gemm_gflops(torch::ScalarType dtype, const torch::Device& device = torch::kCPU, int64_t m = 1576,
                           int64_t k = 768, int64_t n = 3072, double seconds = 1.0);

}  // namespace vit
