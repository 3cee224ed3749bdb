// Google Benchmark programs for vitcpp's inference: whole models (plain module forward against
// InferenceModel's backends, float32 and bfloat16) and their parts (one GEMM, one block). The backend
// "onednn-unfused" is oneDNN with fused_attention(false): bfloat16 attention through oneDNN's
// primitives instead of vitcpp's fused kernel (the same as "onednn" in float32).
// Not a test: run build/benchmarks/bench_inference [--benchmark_filter=...]; threads from VITCPP_THREADS
// (default: all cores). The side-by-side comparison with PyTorch, torch.compile and ONNX Runtime is compare.py.
#include <benchmark/benchmark.h>
#include <vit/vit.h>

#include <cstdlib>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() values, which it reports once inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace {

int threads() {
  const char* env = std::getenv("VITCPP_THREADS");
  return env ? std::atoi(env) : static_cast<int>(std::thread::hardware_concurrency());
}

const char* kModels[] = {"vit_small_patch16_224", "vit_base_patch16_224"};
const char* kBackends[] = {"plain", "torch", "onednn", "onednn-unfused"};

bool skip_without_onednn(benchmark::State& state, const std::string& backend) {
  if (backend.rfind("onednn", 0) != 0 || vit::onednn_available()) return false;
  state.SkipWithError("built without oneDNN");
  return true;
}

vit::InferenceOptions options(const std::string& backend) {
  if (backend == "onednn-unfused") return vit::InferenceOptions().backend("onednn").fused_attention(false);
  return vit::InferenceOptions().backend(backend);
}

// args: model index, batch, bfloat16 (0/1), backend index
void Model(benchmark::State& state) {
  torch::set_num_threads(threads());
  const std::string name = kModels[state.range(0)], backend = kBackends[state.range(3)];
  const int64_t batch = state.range(1);
  const auto dtype = state.range(2) ? torch::kBFloat16 : torch::kFloat32;
  if (skip_without_onednn(state, backend)) return;
  auto model = vit::create_model(name);
  model->eval();
  model->to(dtype);
  std::function<torch::Tensor(const torch::Tensor&)> forward = [model](const torch::Tensor& x) mutable {
    return model->forward(x);
  };
  if (backend != "plain") {
    const vit::InferenceModel fast(model, options(backend));
    forward = [fast](const torch::Tensor& x) { return fast.forward(x); };
  }
  torch::InferenceMode guard;
  const auto x = torch::randn({batch, 3, 224, 224}).to(dtype);
  for (auto _ : state) benchmark::DoNotOptimize(forward(x));
  const double flop = 2. * static_cast<double>(model->count_macs(224, 224)) * static_cast<double>(batch);
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flop / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(name + " " + backend + (state.range(2) ? " bf16" : " fp32"));
}
BENCHMARK(Model)
    ->ArgsProduct({{0, 1}, {1, 8}, {0, 1}, {0, 1, 2, 3}})
    ->ArgNames({"model", "batch", "bf16", "backend"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

// The GEMM of ViT-B/16's MLP at batch 8 (1576 x 768 x 3072): LibTorch's linear and vitcpp's
// oneDNN GEMM with prepacked weights (args: float32 0, bfloat16 1, int8 2: oneDNN's s8 x s8 -> s32,
// as the int8 engine runs it).
void Gemm(benchmark::State& state) {
  torch::set_num_threads(threads());
  const torch::ScalarType dtypes[] = {torch::kFloat32, torch::kBFloat16, torch::kInt8};
  const auto dtype = dtypes[state.range(0)];
  if (dtype == torch::kInt8 && !vit::onednn_available()) {
    state.SkipWithError("int8 needs vitcpp built with oneDNN");
    return;
  }
  double gflops = 0;
  for (auto _ : state) gflops = vit::measure_gemm_gflops(dtype, torch::kCPU, 1576, 768, 3072, 0.5);
  state.counters["GFLOP/s (best of LibTorch, oneDNN)"] = gflops;
}
BENCHMARK(Gemm)->Arg(0)->Arg(1)->Arg(2)->ArgNames({"dtype"})->Iterations(3)->Unit(benchmark::kMillisecond);

// The chip's bfloat16 ceiling, which no GEMM passes: independent AVX512-BF16 dot products
// (vdpbf16ps, 16 lanes x 2 products x 2 FLOP) into 16 accumulators, on every thread at once.
#if defined(__x86_64__) && !defined(VITCPP_NO_AVX512) && \
    ((defined(__clang__) && __clang_major__ >= 9) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
__attribute__((target("avx512f,avx512bf16"))) float dot_products(int64_t rounds) {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512i one = _mm512_set1_epi16(0x3f80);  // bfloat16 1.0
  for (int64_t r = 0; r < rounds; ++r) {
    for (auto& a : acc) a = _mm512_dpbf16_ps(a, reinterpret_cast<__m512bh&>(one), reinterpret_cast<__m512bh&>(one));
    asm volatile("" : "+v"(one));  // one more round's inputs: the loop cannot be folded
  }
  float sum = 0.f;
  for (auto& a : acc) sum += _mm512_reduce_add_ps(a);
  return sum;
}

void Bf16DotProductPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    state.SkipWithError("this CPU has no AVX512-BF16");
    return;
  }
  const int n = threads();
  constexpr int64_t kRounds = 100'000'000;
  for (auto _ : state) {
    std::vector<std::thread> pool;
    for (int t = 0; t < n; ++t) pool.emplace_back([] { benchmark::DoNotOptimize(dot_products(kRounds)); });
    for (auto& t : pool) t.join();
  }
  const double flop = static_cast<double>(n) * kRounds * 16 * 64;
  state.counters["GFLOP/s"] = benchmark::Counter(flop / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(Bf16DotProductPeak)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The chip's int8 ceiling: independent AVX512-VNNI dot products (vpdpbusd, 16 lanes x 4 u8 x s8
// products x 2 OP) into 16 accumulators, on every thread at once.
__attribute__((target("avx512f,avx512vnni"))) int int8_dot_products(int64_t rounds) {
  __m512i acc[16];
  for (auto& a : acc) a = _mm512_setzero_si512();
  __m512i one = _mm512_set1_epi8(1);
  for (int64_t r = 0; r < rounds; ++r) {
    for (auto& a : acc) a = _mm512_dpbusd_epi32(a, one, one);
    asm volatile("" : "+v"(one));
  }
  int sum = 0;
  for (auto& a : acc) sum += _mm512_reduce_add_epi32(a);
  return sum;
}

void Int8DotProductPeak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("this CPU has no AVX512-VNNI");
    return;
  }
  const int n = threads();
  constexpr int64_t kRounds = 100'000'000;
  for (auto _ : state) {
    std::vector<std::thread> pool;
    for (int t = 0; t < n; ++t) pool.emplace_back([] { benchmark::DoNotOptimize(int8_dot_products(kRounds)); });
    for (auto& t : pool) t.join();
  }
  const double ops = static_cast<double>(n) * kRounds * 16 * 128;
  state.counters["GOP/s"] = benchmark::Counter(ops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(Int8DotProductPeak)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

// ViT-B/16 with one block (197 tokens, batch 1) through each backend: the block dominates, the
// embedding and head are a small constant share.
void Block(benchmark::State& state) {
  torch::set_num_threads(threads());
  const std::string backend = kBackends[state.range(1)];
  if (skip_without_onednn(state, backend)) return;
  const auto dtype = state.range(0) ? torch::kBFloat16 : torch::kFloat32;
  auto model = vit::create_model("vit_base_patch16_224", R"({"depth": 1})");
  model->eval();
  model->to(dtype);
  torch::InferenceMode guard;
  const auto x = torch::randn({1, 3, 224, 224}).to(dtype);
  if (backend == "plain") {
    for (auto _ : state) benchmark::DoNotOptimize(model->forward(x));
  } else {
    const vit::InferenceModel fast(model, options(backend));
    for (auto _ : state) benchmark::DoNotOptimize(fast.forward(x));
  }
  state.SetLabel(backend + (state.range(0) ? " bf16" : " fp32"));
}
BENCHMARK(Block)->ArgsProduct({{0, 1}, {0, 1, 2, 3}})->ArgNames({"bf16", "backend"})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
