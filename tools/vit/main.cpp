// The `vit` command-line tool. Subcommands: run (more to come: classify, info, bench, convert).
// Exit status: 0 success, 1 error (one line on stderr), 2 usage error.
#include <vit/vit.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
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

  Args(int argc, char** argv, int first, const std::vector<std::string>& known) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        help = true;
      } else if (a.rfind("--", 0) == 0) {
        std::string name = a.substr(2), value;
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

int parse_threads(const std::string& text) {
  const auto hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (text.empty()) return hw;
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || n < 1 || n > 4096) throw UsageError("--threads must be a positive integer, got '" + text + "'");
  return static_cast<int>(n);
}

constexpr const char* kRunHelp = R"(usage: vit run --model DIR --input IN.safetensors --output OUT.safetensors
               [--device cpu|cuda[:N]] [--dtype float32|bfloat16|float16] [--threads T]

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
  const Args args(argc, argv, 2, {"model", "input", "output", "device", "dtype", "threads"});
  if (args.help) {
    std::cout << kRunHelp;
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
  torch::InferenceMode inference;
  const auto logits = model.forward(input.to(device, dtype)).to(torch::kCPU, torch::kFloat32);
  vit::save_safetensors(output_path, {{"logits", logits}});
  return 0;
}

constexpr const char* kHelp = R"(usage: vit <command> [options]

commands:
  run      run a checkpoint on a safetensors input and write its logits

'vit <command> --help' describes a command.
)";

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int(int, char**)>> commands = {{"run", run}};
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
