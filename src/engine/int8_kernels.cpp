// The int8 engine's own kernels (src/engine/onednn.cpp runs the s8 x s8 -> s32 GEMMs): per-token
// quantisation, dequantisation of the int32 accumulators with bias, activation and residual, in
// AVX-512 where the CPU has it (compiled with target attributes, chosen at run time), else in portable
// loops. Each splits its rows over LibTorch's intra-op threads.
//
// Rounding is to nearest, ties to even, in both (the Python reference's torch.round); q = x / s is a
// true division, as the reference computes it. The AVX-512 activations use polynomial exp / erf
// (relative error < 2e-7), the portable ones LibTorch's kernels.
#include "engine.h"

#include "vit/vit_layers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__x86_64__) && !defined(VITCPP_NO_AVX512) && \
    ((defined(__clang__) && __clang_major__ >= 9) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
#define VITCPP_INT8_AVX512 1
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12: _mm512_undefined_*() in inlined intrinsics
#pragma GCC diagnostic ignored "-Wuninitialized"       // ... and in _mm512_reduce_max_ps
#endif
#endif

namespace vit::detail {
namespace {

inline float to_float(float v) { return v; }
inline float to_float(c10::BFloat16 v) { return static_cast<float>(v); }
template <typename T>
inline T from_float(float v) {
  return static_cast<T>(v);  // BFloat16: round to nearest even
}

// ---- portable ---------------------------------------------------------------------------------------

template <typename In>
void quantize_range(const In* x, int64_t r0, int64_t r1, int64_t cols, int8_t* q, float* scales) {
  for (int64_t r = r0; r < r1; ++r) {
    const In* xr = x + r * cols;
    float amax = 0.f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(to_float(xr[c])));
    const float scale = amax > 0.f ? amax / 127.f : 1.f;
    scales[r] = scale;
    int8_t* qr = q + r * cols;
    for (int64_t c = 0; c < cols; ++c) qr[c] = static_cast<int8_t>(std::nearbyint(to_float(xr[c]) / scale));
  }
}

template <typename Out>
void dequantize_range(const int32_t* acc, int64_t r0, int64_t r1, int64_t cols, const float* a, const float* w,
                      const float* bias, Out* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t* ar = acc + r * cols;
    Out* yr = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      yr[c] = from_float<Out>(static_cast<float>(ar[c]) * a[r] * w[c] + (bias ? bias[c] : 0.f));
    }
  }
}

void dequantize_add_range(const int32_t* acc, int64_t r0, int64_t r1, int64_t cols, const float* a, const float* w,
                          const float* bias, const float* gamma, float* x) {
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t* ar = acc + r * cols;
    float* xr = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = static_cast<float>(ar[c]) * a[r] * w[c] + (bias ? bias[c] : 0.f);
      xr[c] += gamma ? gamma[c] * v : v;
    }
  }
}

#ifdef VITCPP_INT8_AVX512
// ---- AVX-512 ---------------------------------------------------------------------------------------

#define VITCPP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

bool avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return yes;
}

VITCPP_AVX512 inline __mmask16 tail(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

VITCPP_AVX512 inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
VITCPP_AVX512 inline __m512 load(const c10::BFloat16* p, __mmask16 m) {
  const __m512i bits = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16));
}
VITCPP_AVX512 inline void store(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
VITCPP_AVX512 inline void store(c10::BFloat16* p, __m512 v, __mmask16 m) {  // round to nearest even
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), odd), 16);
  _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(rounded));
}

/// e^x: x = n ln2 + r, |r| <= ln2 / 2, e^r by a degree-6 polynomial, times 2^n (scalef); saturates
/// to 0 below -87 and to +inf above 88.
VITCPP_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.5f)), _mm512_set1_ps(-87.5f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.3888949e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3333504e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1666701e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666667e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7).
VITCPP_AVX512 inline __m512 erf512(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  p = _mm512_mul_ps(p, t);
  const __m512 y = _mm512_fnmadd_ps(p, exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), ax), ax)), _mm512_set1_ps(1.f));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
}

/// x * sigmoid(alpha x)
VITCPP_AVX512 inline __m512 swish512(__m512 x, float alpha) {
  const __m512 e = exp512(_mm512_mul_ps(x, _mm512_set1_ps(-alpha)));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
}

VITCPP_AVX512 inline __m512 activate512(__m512 x, Activation act) {
  switch (act) {
    case Activation::kGelu:
      return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                           _mm512_add_ps(_mm512_set1_ps(1.f), erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
    case Activation::kGeluTanh: {  // 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
      const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
      const __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
      const __m512 e = exp512(_mm512_mul_ps(u, _mm512_set1_ps(-2.f)));
      return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
    }
    case Activation::kQuickGelu: return swish512(x, 1.702f);
    case Activation::kSilu: return swish512(x, 1.f);
    case Activation::kSigmoid:
      return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
  }
  return x;
}

template <typename In>
VITCPP_AVX512 void quantize_row512(const In* x, int64_t cols, int8_t* q, float* scale_out) {
  __m512 amax = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(load(x + c, tail(cols - c))));
  const float m = _mm512_reduce_max_ps(amax);
  const float scale = m > 0.f ? m / 127.f : 1.f;
  *scale_out = scale;
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t c = 0; c < cols; c += 16) {
    const __mmask16 k = tail(cols - c);
    // cvtps_epi32 rounds to nearest even (the default MXCSR mode); |x / s| <= 127, no saturation needed
    const __m512i v = _mm512_cvtps_epi32(_mm512_div_ps(load(x + c, k), s));
    _mm_mask_storeu_epi8(q + c, k, _mm512_cvtepi32_epi8(v));
  }
}

/// acc * a * w + bias for 16 columns at c.
VITCPP_AVX512 inline __m512 dequantize16(const int32_t* acc, __m512 a, const float* w, const float* bias, int64_t c,
                                         __mmask16 k) {
  const __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + c)), a), load(w + c, k));
  return bias ? _mm512_add_ps(v, load(bias + c, k)) : v;
}

template <typename Out>
VITCPP_AVX512 void dequantize_range512(const int32_t* acc, int64_t r0, int64_t r1, int64_t cols, const float* a,
                                       const float* w, const float* bias, Out* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 s = _mm512_set1_ps(a[r]);
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 k = tail(cols - c);
      store(y + r * cols + c, dequantize16(acc + r * cols, s, w, bias, c, k), k);
    }
  }
}

VITCPP_AVX512 void dequantize_add_range512(const int32_t* acc, int64_t r0, int64_t r1, int64_t cols, const float* a,
                                           const float* w, const float* bias, const float* gamma, float* x) {
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 s = _mm512_set1_ps(a[r]);
    float* xr = x + r * cols;
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 k = tail(cols - c);
      __m512 v = dequantize16(acc + r * cols, s, w, bias, c, k);
      v = gamma ? _mm512_fmadd_ps(load(gamma + c, k), v, load(xr + c, k)) : _mm512_add_ps(v, load(xr + c, k));
      store(xr + c, v, k);
    }
  }
}

VITCPP_AVX512 void dequantize_activate_quantize_range512(const int32_t* acc, int64_t r0, int64_t r1, int64_t cols,
                                                         const float* a, const float* w, const float* bias,
                                                         Activation act, int8_t* q, float* scales, float* row) {
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 s = _mm512_set1_ps(a[r]);
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 k = tail(cols - c);
      store(row + c, activate512(dequantize16(acc + r * cols, s, w, bias, c, k), act), k);
    }
    quantize_row512(row, cols, q + r * cols, scales + r);
  }
}
#else
bool avx512() { return false; }
#endif

}  // namespace

template <typename In>
void quantize_rows_impl(const In* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
  at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
#ifdef VITCPP_INT8_AVX512
    if (avx512()) {
      for (int64_t r = r0; r < r1; ++r) quantize_row512(x + r * cols, cols, q + r * cols, scales + r);
      return;
    }
#endif
    quantize_range(x, r0, r1, cols, q, scales);
  });
}

void quantize_rows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
  quantize_rows_impl(x, rows, cols, q, scales);
}

void quantize_rows(const c10::BFloat16* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
  quantize_rows_impl(x, rows, cols, q, scales);
}

template <typename Out>
void dequantize_rows_impl(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w,
                          const float* bias, Out* y) {
  at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
#ifdef VITCPP_INT8_AVX512
    if (avx512()) return dequantize_range512(acc, r0, r1, cols, a, w, bias, y);
#endif
    dequantize_range(acc, r0, r1, cols, a, w, bias, y);
  });
}

void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w, const float* bias,
                     float* y) {
  dequantize_rows_impl(acc, rows, cols, a, w, bias, y);
}

void dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w, const float* bias,
                     c10::BFloat16* y) {
  dequantize_rows_impl(acc, rows, cols, a, w, bias, y);
}

void dequantize_add_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w,
                         const float* bias, const float* gamma, float* x) {
  at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
#ifdef VITCPP_INT8_AVX512
    if (avx512()) return dequantize_add_range512(acc, r0, r1, cols, a, w, bias, gamma, x);
#endif
    dequantize_add_range(acc, r0, r1, cols, a, w, bias, gamma, x);
  });
}

void dequantize_activate_quantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* a, const float* w,
                                       const float* bias, Activation act, float* work, int8_t* q, float* scales) {
#ifdef VITCPP_INT8_AVX512
  if (avx512()) {
    at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> row;
      row.resize(static_cast<size_t>(cols));
      dequantize_activate_quantize_range512(acc, r0, r1, cols, a, w, bias, act, q, scales, row.data());
    });
    return;
  }
#endif
  dequantize_rows(acc, rows, cols, a, w, bias, work);
  auto t = torch::from_blob(work, {rows, cols});
  t.copy_(activate(act, t));
  quantize_rows(work, rows, cols, q, scales);
}

}  // namespace vit::detail
