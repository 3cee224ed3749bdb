#pragma once
// Golden files written by tests/reference/generate_goldens.py (the Python reference) and the helpers
// the C++ tests use to compare against them. The directory is $VITCPP_GOLDEN_DIR if set, else the
// committed tests/golden.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <vit/model.h>
#include <vit/options.h>
#include <vit/safetensors.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace vit::testing {

using json = nlohmann::json;

struct Golden {
  std::string name;
  SafeTensors file;
  std::string family, module, kind, mode;
  json config;
  uint64_t seed = 0;

  const torch::Tensor& tensor(const std::string& key) const { return file.at(key); }
  bool has(const std::string& key) const { return file.contains(key); }
  /// Tensors whose names start with `prefix`, prefix removed, in file (= Python state_dict) order.
  std::vector<std::pair<std::string, torch::Tensor>> with_prefix(const std::string& prefix) const;
  /// For kind "keys": the Python state_dict keys and shapes.
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys() const;
};

std::string golden_dir();
/// Names of the golden cases of one family ("timm" | "vit_pytorch") and kind ("forward" | "init" | "keys").
std::vector<std::string> golden_cases(const std::string& family, const std::string& kind);
Golden load_golden(const std::string& name);

/// Asserts that `module`'s named_parameters equal the Python state_dict (names, order, shapes).
void expect_same_keys(const torch::nn::Module& module,
                      const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected);
/// Checks keys as above, then copies the golden's param/<key> tensors into the module.
void load_params(torch::nn::Module& module, const Golden& golden);

/// |actual - expected| <= tol + tol * |expected| elementwise (torch.allclose with rtol = atol = tol),
/// shapes equal; the failure message gives the largest difference and where.
::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected, double tol);

/// fp32 tolerance against the Python reference: 1e-5 on the CPU; 1e-4 on CUDA (TF32 is disabled,
/// but cuBLAS/cuDNN sum in other orders than the CPU kernels that wrote the goldens).
double tolerance(const torch::Device& device);

/// The devices every reference test runs on; CUDA cases skip themselves without a GPU.
inline std::vector<std::string> test_devices() { return {"CPU", "CUDA"}; }
/// The device of a test_devices() entry.
torch::Device parse_device(const std::string& name);
/// Readies `device` for reference comparisons (on CUDA: TF32 off) and returns "", or returns why it
/// cannot run (for GTEST_SKIP).
std::string prepare_device(const torch::Device& device);

/// A path in the temp directory unique to this process and `name`, with nothing there yet.
std::string scratch_path(const std::string& name);

/// Fixture for tests that run once per device ("CPU", "CUDA"); SetUp skips CUDA without a GPU.
class OnDevice : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    device = parse_device(GetParam());
    if (const auto why = prepare_device(device); !why.empty()) GTEST_SKIP() << why;
  }
  torch::Device device{torch::kCPU};
};

/// gtest parameter name for (case, device) pairs.
std::string case_name(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info);

/// Reads the Python kwargs of the few goldens whose C++ counterpart takes no options struct (the
/// others go through options_from_json); finish() fails when a key was never read, so a config the
/// C++ side silently ignores cannot pass.
class Args {
 public:
  explicit Args(json config) : config_(std::move(config)) {}
  template <typename T>
  T get(const std::string& key, T fallback) {
    used_.push_back(key);
    return config_.contains(key) && !config_.at(key).is_null() ? config_.at(key).get<T>() : fallback;
  }
  template <typename T>
  T need(const std::string& key) {
    used_.push_back(key);
    return config_.at(key).get<T>();
  }
  const json& raw(const std::string& key) {
    used_.push_back(key);
    return config_.at(key);
  }
  void finish() const;

 private:
  json config_;
  std::vector<std::string> used_;
};

/// A module built from a golden's config and the function that runs it (one or more outputs,
/// compared with the golden's output [, output_dist]).
struct Built {
  std::shared_ptr<torch::nn::Module> module;
  std::function<std::vector<torch::Tensor>(const torch::Tensor&)> forward;
};

/// A module holder whose forward gives the golden's one output.
template <typename Holder>
Built single(Holder m) {
  return {m.ptr(), [m](const torch::Tensor& x) mutable { return std::vector<torch::Tensor>{m->forward(x)}; }};
}

/// The whole reference check of a "forward" golden on `device`: loads the Python weights, runs the
/// golden's mode (train cases reseed the generator first), compares outputs, and with gradients,
/// backpropagates grad_output and compares the input and every parameter gradient.
void check_forward_case(const Golden& golden, Built built, const torch::Device& device);

using Builder = std::function<Built(const Golden&)>;

/// The body of every family's reference test: (golden case, device) -> check_forward_case, skipping
/// CUDA without a GPU and train-mode cases on CUDA (their dropout masks come from the CPU generator).
void check_reference(const std::tuple<std::string, std::string>& case_and_device, const Builder& build);
/// An "init" golden: a build after torch::manual_seed(seed) has Python's initial weights (1e-6).
void check_init(const std::string& name, const Builder& build);
/// A "keys" golden: named_parameters() equal the Python state_dict keys and shapes.
void check_keys(const std::string& name, const Builder& build);

/// The model of a whole-model golden (family "timm": VisionTransformer, "eva": Eva) built from its
/// config, with its weights, in eval mode.
ModelPtr golden_model(const Golden& golden);
/// An "intermediates" golden: forward_intermediates(input, indices, options) equals Python's.
void check_intermediates(const std::string& name);
/// A "prune" golden: the pruned model's forward, and a model rebuilt from its model_args, equal Python's.
void check_prune(const std::string& name);
/// An "attention" golden: attention_maps equal Python's; the heat map has the patch grid's shape.
void check_attention_maps(const std::string& name);

/// The golden's weights (param/<key>) as a state dict, each key renamed by `rename` (an empty name
/// drops the tensor): a checkpoint of another layout, for the families' checkpoint_filter_fn tests.
StateDict golden_state(const Golden& golden, const std::function<std::string(std::string)>& rename);
/// `s` with every `from` replaced by `to`.
std::string replaced(std::string s, const std::string& from, const std::string& to);

/// timm's parameter count of a zoo name (timm.create_model(name)) and of the name built with
/// model_args {"depth": 2, "embed_dim": shrunk_embed_dim, "num_heads": 4, "num_classes": 7}.
struct TimmCount {
  const char* name;
  int64_t parameters;
  int64_t shrunk_embed_dim;
  int64_t shrunk_parameters;
};
/// Each name's full count from its resolved keyword arguments (`count`: JSON -> the family's
/// count_parameters of its options; nothing built) and its shrunk build's count equal timm's, and the
/// zoo's names of `family` are exactly those of `counts`.
void check_timm_counts(const std::string& family, const std::vector<TimmCount>& counts,
                       const std::function<int64_t(const std::string&)>& count);

/// The message of the c10::Error that `f` throws (without backtrace), or "<no error>".
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}

/// Draws the switch-like fields of an options struct at random, from its field table, so that a test
/// exercises every option, including ones added later: booleans, strings from their choices, and
/// optionals unset, zero or a small value. Sizes are left as they are.
void randomize_switches(const detail::Fields& fields, uint64_t seed);

/// Sets LibTorch's intra-op thread count for a scope (the tests otherwise run on 1 thread).
struct ThreadsGuard {
  explicit ThreadsGuard(int n) : saved(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadsGuard() { at::set_num_threads(saved); }
  int saved;
};

}  // namespace vit::testing

/// The golden-driven suites of a model family whose goldens carry `family` (e.g. "timm") and whose
/// modules `build` (a Builder) constructs: <Prefix>Reference (every "forward" case on every device),
/// <Prefix>KeysReference ("keys"), and for whole models <Prefix>Intermediates, <Prefix>Prune and
/// <Prefix>AttentionMaps (kinds "intermediates", "prune", "attention"; built by golden_model).
#define VIT_GOLDEN_MODEL_TESTS(Prefix, family, build)                                                      \
  class Prefix##Reference : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};    \
  TEST_P(Prefix##Reference, MatchesPython) { ::vit::testing::check_reference(GetParam(), build); }       \
  INSTANTIATE_TEST_SUITE_P(Golden, Prefix##Reference,                                                    \
                           ::testing::Combine(::testing::ValuesIn(::vit::testing::golden_cases(family, "forward")), \
                                              ::testing::ValuesIn(::vit::testing::test_devices())),      \
                           ::vit::testing::case_name);                                                   \
  class Prefix##KeysReference : public ::testing::TestWithParam<std::string> {};                         \
  TEST_P(Prefix##KeysReference, NamedParametersEqualPythonStateDict) { ::vit::testing::check_keys(GetParam(), build); } \
  INSTANTIATE_TEST_SUITE_P(Golden, Prefix##KeysReference, ::testing::ValuesIn(::vit::testing::golden_cases(family, "keys"))); \
  class Prefix##Intermediates : public ::testing::TestWithParam<std::string> {};                         \
  TEST_P(Prefix##Intermediates, MatchPython) { ::vit::testing::check_intermediates(GetParam()); }        \
  INSTANTIATE_TEST_SUITE_P(Golden, Prefix##Intermediates,                                                \
                           ::testing::ValuesIn(::vit::testing::golden_cases(family, "intermediates")));  \
  class Prefix##Prune : public ::testing::TestWithParam<std::string> {};                                 \
  TEST_P(Prefix##Prune, PrunedModelMatchesPython) { ::vit::testing::check_prune(GetParam()); }           \
  INSTANTIATE_TEST_SUITE_P(Golden, Prefix##Prune, ::testing::ValuesIn(::vit::testing::golden_cases(family, "prune"))); \
  class Prefix##AttentionMaps : public ::testing::TestWithParam<std::string> {};                         \
  TEST_P(Prefix##AttentionMaps, MatchPython) { ::vit::testing::check_attention_maps(GetParam()); }       \
  INSTANTIATE_TEST_SUITE_P(Golden, Prefix##AttentionMaps,                                                \
                           ::testing::ValuesIn(::vit::testing::golden_cases(family, "attention")))

/// Expects `statement` to throw a c10::Error whose message contains `text`.
#define EXPECT_ERROR(statement, text) \
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, text, ::vit::testing::error_of([&] { statement; }))
