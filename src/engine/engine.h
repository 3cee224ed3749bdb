#pragma once
// Private to src/: the engines that run a model's blocks for InferenceModel (include/vit/inference.h).
// Every family hands its blocks over as vit::BlockWeights (vit/model.h, Model::block_weights);
// an engine runs the stack:
//   torch_engine.cpp    LibTorch ops on any device (scaled_dot_product_attention on LibTorch >= 2.0)
//   onednn.cpp          oneDNN on the CPU, float32 / bfloat16 / int8: prepacked fused GEMMs, in-place attention
//   attention_bf16.cpp  the fused bfloat16 attention kernel the oneDNN engine uses on AVX512-BF16 CPUs
//   int8_kernels.cpp    the int8 engine's quantisation and dequantisation kernels

#include "vit/model.h"
#include "vit/vit_layers.h"

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
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

/// LibTorch ops on any device (scaled_dot_product_attention on LibTorch >= 2.0). With `compute` set,
/// the blocks run in that dtype (a copy of their weights), whatever the tokens' dtype.
std::unique_ptr<Blocks> make_torch_blocks(std::vector<BlockWeights> blocks,
                                          std::optional<torch::ScalarType> compute = std::nullopt);

/// Whether vitcpp was built with oneDNN.
bool onednn_built();
/// oneDNN on the CPU, float32 or bfloat16 (the blocks' dtype). `rows_hint` (tokens per image)
/// picks the layout prepacked weights take; with `release`, each Linear weight tensor is emptied
/// (set_ to 0 elements, which the module sees) as soon as its packed copy exists, so that memory
/// peaks at one copy. Throws when not built with oneDNN.
/// With `fused_attention`, bfloat16 attention runs in fused_attention_bf16 where the CPU supports it.
/// With `int8`, the GEMMs run in int8 (weights per output channel, activations per token; dynamic
/// quantisation) around a float32 residual stream, whatever the blocks' dtype.
std::unique_ptr<Blocks> make_onednn_blocks(std::vector<BlockWeights> blocks, bool prepack, int64_t rows_hint,
                                           bool release, bool fused_attention, bool int8 = false);
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

// ---- the int8 engine's kernels (int8_kernels.cpp: AVX-512 where the CPU has it, else portable) ----
// Rows run on LibTorch's intra-op threads; rounding is to nearest, ties to even.

/// Symmetric per-token quantisation of `rows` rows of `cols` values: scales[r] = max |x[r, :]| / 127
/// (1 for an all-zero row), q[r, c] = round(x[r, c] / scales[r]).
void quantize_rows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales);
void quantize_rows(const c10::BFloat16* x, int64_t rows, int64_t cols, int8_t* q, float* scales);
/// y[r, c] = acc[r, c] * a[r] * w[c] + bias[c] (no bias when null).
void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w, const float* bias,
                     float* y);
void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w, const float* bias,
                     c10::BFloat16* y);
/// x[r, c] += gamma[c] * (acc[r, c] * a[r] * w[c] + bias[c]) (no gamma / bias when null).
void dequantize_add_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w,
                         const float* bias, const float* gamma, float* x);
/// quantize_rows(act(acc * a * w + bias)): an MLP's hidden layer, ready for fc2. `work` holds rows x cols
/// floats (the portable path's buffer); `scales` may be `a`.
void dequantize_activate_quantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w,
                                       const float* bias, Activation act, float* work, int8_t* q, float* scales);

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
