#pragma once
// Private to src/: the engines that run a model's blocks for InferenceModel (include/vit/inference.h).
// Every family hands its blocks over as vit::BlockWeights (vit/model.h, Model::block_weights);
// an engine runs the stack:
//   torch_engine.cpp    LibTorch ops on any device (scaled_dot_product_attention on LibTorch >= 2.0)
//   onednn.cpp          oneDNN on the CPU, float32 / bfloat16: prepacked fused GEMMs, in-place attention
//   attention_bf16.cpp  the fused bfloat16 attention kernel the oneDNN engine uses on AVX512-BF16 CPUs

#include "vit/model.h"

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <vector>

namespace vit::detail {

/// Runs tokens (B, N, dim) through every block; the result (B, last_rows, dim) has the input's dtype.
/// The last block computes only the first `last_rows` (in [1, N]) tokens of each image, though every
/// token is still a key and value of its attention: all that a head reading only the class (and
/// distillation) token needs.
class Blocks {
 public:
  virtual ~Blocks() = default;
  virtual torch::Tensor forward(const torch::Tensor& x, int64_t last_rows) const = 0;
};

/// LibTorch ops on any device (scaled_dot_product_attention on LibTorch >= 2.0).
std::unique_ptr<Blocks> make_torch_blocks(std::vector<BlockWeights> blocks);

/// Whether vitcpp was built with oneDNN.
bool onednn_built();
/// oneDNN on the CPU, float32 or bfloat16 (the blocks' dtype). `rows_hint` (tokens per image)
/// picks the layout prepacked weights take; with `release`, each Linear weight tensor is emptied
/// (set_ to 0 elements, which the module sees) as soon as its packed copy exists, so that memory
/// peaks at one copy. Throws when not built with oneDNN.
/// With `fused_attention`, bfloat16 attention runs in fused_attention_bf16 where the CPU supports it.
std::unique_ptr<Blocks> make_onednn_blocks(std::vector<BlockWeights> blocks, bool prepack, int64_t rows_hint,
                                           bool release, bool fused_attention);
/// Whether this CPU runs fused_attention_bf16 (x86-64 with AVX512-BF16) for heads of `head_dim`.
bool fused_attention_bf16_supported(int64_t head_dim);
/// out (B, queries, H * head_dim) = softmax(scale * Q.K^T) . V for each image and head and the first
/// `queries` (<= N) of its N tokens, with Q, K, V read in place from the qkv buffer (B, N, 3, H,
/// head_dim). Scores stay float32; the probabilities are rounded to bfloat16 for P.V, whose float32
/// sums are divided by the rounded probabilities' sum.
/// `scale` must be positive. Runs on LibTorch's intra-op threads, one (image, head) per task, or a
/// chunk of its queries when there are fewer pairs than threads.
void fused_attention_bf16(const c10::BFloat16* qkv, c10::BFloat16* out, int64_t B, int64_t N, int64_t queries,
                          int64_t H, int64_t head_dim, float scale);

/// GFLOP/s of oneDNN's matmul with prepacked weights, (m x k) . (k x n), over `seconds`; 0 without oneDNN.
double onednn_gemm_gflops(torch::ScalarType dtype, int64_t m, int64_t k, int64_t n, double seconds);

/// GFLOP/s of `once` (a synchronous m x k x n matrix product): two warm-up calls, then repetitions
/// until `seconds` have passed.
template <typename F>
double gemm_gflops(int64_t m, int64_t k, int64_t n, double seconds, F&& once) {
  once();
  once();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int64_t reps = 0;
  double elapsed = 0.;
  do {
    once();
    ++reps;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds);
  return 2. * static_cast<double>(m * k * n) * static_cast<double>(reps) / elapsed / 1e9;
}

}  // namespace vit::detail
