// vit bench: the steady-state forward time of a checkpoint or zoo model, its GFLOP/s and its
// efficiency against the GEMM peak measured in the same process.
#include "common.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

namespace vit::cli {

namespace {

int64_t peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

/// Top-1 agreement and logit error of `p` (the benchmarked model) against the same weights in float32
/// through the module's plain forward, on `n` seeded random inputs.
nlohmann::ordered_json compare_with_float32(const Pretrained& p, const ModelFlags& flags, int64_t n, int64_t batch) {
  ModelFlags reference_flags = flags;
  reference_flags.dtype("float32");
  reference_flags.backend("plain");
  torch::manual_seed(0);
  const auto reference = reference_flags.load();
  const auto& in = p.pretrained_cfg.input_size();
  const auto device = flags.torch_device();
  torch::manual_seed(1);
  const auto x = torch::randn({n, in[0], in[1], in[2]});
  std::vector<torch::Tensor> ours, theirs;
  for (int64_t i = 0; i < n; i += batch) {
    const auto xi = x.narrow(0, i, std::min(batch, n - i)).to(device);
    ours.push_back(p.forward(xi.to(flags.torch_dtype())).to(torch::kCPU, torch::kFloat32));
    theirs.push_back(reference.forward(xi).to(torch::kCPU, torch::kFloat32));
  }
  const auto a = torch::cat(ours), b = torch::cat(theirs);
  const auto diff = a - b;
  return {{"accuracy_inputs", n},
          {"top1_agreement", a.argmax(1).eq(b.argmax(1)).to(torch::kFloat64).mean().item<double>()},
          {"logit_max_error", (diff.abs().max() / b.abs().max()).item<double>()},
          {"logit_rms_error", (diff.pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item<double>()}};
}

}  // namespace

#define VIT_CLI_BENCH_FLAGS(X)                                                   \
  X(int64_t, batch, 1, Range(1, 1 << 20), "images per forward")                  \
  X(int64_t, iters, 10, Range(1, 1 << 20), "timed runs")                         \
  X(int64_t, warmup, 2, Range(0, 1 << 20), "untimed runs first")                \
  X(int64_t, accuracy, 0, Range(0, 1 << 20),                                     \
    "also run N random inputs through this and the float32 module's plain forward and report top-1 agreement and logit error")

struct BenchFlags {
  VIT_OPTIONS(BenchFlags, VIT_CLI_BENCH_FLAGS)
};

void add_bench(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    BenchFlags bench;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* bench = app.add_subcommand("bench", "time a model's forward pass");
  bench->footer("Times the steady-state forward of a checkpoint or zoo model on random input of its input size: W warm-up runs, "
                "then N timed runs; prints the median and spread, images/s, achieved GFLOP/s (2 x MACs / time), the efficiency "
                "(that rate over the GEMM peak measured just before, a 1576x768x3072 matrix product in the same dtype on the "
                "same device and threads) and the process's peak resident memory.");
  f->model.add(*bench, /*zoo=*/true);
  add_fields(*bench, f->bench.fields());
  bench->add_flag("--json", f->json, "print one JSON object");
  bench->callback([f] {
    const int64_t batch = f->bench.batch(), iters = f->bench.iters();
    std::string backend;
    torch::manual_seed(0);  // a zoo model's random weights: the same for --accuracy's float32 reference
    const auto p = f->model.load(&backend);
    const auto device = f->model.torch_device();
    const auto dtype = f->model.torch_dtype();
    const auto& in = p.pretrained_cfg.input_size();
    torch::InferenceMode inference;
    const auto x = torch::randn({batch, in[0], in[1], in[2]}, torch::TensorOptions().device(device).dtype(dtype));
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    for (int64_t i = 0; i < f->bench.warmup(); ++i) p.forward(x);
    sync();
    std::vector<double> ms;
    for (int64_t i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      p.forward(x);
      sync();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double images_per_s = static_cast<double>(batch) * 1000. / median;
    const double gmacs = static_cast<double>(p.module->count_macs(in[1], in[2])) / 1e9;
    const double gflops = 2. * gmacs * static_cast<double>(batch) / (median / 1000.);
    const double rss_mb = static_cast<double>(peak_rss_kb()) / 1024.;  // before the GEMM measurement allocates
    // int8: the oneDNN s8 GEMM's rate (VNNI where the CPU has it), in GOP/s
    const double peak = measure_gemm_gflops(f->model.dtype() == "int8" ? torch::kInt8 : dtype, device);
    const double efficiency = gflops / peak;
    const int threads = torch::get_num_threads();
    nlohmann::ordered_json accuracy;
    if (f->bench.accuracy() > 0) accuracy = compare_with_float32(p, f->model, f->bench.accuracy(), batch);
    if (f->json) {
      const nlohmann::ordered_json j = {
          {"model", p.architecture}, {"batch", batch},       {"dtype", f->model.dtype()},      {"threads", threads},
          {"device", device.str()},  {"backend", backend},      {"iters", iters},            {"median_ms", median},
          {"min_ms", ms.front()},    {"max_ms", ms.back()},     {"images_per_s", images_per_s}, {"gmacs_per_image", gmacs},
          {"gflops", gflops},        {"gemm_peak_gflops", peak}, {"efficiency", efficiency},    {"peak_rss_mb", rss_mb}};
      auto out = j;
      if (!accuracy.is_null()) out.update(accuracy);
      std::cout << out.dump() << "\n";
      return;
    }
    std::cout << p.architecture << "  batch " << batch << "  " << f->model.dtype() << "  " << device.str() << "  "
              << threads << " threads  backend " << backend << "\n";
    std::cout << "  median " << fixed(median, 2) << " ms  (min " << fixed(ms.front(), 2) << ", max " << fixed(ms.back(), 2)
              << ", " << iters << " runs)\n";
    std::cout << "  " << fixed(images_per_s, 2) << " images/s   " << fixed(gflops, 1) << " GFLOP/s (" << fixed(gmacs, 2)
              << " GMACs/image)   peak RSS " << fixed(rss_mb, 0) << " MB\n";
    std::cout << "  efficiency " << fixed(100. * efficiency, 1) << "% of the measured GEMM peak (" << fixed(peak, 1)
              << (f->model.dtype() == "int8" ? " GOP/s, 1576x768x3072 s8 x s8 -> s32" : " GFLOP/s, 1576x768x3072 " + f->model.dtype())
              << ")\n";
    if (!accuracy.is_null()) {
      std::cout << "  against float32 on " << accuracy["accuracy_inputs"].get<int64_t>() << " random inputs: top-1 agreement "
                << fixed(100. * accuracy["top1_agreement"].get<double>(), 1) << "%, logit error max "
                << fixed(100. * accuracy["logit_max_error"].get<double>(), 2) << "% / RMS "
                << fixed(100. * accuracy["logit_rms_error"].get<double>(), 2) << "% of the logits' max / RMS\n";
    }
  });
}

}  // namespace vit::cli
