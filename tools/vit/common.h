#pragma once
// What the `vit` subcommands share: the flags of every command that runs a model, flags generated
// from the library's option tables (vit/options.h), and the terminal output helpers. Each
// subcommand is one file that registers itself with add_<name>(app).

#include <CLI/CLI.hpp>
#include <vit/vit.h>

#include "io.h"  // src/: excerpt

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vit::cli {

/// A misuse of the command line: exit status 2, like CLI11's own parse errors.
struct UsageError : CLI::ValidationError {
  explicit UsageError(const std::string& message) : CLI::ValidationError(message) {}
};

/// Adds one flag per field of an options table (`--name` with '_' as '-'), its help the field's doc
/// and default, its value checked as the library checks it (a bad value is a UsageError). Only
/// fields in `only` when it is not empty. Returns the flags by field name.
std::map<std::string, CLI::Option*> add_fields(CLI::App& app, const detail::Fields& fields,
                                               const std::vector<std::string>& only = {});

// The flags of every command that runs a model (--model itself is each command's).
#define VIT_CLI_MODEL_FLAGS(X)                                                                                   \
  X(torch::Device, device, torch::kCPU, Any(), "cpu or cuda[:N]")                                                 \
  X(std::string, dtype, "float32", OneOf("float32", "bfloat16", "float16", "int8"),                               \
    "weights converted once at load, input cast (float16: CUDA only; int8: the block GEMMs quantised, CPU with "   \
    "oneDNN, the rest float32)")                                                                                 \
  X(std::optional<int64_t>, threads, std::nullopt, Range(1, 4096), "CPU threads; unset: every core")              \
  X(std::string, backend, "auto", OneOf("auto", "onednn", "torch", "plain"),                                      \
    "auto (an InferenceModel: oneDNN on the CPU when built with it, else LibTorch ops), onednn, torch, or plain "  \
    "(the module's own forward, the reference path)")                                                            \
  X(int64_t, max_parameters, kDefaultMaxParameters, Range(1, 1e15), "refuse models with more parameters than this")

/// --model and the model flags, and what they produce.
struct ModelFlags {
  VIT_OPTIONS(ModelFlags, VIT_CLI_MODEL_FLAGS)
  std::string model;
  bool zoo = false;  // --model may also name a zoo architecture (random weights)

  /// Adds --model (`zoo`: it may also name a zoo architecture) and the flags `only` lists (all when empty).
  void add(CLI::App& app, bool zoo, const std::vector<std::string>& only = {});
  /// --device, checked to exist.
  torch::Device torch_device() const;
  /// The model's dtype: --dtype, except float32 for int8 (whose InferenceModel quantises the blocks).
  torch::ScalarType torch_dtype() const;
  /// Sets LibTorch's threads, loads the model in the dtype on the device and puts it on --backend;
  /// returns the backend's name ("plain" for the module's own forward).
  Pretrained load(std::string* backend_name = nullptr) const;
};

/// Sets LibTorch's intra-op threads: `threads`, or every core.
void set_threads(std::optional<int64_t> threads);

/// Text a user gave (a flag's value, a path) as it may appear in a one-line message, cut as the
/// library cuts what its messages echo (src/io.h). main() puts every error message through it too.
using detail::excerpt;

/// "[#####.....] 12/40": `width` characters filled in proportion.
std::string bar(int64_t done, int64_t total, int width);
/// `v` with `precision` digits after the point.
std::string fixed(double v, int precision);

void add_attention(CLI::App& app);
void add_bench(CLI::App& app);
void add_classify(CLI::App& app);
void add_convert(CLI::App& app);
void add_embed(CLI::App& app);
void add_info(CLI::App& app);
void add_run(CLI::App& app);
void add_train(CLI::App& app);
void add_evaluate(CLI::App& app);

}  // namespace vit::cli
