// A fused bfloat16 attention kernel for the oneDNN engine (src/engine/onednn.cpp) on x86-64 CPUs with
// AVX512-BF16: for each (image, head) (or chunk of its queries), K and V are packed into the
// pair-interleaved layout that vdpbf16ps reads, then 4 query rows at a time go through
//   S = Q.K^T (float32, 4 x N, stays in L1) -> P = exp(scale * (S - max)) (rounded to bfloat16)
//   -> O = P.V (float32) -> O / sum(P) (rounded to bfloat16, written in token layout).
// The (B, H, N, N) score tensor of the unfused path never exists, and the scores are not rounded to
// bfloat16 before the softmax. Compiled for AVX512-BF16 with target attributes and chosen at run time,
// so the library itself still runs on any x86-64 (and builds on any architecture).
#include "engine.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

// AVX512-BF16 intrinsics: GCC >= 10, Clang >= 9 (define VITCPP_NO_AVX512 to leave the kernel out).
#if defined(__x86_64__) && !defined(VITCPP_NO_AVX512) && \
    ((defined(__clang__) && __clang_major__ >= 9) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
#define VITCPP_FUSED_ATTENTION 1
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() values, which -Wmaybe-uninitialized
// reports once they are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace vit::detail {

#ifdef VITCPP_FUSED_ATTENTION
namespace {

#define VITCPP_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

// Every loop over an array of registers is unrolled explicitly: GCC 12 unrolls them completely at -O3
// but not at -O2 (RelWithDebInfo), where the accumulators then live in memory and the kernel runs
// 3x slower.
#define VITCPP_UNROLL _Pragma("GCC unroll 16")

constexpr int kRows = 4;  // query rows per tile: 4 rows x 4 vectors = 16 accumulators

VITCPP_AVX512BF16 inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }

/// e^x for x <= 0 (the softmax's shifted scores): x = n ln2 + r, |r| <= ln2 / 2, e^r by a degree-6
/// polynomial (relative error < 2e-7), then scaled by 2^n; below -87 it gives 0 (float32 underflow).
VITCPP_AVX512BF16 inline __m512 exp_nonpositive(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.f), _CMP_LT_OQ);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);  // ln2 = hi + lo
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 720.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_scalef_ps(static_cast<__mmask16>(~tiny), p, n);
}

/// Transposes the 16 x 16 matrix of 32-bit lanes in r (r[t] lane c becomes r[c] lane t).
VITCPP_AVX512BF16 inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  VITCPP_UNROLL
  for (int p = 0; p < 16; p += 2) {
    t[p] = _mm512_unpacklo_epi32(r[p], r[p + 1]);
    t[p + 1] = _mm512_unpackhi_epi32(r[p], r[p + 1]);
  }
  // per 128-bit lane L of rows 4g..4g+3: r[4g + m] lane L = their elements 4L + m
  VITCPP_UNROLL
  for (int g = 0; g < 16; g += 4) {
    r[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  VITCPP_UNROLL
  for (int m = 0; m < 4; ++m) {
    const __m512i a = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x88), b = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xDD);
    const __m512i c = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x88), e = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xDD);
    t[m] = _mm512_shuffle_i32x4(a, c, 0x88);
    t[8 + m] = _mm512_shuffle_i32x4(a, c, 0xDD);
    t[4 + m] = _mm512_shuffle_i32x4(b, e, 0x88);
    t[12 + m] = _mm512_shuffle_i32x4(b, e, 0xDD);
  }
  VITCPP_UNROLL
  for (int p = 0; p < 16; ++p) r[p] = t[p];
}

/// Per-thread buffers for one (image, head), sized for N keys and head_dim d.
struct Scratch {
  std::vector<uint32_t> k;   // (d/2, N16): key pairs along d, one 32-bit lane per key
  std::vector<uint32_t> v;   // (N2/2, d): value pairs along the keys, one lane per dimension
  std::vector<float> s;      // (kRows, N16) scores
  std::vector<uint16_t> p;   // (kRows, N2) probabilities (bfloat16 bits), zero past N
  void resize(int64_t n16, int64_t n2, int64_t d) {
    k.resize(static_cast<size_t>(d / 2 * n16));
    v.resize(static_cast<size_t>(n2 / 2 * d));
    s.resize(static_cast<size_t>(kRows * n16));
    p.resize(static_cast<size_t>(kRows * n2));
  }
};

/// S[r][j0 .. j0 + 16 KV) = Q_r . K_j for the kRows query rows `q` (d bfloat16 values each), with
/// the reduction over d split into SPLIT independent sums (KV * SPLIT = 4 keeps 16 accumulators in
/// flight however few keys are left); `top[r]` takes the maximum over the keys below N.
template <int KV, int SPLIT>
VITCPP_AVX512BF16 inline void qk_tile(const uint16_t* const q[kRows], const uint32_t* k, int64_t n16, int64_t d,
                                      int64_t j0, int64_t N, float* s, __m512 top[kRows]) {
  __m512 acc[SPLIT][kRows][KV];
  VITCPP_UNROLL
  for (int h = 0; h < SPLIT; ++h)
    VITCPP_UNROLL
    for (int r = 0; r < kRows; ++r)
      VITCPP_UNROLL
      for (int j = 0; j < KV; ++j) acc[h][r][j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < d / 2; i += SPLIT) {
    VITCPP_UNROLL
    for (int h = 0; h < SPLIT; ++h) {
      __m512i kv[KV];
      VITCPP_UNROLL
      for (int j = 0; j < KV; ++j) kv[j] = _mm512_loadu_si512(k + (i + h) * n16 + j0 + 16 * j);
      VITCPP_UNROLL
      for (int r = 0; r < kRows; ++r) {
        uint32_t pair;
        std::memcpy(&pair, q[r] + 2 * (i + h), sizeof pair);
        const __m512bh qb = as_bh(_mm512_set1_epi32(static_cast<int>(pair)));
        VITCPP_UNROLL
        for (int j = 0; j < KV; ++j) acc[h][r][j] = _mm512_dpbf16_ps(acc[h][r][j], qb, as_bh(kv[j]));
      }
    }
  }
  VITCPP_UNROLL
  for (int r = 0; r < kRows; ++r)
    VITCPP_UNROLL
    for (int j = 0; j < KV; ++j) {
      __m512 sum = acc[0][r][j];
      VITCPP_UNROLL
      for (int h = 1; h < SPLIT; ++h) sum = _mm512_add_ps(sum, acc[h][r][j]);
      _mm512_storeu_ps(s + r * n16 + j0 + 16 * j, sum);
      const int64_t valid = N - (j0 + 16 * j);
      const auto lanes = static_cast<__mmask16>(valid >= 16 ? 0xFFFF : (1u << valid) - 1);
      top[r] = _mm512_mask_max_ps(top[r], lanes, top[r], sum);
    }
}

/// O[r][c0 .. c0 + 16 DV) = sum_j P[r][j] V[j] over the N2 / 2 key pairs, scaled by inv[r].
template <int DV>
VITCPP_AVX512BF16 inline void pv_tile(const uint16_t* p, int64_t n2, const uint32_t* v, int64_t d, int64_t c0,
                                      const float inv[kRows], uint16_t* const out[kRows], int rows) {
  __m512 acc[kRows][DV];
  VITCPP_UNROLL
  for (int r = 0; r < kRows; ++r)
    VITCPP_UNROLL
    for (int c = 0; c < DV; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n2 / 2; ++i) {
    __m512i vv[DV];
    VITCPP_UNROLL
    for (int c = 0; c < DV; ++c) vv[c] = _mm512_loadu_si512(v + i * d + c0 + 16 * c);
    VITCPP_UNROLL
    for (int r = 0; r < kRows; ++r) {
      uint32_t pair;
      std::memcpy(&pair, p + r * n2 + 2 * i, sizeof pair);
      const __m512bh pb = as_bh(_mm512_set1_epi32(static_cast<int>(pair)));
      VITCPP_UNROLL
      for (int c = 0; c < DV; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], pb, as_bh(vv[c]));
    }
  }
  VITCPP_UNROLL
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;  // a short last tile (a constant trip count keeps acc in registers)
    VITCPP_UNROLL
    for (int c = 0; c < DV; ++c) {
      const __m256bh o = _mm512_cvtneps_pbh(_mm512_mul_ps(acc[r][c], _mm512_set1_ps(inv[r])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[r] + c0 + 16 * c), reinterpret_cast<const __m256i&>(o));
    }
  }
}

/// One (image, head), queries [t_begin, t_end): q, k, v point at token 0's head slice, consecutive
/// tokens `stride` apart.
VITCPP_AVX512BF16 void attend(const uint16_t* q, const uint16_t* k, const uint16_t* v, int64_t stride, uint16_t* out,
                              int64_t out_stride, int64_t N, int64_t t_begin, int64_t t_end, int64_t d, float scale,
                              Scratch& w) {
  const int64_t n16 = (N + 15) / 16 * 16, n2 = (N + 1) / 2 * 2;
  w.resize(n16, n2, d);
  // K: lane (i, j) = key j's pair i along d; keys past N are zero. 16 keys x 16 pairs at a time are
  // loaded row by row (sequential, which the hardware prefetches) and transposed in registers.
  for (int64_t j = 0; j < n16; j += 16) {
    const auto rows = static_cast<__mmask16>(j + 16 <= N ? 0xFFFF : (1u << (N - j)) - 1);
    for (int64_t i = 0; i < d / 2; i += 16) {
      const auto cols = static_cast<__mmask16>(i + 16 <= d / 2 ? 0xFFFF : (1u << (d / 2 - i)) - 1);
      __m512i r[16];
      VITCPP_UNROLL
      for (int t = 0; t < 16; ++t)
        r[t] = (rows >> t) & 1 ? _mm512_maskz_loadu_epi32(cols, k + (j + t) * stride + 2 * i) : _mm512_setzero_si512();
      transpose16(r);
      VITCPP_UNROLL
      for (int c = 0; c < 16; ++c)
        if (i + c < d / 2) _mm512_storeu_si512(w.k.data() + (i + c) * n16 + j, r[c]);
    }
  }
  // V: lane (i, c) = (V[2i][c], V[2i + 1][c]); an odd N's last pair takes a zero row.
  for (int64_t i = 0; i < n2 / 2; ++i) {
    const uint16_t* v0 = v + 2 * i * stride;
    const bool second = 2 * i + 1 < N;
    for (int64_t c = 0; c < d; c += 16) {
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v0 + c)));
      const __m512i hi = second ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v0 + stride + c)))
                                : _mm512_setzero_si512();
      _mm512_storeu_si512(w.v.data() + i * d + c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
  const __m512 scale_v = _mm512_set1_ps(scale);
  for (int64_t t0 = t_begin; t0 < t_end; t0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, t_end - t0));
    const uint16_t* qr[kRows];
    uint16_t* orow[kRows];
    for (int r = 0; r < kRows; ++r) {
      const int64_t t = t0 + std::min(r, rows - 1);  // a short last tile repeats its last row
      qr[r] = q + t * stride;
      orow[r] = out + t * out_stride;
    }
    __m512 top[kRows];
    for (auto& t : top) t = _mm512_set1_ps(-INFINITY);
    int64_t j0 = 0;
    for (; j0 + 64 <= n16; j0 += 64) qk_tile<4, 1>(qr, w.k.data(), n16, d, j0, N, w.s.data(), top);
    for (; j0 + 32 <= n16; j0 += 32) qk_tile<2, 2>(qr, w.k.data(), n16, d, j0, N, w.s.data(), top);
    for (; j0 < n16; j0 += 16) qk_tile<1, 4>(qr, w.k.data(), n16, d, j0, N, w.s.data(), top);
    float inv[kRows];
    const auto last = static_cast<__mmask16>(N % 16 == 0 ? 0xFFFF : (1u << (N % 16)) - 1);
    for (int r = 0; r < kRows; ++r) {
      const float* s = w.s.data() + r * n16;
      const __m512 shift = _mm512_set1_ps(-scale * _mm512_reduce_max_ps(top[r]));
      __m512 sum = _mm512_setzero_ps();
      uint16_t* p = w.p.data() + r * n2;
      for (int64_t j = 0; j < n16; j += 16) {
        const __mmask16 m = j + 16 <= N ? static_cast<__mmask16>(0xFFFF) : last;
        const __m512 e = _mm512_maskz_mov_ps(m, exp_nonpositive(_mm512_fmadd_ps(_mm512_loadu_ps(s + j), scale_v, shift)));
        const __m256bh eb = _mm512_cvtneps_pbh(e);
        // the sum of the rounded values that P.V sees (bfloat16 -> float32: the bits shifted up by 16)
        const __m512i bits = _mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(eb));
        sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16)));
        // n2 <= n16, so the last 16-lane store may pass n2: write only the lanes that exist
        const int64_t lanes = std::min<int64_t>(16, n2 - j);
        _mm256_mask_storeu_epi16(p + j, static_cast<__mmask16>((1u << lanes) - 1), reinterpret_cast<const __m256i&>(eb));
      }
      inv[r] = 1.f / _mm512_reduce_add_ps(sum);
    }
    int64_t c0 = 0;
    for (; c0 + 64 <= d; c0 += 64) pv_tile<4>(w.p.data(), n2, w.v.data(), d, c0, inv, orow, rows);
    for (; c0 < d; c0 += 16) pv_tile<1>(w.p.data(), n2, w.v.data(), d, c0, inv, orow, rows);
  }
}

}  // namespace

bool fused_attention_bf16_supported(int64_t head_dim) {
  static const bool cpu = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return cpu && head_dim > 0 && head_dim % 16 == 0;
}

void fused_attention_bf16(const c10::BFloat16* qkv, c10::BFloat16* out, int64_t B, int64_t N, int64_t queries,
                          int64_t H, int64_t head_dim, float scale) {
  TORCH_CHECK(fused_attention_bf16_supported(head_dim), "[InferenceModel] fused attention needs AVX512-BF16 and a "
              "head_dim that is a multiple of 16, got ", head_dim);
  TORCH_CHECK(queries > 0 && queries <= N, "[InferenceModel] fused attention: queries ", queries, " not in [1, ", N, "]");
  const int64_t I = H * head_dim, stride = 3 * I;
  const auto* base = reinterpret_cast<const uint16_t*>(qkv);
  auto* dst = reinterpret_cast<uint16_t*>(out);
  // Fewer (image, head) pairs than threads (batch 1 on many cores): split each one's queries into
  // chunks of at least 32 rows; every chunk packs K and V again, on a thread that would idle otherwise.
  const int64_t pairs = B * H, threads = at::get_num_threads();
  const int64_t chunks = pairs >= threads ? 1 : std::min((threads + pairs - 1) / pairs, (queries + 31) / 32);
  const int64_t chunk_rows = ((queries + chunks - 1) / chunks + kRows - 1) / kRows * kRows;
  at::parallel_for(0, pairs * chunks, 1, [&](int64_t begin, int64_t end) {
    thread_local Scratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t pair = task / chunks, b = pair / H, h = pair % H;
      const int64_t t_begin = task % chunks * chunk_rows, t_end = std::min(queries, t_begin + chunk_rows);
      if (t_begin >= t_end) continue;
      const uint16_t* q = base + b * N * stride + h * head_dim;
      attend(q, q + I, q + 2 * I, stride, dst + b * queries * I + h * head_dim, I, N, t_begin, t_end, head_dim,
             scale, scratch);
    }
  });
}

#else  // not x86-64, an older compiler, or VITCPP_NO_AVX512

bool fused_attention_bf16_supported(int64_t) { return false; }

void fused_attention_bf16(const c10::BFloat16*, c10::BFloat16*, int64_t, int64_t, int64_t, int64_t, int64_t, float) {
  TORCH_CHECK(false, "[InferenceModel] vitcpp was built without the fused attention kernel (x86-64, GCC >= 10 "
                     "or Clang >= 9)");
}

#endif

}  // namespace vit::detail
