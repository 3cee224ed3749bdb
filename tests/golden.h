#pragma once
// Golden files written by tests/reference/generate_goldens.py (the Python reference) and the helpers
// the C++ tests use to compare against them. The directory is $VITCPP_GOLDEN_DIR if set, else the
// committed tests/golden.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <vit/options.h>
#include <vit/safetensors.h>

#include <functional>
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

/// Expects `statement` to throw a c10::Error whose message contains `text`.
#define EXPECT_ERROR(statement, text) \
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, text, ::vit::testing::error_of([&] { statement; }))
