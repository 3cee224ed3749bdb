// The `vit` command-line tool. Subcommands: classify, run, info, bench, convert, train.
// Exit status: 0 success, 1 error (one line on stderr), 2 usage error.
#include <vit/vit.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <sstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <optional>
#include <malloc.h>
#include <unistd.h>
#include <vector>

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --name value / --name=value options and positional arguments, validated against a known set.
struct Args {
  std::map<std::string, std::string> options;
  std::vector<std::string> positional;
  bool help = false;

  Args(int argc, char** argv, int first, const std::vector<std::string>& known, const std::vector<std::string>& flags = {}) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        help = true;
      } else if (a.rfind("--", 0) == 0) {
        std::string name = a.substr(2), value;
        if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
          options[name] = "1";
          continue;
        }
        if (const auto eq = name.find('='); eq != std::string::npos) {
          value = name.substr(eq + 1);
          name = name.substr(0, eq);
        } else {
          if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
          value = argv[++i];
        }
        if (std::find(known.begin(), known.end(), name) == known.end()) throw UsageError("unknown option --" + name);
        options[name] = value;
      } else {
        positional.push_back(a);
      }
    }
  }
  std::string need(const std::string& name) const {
    const auto it = options.find(name);
    if (it == options.end()) throw UsageError("missing --" + name);
    return it->second;
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    const auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

torch::Device parse_device(const std::string& text) {
  if (text != "cpu" && text.rfind("cuda", 0) != 0) throw UsageError("--device must be cpu or cuda[:N], got '" + text + "'");
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(text);
  } catch (const c10::Error&) {
    throw UsageError("--device must be cpu or cuda[:N], got '" + text + "'");
  }
  TORCH_CHECK(!device.is_cuda() || torch::cuda::is_available(), "--device ", text,
              ": CUDA is not available (LibTorch without CUDA, or no GPU)");
  TORCH_CHECK(!device.is_cuda() || !device.has_index() || device.index() < static_cast<int>(torch::cuda::device_count()),
              "--device ", text, ": only ", torch::cuda::device_count(), " CUDA device(s)");
  return device;
}

torch::ScalarType parse_dtype(const std::string& text) {
  if (text == "float32" || text == "fp32") return torch::kFloat32;
  if (text == "bfloat16" || text == "bf16") return torch::kBFloat16;
  if (text == "float16" || text == "fp16") return torch::kFloat16;
  throw UsageError("--dtype must be float32, bfloat16 or float16, got '" + text + "'");
}

// --backend: InferenceModel's "auto" / "onednn" / "torch", or "plain" for the module's own forward.
std::string use_backend(vit::Pretrained& model, const std::string& backend) {
  if (backend == "plain") return "plain";
  if (backend != "auto" && backend != "onednn" && backend != "torch")
    throw UsageError("--backend must be auto, onednn, torch or plain, got '" + backend + "'");
  // The tool never needs the module's own block weights again: the engine's packed copies replace them.
  return vit::optimize_for_inference(model, vit::InferenceOptions().backend(backend).release_module_weights(true));
}

constexpr const char* kBackendHelp =
    "  --backend B      auto (default: oneDNN on the CPU when built with it, else LibTorch ops), onednn,\n"
    "                   torch, or plain (the module's own forward, the reference path)\n";

int64_t positive(const std::string& name, const std::string& text, int64_t lo = 1) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > 1000000)
    throw UsageError("--" + name + (lo == 1 ? " must be a positive integer" : " must be an integer >= " + std::to_string(lo)) +
                     ", got '" + text + "'");
  return static_cast<int64_t>(v);
}

bool flag(const std::string& name, const std::string& text) {
  if (text != "0" && text != "1") throw UsageError("--" + name + " must be 1 or 0, got '" + text + "'");
  return text == "1";
}

int parse_threads(const std::string& text) {
  if (text.empty()) return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto n = positive("threads", text);
  if (n > 4096) throw UsageError("--threads must be at most 4096, got '" + text + "'");
  return static_cast<int>(n);
}

constexpr const char* kRunHelp = R"(usage: vit run --model DIR --input IN.safetensors --output OUT.safetensors
               [--device cpu|cuda[:N]] [--dtype float32|bfloat16|float16] [--threads T] [--backend B]

Runs a checkpoint directory (config.json + model.safetensors | pytorch_model.bin | *.pth) on the
tensor 'input' (N, C, H, W) of IN and writes the tensor 'logits' (N, num_classes, float32) to OUT.
A distilled model gives the mean of its two heads.

  --model DIR      checkpoint directory, or a weights file next to its config.json
  --input FILE     safetensors file with a tensor named 'input'
  --output FILE    safetensors file to write, with a tensor named 'logits'
  --device D       cpu (default) or cuda[:N]
  --dtype T        float32 (default), bfloat16 or float16: weights converted once, input cast
  --threads T      CPU threads (default: all cores)
)";

int run(int argc, char** argv) {
  const Args args(argc, argv, 2, {"model", "input", "output", "device", "dtype", "threads", "backend"});
  if (args.help) {
    std::cout << kRunHelp << kBackendHelp;
    return 0;
  }
  if (!args.positional.empty()) throw UsageError("unexpected argument '" + args.positional.front() + "'");
  const auto model_dir = args.need("model"), input_path = args.need("input"), output_path = args.need("output");
  const auto device = parse_device(args.get("device", "cpu"));
  const auto dtype = parse_dtype(args.get("dtype", "float32"));
  TORCH_CHECK(dtype != torch::kFloat16 || device.is_cuda(),
              "--dtype float16 needs --device cuda (LibTorch's CPU kernels lack float16); use bfloat16 on the CPU");
  torch::set_num_threads(parse_threads(args.get("threads", "")));

  const auto inputs = vit::load_safetensors(input_path);
  TORCH_CHECK(inputs.contains("input"), "'", input_path, "' has no tensor named 'input'");
  const auto& input = inputs.at("input");
  TORCH_CHECK(input.dim() == 4, "'", input_path, "': input must be (N, C, H, W), got shape ", input.sizes());
  TORCH_CHECK(input.is_floating_point(), "'", input_path, "': input must be floating point, got ", input.scalar_type());

  auto model = vit::load_pretrained(model_dir, device, dtype);
  use_backend(model, args.get("backend", "auto"));
  torch::InferenceMode inference;
  const auto logits = model.forward(input.to(device, dtype)).to(torch::kCPU, torch::kFloat32);
  vit::save_safetensors(output_path, {{"logits", logits}});
  return 0;
}

// A checkpoint directory, or a zoo name (random weights) for info and bench.
vit::Pretrained load_model(const std::string& model, const torch::Device& device, torch::ScalarType dtype) {
  if (std::filesystem::exists(model)) return vit::load_pretrained(model, device, dtype);
  auto m = vit::create_model(model);  // throws "[create_model] unknown architecture ..." for other names
  m->eval();
  m->to(device, dtype);
  auto p = vit::make_pretrained(m.ptr(), model);
  p.weights_format = "none (random weights from the zoo config)";
  return p;
}

std::string fmt(double v, int precision) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

constexpr const char* kInfoHelp = R"(usage: vit info --model DIR|NAME

Describes a checkpoint directory or a zoo model (vit_base_patch16_224, ...): architecture, options,
parameters, GMACs at its input size, expected input and preprocessing, labels, weights format and dtype.
)";

int info(int argc, char** argv) {
  const Args args(argc, argv, 2, {"model"});
  if (args.help) {
    std::cout << kInfoHelp;
    return 0;
  }
  if (!args.positional.empty()) throw UsageError("unexpected argument '" + args.positional.front() + "'");
  const auto p = load_model(args.need("model"), torch::kCPU, torch::kFloat32);
  const auto& cfg = p.pretrained_cfg;
  std::string options = c10::str(*p.module);
  options = options.substr(0, options.find('\n'));
  if (!options.empty() && options.back() == '(') options.pop_back();
  std::cout << p.architecture << "\n";
  std::cout << "  model        " << options << "\n";
  std::cout << "  parameters   " << fmt(vit::count_parameters(*p.module) / 1e6, 2) << " M\n";
  std::cout << "  compute      " << fmt(vit::count_macs(*p.module, cfg.input_size[1], cfg.input_size[2]) / 1e9, 2)
            << " GMACs per image at " << cfg.input_size[0] << "x" << cfg.input_size[1] << "x" << cfg.input_size[2] << "\n";
  std::cout << "  input        " << cfg.input_size[0] << "x" << cfg.input_size[1] << "x" << cfg.input_size[2] << ", resize "
            << cfg.interpolation << " to " << static_cast<int64_t>(cfg.input_size[1] / cfg.crop_pct) << " (crop_pct "
            << cfg.crop_pct << "), " << cfg.crop_mode << " crop, mean [" << cfg.mean[0] << ", " << cfg.mean[1] << ", "
            << cfg.mean[2] << "], std [" << cfg.std[0] << ", " << cfg.std[1] << ", " << cfg.std[2] << "]\n";
  std::cout << "  classes      " << p.num_classes;
  if (!p.label_names.empty()) {
    std::cout << " (";
    for (size_t i = 0; i < std::min<size_t>(3, p.label_names.size()); ++i) std::cout << (i ? ", " : "") << p.label_names[i];
    std::cout << (p.label_names.size() > 3 ? ", ...)" : ")");
  } else {
    std::cout << " (no label names)";
  }
  std::cout << "\n";
  std::cout << "  weights      " << (p.weights_file.empty() ? "" : p.weights_file + " ") << "(" << p.weights_format
            << (p.weights_dtype.empty() ? "" : ", " + p.weights_dtype) << ")\n";
  return 0;
}

constexpr const char* kBenchHelp = R"(usage: vit bench --model DIR|NAME [--batch B] [--dtype float32|bfloat16|float16]
                 [--device cpu|cuda[:N]] [--threads T] [--iters N] [--warmup W] [--backend B] [--json]

Times the steady-state forward of a checkpoint or zoo model on random input of its input size:
W warm-up runs, then N timed runs; prints the median and spread, images/s, achieved GFLOP/s
(2 x MACs / time), the efficiency (that rate over the GEMM peak measured just before, a
1576x768x3072 matrix product in the same dtype on the same device and threads) and the process's
peak resident memory. --json prints one JSON object.
)";

int64_t peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

int bench(int argc, char** argv) {
  const Args args(argc, argv, 2, {"model", "batch", "dtype", "device", "threads", "iters", "warmup", "backend"}, {"json"});
  if (args.help) {
    std::cout << kBenchHelp << kBackendHelp;
    return 0;
  }
  if (!args.positional.empty()) throw UsageError("unexpected argument '" + args.positional.front() + "'");
  const bool json = args.options.count("json") > 0;
  const auto device = parse_device(args.get("device", "cpu"));
  const auto dtype_name = args.get("dtype", "float32");
  const auto dtype = parse_dtype(dtype_name);
  TORCH_CHECK(dtype != torch::kFloat16 || device.is_cuda(), "--dtype float16 needs --device cuda; use bfloat16 on the CPU");
  const int threads = parse_threads(args.get("threads", ""));
  torch::set_num_threads(threads);
  const int64_t batch = positive("batch", args.get("batch", "1")), iters = positive("iters", args.get("iters", "10"));
  const int64_t warmup = positive("warmup", args.get("warmup", "2"));

  auto p = load_model(args.need("model"), device, dtype);
  const auto backend = use_backend(p, args.get("backend", "auto"));
  const auto& in = p.pretrained_cfg.input_size;
  torch::InferenceMode inference;
  const auto x = torch::randn({batch, in[0], in[1], in[2]}, torch::TensorOptions().device(device).dtype(dtype));
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int64_t i = 0; i < warmup; ++i) p.forward(x);
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
  const double images_per_s = batch * 1000. / median;
  const double gmacs = vit::count_macs(*p.module, in[1], in[2]) / 1e9;
  const double gflops = 2. * gmacs * batch / (median / 1000.);
  const double rss_mb = peak_rss_kb() / 1024.;  // before the GEMM measurement allocates its operands
  const double peak = vit::measure_gemm_gflops(dtype, device);
  const double efficiency = gflops / peak;
  const std::string device_name = device.str();
  if (json) {
    std::cout << "{\"model\": \"" << p.architecture << "\", \"batch\": " << batch << ", \"dtype\": \"" << dtype_name
              << "\", \"threads\": " << threads << ", \"device\": \"" << device_name << "\", \"backend\": \"" << backend
              << "\", \"iters\": " << iters
              << ", \"median_ms\": " << fmt(median, 3) << ", \"min_ms\": " << fmt(ms.front(), 3) << ", \"max_ms\": "
              << fmt(ms.back(), 3) << ", \"images_per_s\": " << fmt(images_per_s, 3) << ", \"gmacs_per_image\": "
              << fmt(gmacs, 3) << ", \"gflops\": " << fmt(gflops, 2) << ", \"gemm_peak_gflops\": " << fmt(peak, 2)
              << ", \"efficiency\": " << fmt(efficiency, 4) << ", \"peak_rss_mb\": " << fmt(rss_mb, 1) << "}\n";
  } else {
    std::cout << p.architecture << "  batch " << batch << "  " << dtype_name << "  " << device_name << "  " << threads
              << " threads  backend " << backend << "\n";
    std::cout << "  median " << fmt(median, 2) << " ms  (min " << fmt(ms.front(), 2) << ", max " << fmt(ms.back(), 2)
              << ", " << iters << " runs)\n";
    std::cout << "  " << fmt(images_per_s, 2) << " images/s   " << fmt(gflops, 1) << " GFLOP/s ("
              << fmt(gmacs, 2) << " GMACs/image)   peak RSS " << fmt(rss_mb, 0) << " MB\n";
    std::cout << "  efficiency " << fmt(100. * efficiency, 1) << "% of the measured GEMM peak (" << fmt(peak, 1)
              << " GFLOP/s, 1576x768x3072 " << dtype_name << ")\n";
  }
  return 0;
}

constexpr const char* kConvertHelp = R"(usage: vit convert IN OUT

  IN a checkpoint directory, OUT a directory: the hub layout (config.json + model.safetensors) of
     any supported checkpoint (pytorch_model.bin, DeiT-style *.pth, DDP prefixes, vit-pytorch layouts).
  IN a weights file, OUT a file: between torch.save (.pth, .pt, .bin) and safetensors (.safetensors),
     by OUT's extension; a nested checkpoint ({'model': ...}) is reduced to its state dict.
)";

int convert(int argc, char** argv) {
  const Args args(argc, argv, 2, {});
  if (args.help) {
    std::cout << kConvertHelp;
    return 0;
  }
  if (args.positional.size() != 2) throw UsageError("expected IN and OUT");
  const std::filesystem::path in = args.positional[0], out = args.positional[1];
  TORCH_CHECK(std::filesystem::exists(in), "'", in.string(), "': no such file or directory");
  if (std::filesystem::is_directory(in)) {
    const auto p = vit::load_pretrained(in.string());
    vit::save_pretrained(p, out.string());
    std::cout << "wrote " << (out / "config.json").string() << " and " << (out / "model.safetensors").string() << " ("
              << p.architecture << ", " << vit::count_parameters(*p.module) << " parameters)\n";
    return 0;
  }
  const auto ext = out.extension().string();
  if (ext != ".safetensors" && ext != ".pth" && ext != ".pt" && ext != ".bin")
    throw UsageError("OUT must end in .safetensors, .pth, .pt or .bin (or IN must be a directory)");
  std::string format;
  const auto state = vit::read_weights(in.string(), &format);
  if (ext == ".safetensors") vit::save_safetensors(out.string(), state, {{"format", "pt"}});
  else vit::save_torch_save(out.string(), state);
  std::cout << "wrote " << out.string() << " (" << state.size() << " tensors, " << format << " -> "
            << (ext == ".safetensors" ? "safetensors" : "torch.save") << ")\n";
  return 0;
}

constexpr const char* kClassifyHelp = R"(usage: vit classify --model DIR [--topk K] [--batch B] [--device cpu|cuda[:N]]
                    [--dtype float32|bfloat16|float16] [--threads T] [--backend B] IMAGE...

Classifies PNG / JPEG images with a checkpoint directory, preprocessing each exactly as timm's eval
transform with the checkpoint's pretrained_cfg (resize the shorter side to floor(size / crop_pct)
with PIL's antialiased bicubic, center crop, normalize). Prints the top-K labels (label_names of
config.json, else class indices) with probabilities for each image; a progress bar and a summary
line on stderr when there are several images.

  --topk K     labels per image (default 5)
  --batch B    images per forward pass (default 8)
)";

// "[#####.....] 12/40": `width` characters filled in proportion.
std::string bar(int64_t done, int64_t total, int width) {
  const int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + std::to_string(done) + "/" +
         std::to_string(total);
}

// "[#####.....] 12/40  3.1 images/s" on stderr, redrawn in place.
void progress(int64_t done, int64_t total, double seconds) {
  std::cerr << "\r" << bar(done, total, 30) << "  " << fmt(done / std::max(seconds, 1e-9), 1) << " images/s" << std::flush;
}

int classify(int argc, char** argv) {
  const Args args(argc, argv, 2, {"model", "topk", "batch", "device", "dtype", "threads", "backend"});
  if (args.help) {
    std::cout << kClassifyHelp << kBackendHelp;
    return 0;
  }
  if (args.positional.empty()) throw UsageError("no images given");
  const auto device = parse_device(args.get("device", "cpu"));
  const auto dtype = parse_dtype(args.get("dtype", "float32"));
  TORCH_CHECK(dtype != torch::kFloat16 || device.is_cuda(), "--dtype float16 needs --device cuda; use bfloat16 on the CPU");
  torch::set_num_threads(parse_threads(args.get("threads", "")));
  const int64_t topk = positive("topk", args.get("topk", "5")), batch = positive("batch", args.get("batch", "8"));

  auto model = vit::load_pretrained(args.need("model"), device, dtype);
  use_backend(model, args.get("backend", "auto"));
  TORCH_CHECK(model.pretrained_cfg.input_size[0] == 3, "the model takes ", model.pretrained_cfg.input_size[0],
              " channels; classify feeds RGB images");
  const auto& images = args.positional;
  const auto total = static_cast<int64_t>(images.size());
  const bool show_progress = total > 1;
  torch::InferenceMode inference;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t n = std::min(batch, total - first);
    std::vector<torch::Tensor> inputs;
    for (int64_t i = first; i < first + n; ++i)
      inputs.push_back(vit::preprocess(vit::read_image(images[i]), model.pretrained_cfg));
    const auto probs = model.forward(torch::stack(inputs).to(device, dtype)).to(torch::kCPU, torch::kFloat32).softmax(-1);
    const auto [values, indices] = probs.topk(std::min<int64_t>(topk, probs.size(1)), 1);
    if (show_progress) std::cerr << "\r" << std::string(60, ' ') << "\r";
    for (int64_t i = 0; i < n; ++i) {
      std::cout << images[first + i] << "\n";
      for (int64_t k = 0; k < values.size(1); ++k) {
        const auto cls = indices[i][k].item<int64_t>();
        const auto label = cls < static_cast<int64_t>(model.label_names.size()) ? model.label_names[cls] : std::to_string(cls);
        std::cout << "  " << std::setw(6) << fmt(100. * values[i][k].item<double>(), 2) << "%  " << label << "\n";
      }
    }
    std::cout << std::flush;
    if (show_progress) progress(first + n, total, elapsed());
  }
  if (show_progress)
    std::cerr << "\n" << total << " images in " << fmt(elapsed(), 2) << " s (" << fmt(total / elapsed(), 2) << " images/s)\n";
  return 0;
}

constexpr const char* kTrainHelp = R"(usage: vit train --out DIR [options]
       vit train --resume DIR [--limit N] [--max-steps N] [--threads T] [--device D]

Trains a ViT on Fashion-MNIST (Debian's dataset-fashion-mnist) with AdamW, linear warm-up + cosine
learning rate, label smoothing, DropPath, random crop + flip, and gradient clipping, from a fixed
seed. Each epoch shows a progress bar, evaluates the 10k test images and saves DIR (config.json +
model.safetensors for vit classify / vit run, optimizer.safetensors and trainer.json for --resume).

model (grayscale replicated to 3 channels, 28x28 input):
  --family F        timm (default) or vit_pytorch
  --patch P         patch size (default 7)      --dim D       embedding dim (default 128)
  --depth L         blocks (default 4)          --heads H     attention heads (default 4)
  --mlp-ratio R     MLP hidden / dim (default 2)
  --pool P          avg (the mean of the patch tokens, no class token; the default) or token (a class
                    token; the default with --teacher, whose distilled student reads its tokens)
  --drop-path P     DropPath rate (timm, default 0)
  --teacher DIR     DeiT distillation from this checkpoint (its logits on the same input): the
                    student gets the distillation token and head (timm family)
  --distillation T  hard (default with --teacher) or soft
  --alpha A         weight of the distillation loss (default 0.5)
  --tau T           soft distillation temperature (default 1)
training:
  --epochs N (default 18)  --batch B (default 64)  --lr LR (default 0.002)  --min-lr (default 1e-5)
  --warmup E        warm-up epochs (default 1)  --weight-decay W (default 0.05)
  --smoothing S     label smoothing (default 0.1)  --clip C  max gradient norm, 0 = off (default 1)
  --crop-padding P  augmentation: zero-pad by P, crop back at random (default 0 = off)
  --flip F          augmentation: random left-right flips, 1 or 0 (default 1)
  --seed S (default 0)  --data DIR (default /usr/share/datasets/fashion-mnist)
  --limit N         train on the first N images only (tests and quick looks)
  --max-steps N     stop (and save) after N steps in all; --resume continues the run
  --device D        cpu (default) or cuda[:N]   --threads T  CPU threads (default: all cores)
  --workers W       split each batch over W model replicas, run at once on the CPU and their
                    gradients summed (default: one per thread on the CPU, 1 on CUDA)
)";

double number(const std::string& name, const std::string& text, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= lo && v <= hi))
    throw UsageError("--" + name + " must be a number in [" + fmt(lo, 6) + ", " + fmt(hi, 6) + "], got '" + text + "'");
  return v;
}

std::string clock_time(double seconds) {
  const auto s = static_cast<int64_t>(std::max(seconds, 0.));
  std::ostringstream out;
  out << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return out.str();
}

// A Fashion-MNIST model of either family from the command line.
vit::Pretrained fashion_model(const Args& args, bool distilled) {
  const auto family = args.get("family", "timm");
  const int64_t patch = positive("patch", args.get("patch", "7")), dim = positive("dim", args.get("dim", "128"));
  const int64_t depth = positive("depth", args.get("depth", "4")), heads = positive("heads", args.get("heads", "4"));
  const double mlp_ratio = number("mlp-ratio", args.get("mlp-ratio", "2"), 0.01, 64.);
  const double drop_path = number("drop-path", args.get("drop-path", "0"), 0., 1.);
  const auto pool = args.get("pool", distilled ? "token" : "avg");
  if (pool != "token" && pool != "avg") throw UsageError("--pool must be token or avg, got '" + pool + "'");
  if (pool == "avg" && distilled) throw UsageError("--pool avg cannot go with --teacher (a distilled student reads its tokens)");
  vit::PretrainedCfg cfg;
  cfg.input_size = {3, 28, 28};
  cfg.interpolation = "bilinear";
  cfg.crop_pct = 1.;
  cfg.mean = {0.2860, 0.2860, 0.2860};  // Fashion-MNIST's pixel mean and std
  cfg.std = {0.3530, 0.3530, 0.3530};
  std::shared_ptr<torch::nn::Module> module;
  std::string architecture;
  if (family == "timm") {
    architecture = distilled ? "deit_tiny_distilled_patch16_224" : "vit_tiny_patch16_224";
    module = vit::VisionTransformer(vit::VisionTransformerOptions()
                                        .img_size(28).patch_size(patch).in_chans(3).num_classes(10)
                                        .embed_dim(dim).depth(depth).num_heads(heads).mlp_ratio(mlp_ratio)
                                        .drop_path_rate(drop_path).distilled(distilled)
                                        .global_pool(pool).class_token(pool == "token")).ptr();
  } else if (family == "vit_pytorch") {
    if (distilled) throw UsageError("--teacher needs --family timm (vit-pytorch's ViT has no distillation token)");
    module = vit::vit_pytorch::ViT(vit::vit_pytorch::ViTOptions(28, patch, 10, dim, depth, heads,
                                                               static_cast<int64_t>(mlp_ratio * dim))
                                       .channels(3).dim_head(dim / heads).pool(pool == "avg" ? "mean" : "cls")).ptr();
  } else {
    throw UsageError("--family must be timm or vit_pytorch, got '" + family + "'");
  }
  return vit::make_pretrained(module, architecture, vit::fashion_mnist_classes(), cfg);
}

int train(int argc, char** argv) {
  const Args args(argc, argv, 2,
                  {"out", "resume", "family", "patch", "dim", "depth", "heads", "mlp-ratio", "pool", "drop-path",
                   "teacher", "distillation", "alpha", "tau", "epochs", "batch", "lr", "min-lr", "warmup", "weight-decay",
                   "smoothing", "clip", "crop-padding", "flip", "seed", "data", "limit", "max-steps", "device", "threads",
                   "workers"});
  if (args.help) {
    std::cout << kTrainHelp;
    return 0;
  }
  if (!args.positional.empty()) throw UsageError("unexpected argument '" + args.positional.front() + "'");
  // Every step frees and re-allocates the same activation buffers: keep them in the heap instead of
  // returning them to the kernel (glibc's default), which cost ~20% of the time in page faults.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
  ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
  torch::set_num_threads(parse_threads(args.get("threads", "")));
  const auto device = parse_device(args.get("device", "cpu"));
  const auto data_dir = args.get("data", vit::kFashionMnistDir);
  auto train_data = vit::load_fashion_mnist(data_dir, /*train=*/true);
  const auto test_data = vit::load_fashion_mnist(data_dir, /*train=*/false);
  if (args.options.count("limit")) {
    const auto n = std::min(positive("limit", args.get("limit", "")), train_data.size());
    train_data = {train_data.images.narrow(0, 0, n), train_data.labels.narrow(0, 0, n)};
  }

  const bool resuming = args.options.count("resume") > 0;
  std::optional<vit::Trainer> trainer;
  std::string out;
  if (resuming) {
    for (const char* fixed : {"out", "family", "patch", "dim", "depth", "heads", "mlp-ratio", "pool", "drop-path", "teacher",
                              "distillation", "alpha", "tau", "batch", "lr", "min-lr", "warmup", "weight-decay",
                              "smoothing", "clip", "crop-padding", "flip", "seed", "epochs", "workers"})
      if (args.options.count(fixed)) throw UsageError(std::string("--") + fixed + " cannot change on --resume");
    out = args.get("resume", "");
    trainer.emplace(vit::Trainer::resume(out, std::move(train_data), device));
  } else {
    out = args.need("out");
    vit::TrainOptions o;
    o.epochs(positive("epochs", args.get("epochs", "18")))
        .batch_size(positive("batch", args.get("batch", "64")))
        .lr(number("lr", args.get("lr", "0.002"), 1e-9, 10.))
        .min_lr(number("min-lr", args.get("min-lr", "1e-5"), 0., 10.))
        .warmup_epochs(number("warmup", args.get("warmup", "1"), 0., 1e6))
        .weight_decay(number("weight-decay", args.get("weight-decay", "0.05"), 0., 10.))
        .label_smoothing(number("smoothing", args.get("smoothing", "0.1"), 0., 0.99))
        .clip_grad_norm(number("clip", args.get("clip", "1"), 0., 1e6))
        .crop_padding(positive("crop-padding", args.get("crop-padding", "0"), 0))
        .flip(flag("flip", args.get("flip", "1")))
        .seed(static_cast<uint64_t>(number("seed", args.get("seed", "0"), 0., 1e15)))
        .teacher(args.get("teacher", ""))
        .distillation(args.options.count("teacher") ? args.get("distillation", "hard") : "none")
        .alpha(number("alpha", args.get("alpha", "0.5"), 0., 1.))
        .tau(number("tau", args.get("tau", "1"), 1e-3, 1e3))
        .workers(args.options.count("workers") ? positive("workers", args.get("workers", "")) : 0)
        .device(device);
    if (o.distillation() != "none" && o.distillation() != "hard" && o.distillation() != "soft")
      throw UsageError("--distillation must be hard or soft, got '" + o.distillation() + "'");
    if (args.options.count("distillation") && !args.options.count("teacher")) throw UsageError("--distillation needs --teacher");
    torch::manual_seed(o.seed());  // the initial weights too
    auto model = fashion_model(args, !o.teacher().empty());
    trainer.emplace(std::move(model), std::move(train_data), o);
  }
  std::optional<vit::Pretrained> teacher;
  if (!trainer->options().teacher().empty()) {
    teacher = vit::load_pretrained(trainer->options().teacher(), device);
    const auto &t = teacher->pretrained_cfg, &s = trainer->model().pretrained_cfg;
    TORCH_CHECK(t.input_size == s.input_size && t.mean == s.mean && t.std == s.std && teacher->num_classes == 10,
                "teacher '", trainer->options().teacher(), "' must take the student's input (3x28x28, Fashion-MNIST "
                "normalisation) and have 10 classes");
    trainer->set_teacher([m = *teacher](const torch::Tensor& x) { return m.forward(x); });
  }
  const int64_t max_steps = args.options.count("max-steps") ? positive("max-steps", args.get("max-steps", "")) : -1;

  const auto& o = trainer->options();
  const auto& model = trainer->model();
  std::cerr << "training " << model.architecture << " (" << fmt(vit::count_parameters(*model.module) / 1e6, 2)
            << " M parameters) on " << trainer->steps_per_epoch() * o.batch_size() << " images x " << o.epochs()
            << " epochs, batch " << o.batch_size() << ", " << torch::get_num_threads() << (torch::get_num_threads() == 1 ? " thread, " : " threads, ")
            << o.workers() << (o.workers() == 1 ? " worker, " : " workers, ") << o.device()
            << (o.distillation() != "none" ? ", " + o.distillation() + " distillation from " + o.teacher() : "")
            << (resuming ? ", resumed at step " + std::to_string(trainer->step()) : "") << "\n";
  const bool tty = ::isatty(2);
  const auto start = std::chrono::steady_clock::now();
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  vit::EvalStats last;
  if (trainer->done()) last = vit::evaluate(model, test_data);
  while (!trainer->done() && (max_steps < 0 || trainer->step() < max_steps)) {
    const int64_t epoch = trainer->epoch(), spe = trainer->steps_per_epoch();
    const auto epoch_start = std::chrono::steady_clock::now();
    const int64_t first = trainer->step();
    double loss = 0., correct = 0.;
    int64_t steps = 0;
    while (trainer->epoch() == epoch && !trainer->done() && (max_steps < 0 || trainer->step() < max_steps)) {
      const auto stats = trainer->train_step();
      ++steps;
      loss += stats.loss;
      correct += stats.accuracy;
      const int64_t done = trainer->step() - epoch * spe;
      const double seconds = since(epoch_start), rate = steps * o.batch_size() / seconds;
      if (tty || done == spe) {
        std::cerr << "\repoch " << epoch + 1 << "/" << o.epochs() << " " << bar(done, spe, 24) << "  loss " << fmt(loss / steps, 4)
                  << "  acc " << fmt(100. * correct / steps, 2) << "%  lr " << std::scientific << std::setprecision(2)
                  << stats.lr << std::defaultfloat << "  " << fmt(rate, 0) << " img/s  ETA "
                  << clock_time((spe - done) * o.batch_size() / rate) << "   " << std::flush;
      }
    }
    std::cerr << "\n";
    if (trainer->step() - first < spe && trainer->step() != (epoch + 1) * spe) {
      trainer->save(out);
      std::cerr << "stopped at step " << trainer->step() << " (--max-steps); saved " << out << "\n";
      return 0;
    }
    last = vit::evaluate(model, test_data);
    trainer->save(out);
    std::cerr << "epoch " << epoch + 1 << "/" << o.epochs() << ": test loss " << fmt(last.loss, 4) << "  acc "
              << fmt(100. * last.accuracy, 2) << "%";
    if (last.cls_accuracy >= 0.)
      std::cerr << " (class head " << fmt(100. * last.cls_accuracy, 2) << "%, distillation head "
                << fmt(100. * last.dist_accuracy, 2) << "%, average of both " << fmt(100. * last.accuracy, 2) << "%)";
    std::cerr << "  [" << fmt(since(epoch_start), 1) << " s, " << clock_time(since(start)) << " in all]  saved " << out
              << "\n";
  }
  std::cout << "test accuracy " << fmt(100. * last.accuracy, 2) << "%";
  if (last.cls_accuracy >= 0.)
    std::cout << " (class head " << fmt(100. * last.cls_accuracy, 2) << "%, distillation head "
              << fmt(100. * last.dist_accuracy, 2) << "%)";
  std::cout << " after " << trainer->epoch() << " epochs, " << fmt(since(start), 1) << " s wall time\n";
  return 0;
}

constexpr const char* kHelp = R"(usage: vit <command> [options]

commands:
  classify classify images with a checkpoint (top-K labels)
  run      run a checkpoint on a safetensors input and write its logits
  info     describe a checkpoint or zoo model
  bench    time a model's forward pass
  convert  convert checkpoints (torch.save <-> safetensors, any layout -> hub layout)
  train    train a ViT (or a distilled DeiT) on Fashion-MNIST

'vit <command> --help' describes a command.
)";

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int(int, char**)>> commands = {
      {"classify", classify}, {"run", run}, {"info", info}, {"bench", bench}, {"convert", convert}, {"train", train}};
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "-h" || command == "--help") {
    std::cout << kHelp;
    return 0;
  }
  if (command == "--version") {
    std::cout << "vit " << VITCPP_VERSION << "\n";
    return 0;
  }
  const auto it = commands.find(command);
  if (it == commands.end()) {
    std::cerr << (command.empty() ? "vit: missing command" : "vit: unknown command '" + command + "'") << "\n" << kHelp;
    return 2;
  }
  try {
    return it->second(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "vit " << command << ": " << e.what() << " (see 'vit " << command << " --help')\n";
    return 2;
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    std::cerr << "vit " << command << ": error: " << message.substr(0, message.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "vit " << command << ": error: " << e.what() << "\n";
    return 1;
  }
}
