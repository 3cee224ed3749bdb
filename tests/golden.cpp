#include "golden.h"

#include <vit/eva.h>
#include <vit/vision_transformer.h>
#include <vit/vit_pytorch.h>
#include <vit/zoo.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace vit::testing {

std::string golden_dir() {
  if (const char* dir = std::getenv("VITCPP_GOLDEN_DIR"); dir && *dir) return dir;
  return VITCPP_SOURCE_GOLDEN_DIR;
}

std::vector<std::pair<std::string, torch::Tensor>> Golden::with_prefix(const std::string& prefix) const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [key, t] : file.tensors)
    if (key.rfind(prefix, 0) == 0) out.emplace_back(key.substr(prefix.size()), t);
  return out;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Golden::keys() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& entry : json::parse(file.metadata.at("keys")))
    out.emplace_back(entry[0].get<std::string>(), entry[1].get<std::vector<int64_t>>());
  return out;
}

Golden load_golden(const std::string& name) {
  Golden g;
  g.name = name;
  g.file = load_safetensors(golden_dir() + "/" + name + ".safetensors");
  const auto& m = g.file.metadata;
  g.family = m.at("family");
  g.module = m.at("module");
  g.kind = m.at("kind");
  g.config = json::parse(m.at("config"));
  if (m.count("mode")) g.mode = m.at("mode");
  if (m.count("seed")) g.seed = std::stoull(m.at("seed"));
  return g;
}

std::vector<std::string> golden_cases(const std::string& family, const std::string& kind) {
  // Every test process asks for several lists at start-up: the directory is read once.
  struct Case {
    std::string name, family, kind;
  };
  static const std::vector<Case> all = [] {
    std::vector<Case> cases;
    const std::filesystem::path dir = golden_dir();
    if (!std::filesystem::is_directory(dir)) return cases;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".safetensors") continue;
      const auto meta = load_safetensors(entry.path().string()).metadata;
      cases.push_back({entry.path().stem().string(), meta.at("family"), meta.at("kind")});
    }
    return cases;
  }();
  std::vector<std::string> names;
  for (const auto& c : all)
    if (c.family == family && c.kind == kind) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return names;
}

void expect_same_keys(const torch::nn::Module& module,
                      const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected) {
  const auto params = module.named_parameters();
  std::vector<std::string> actual_names, expected_names;
  for (const auto& p : params) actual_names.push_back(p.key());
  for (const auto& e : expected) expected_names.push_back(e.first);
  ASSERT_EQ(actual_names, expected_names) << "named_parameters() differ from the Python state_dict keys";
  for (const auto& [name, shape] : expected)
    EXPECT_EQ(params[name].sizes().vec(), shape) << "shape of " << name;
}

void load_params(torch::nn::Module& module, const Golden& golden) {
  const auto expected = golden.with_prefix("param/");
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys;
  for (const auto& [k, t] : expected) keys.emplace_back(k, t.sizes().vec());
  expect_same_keys(module, keys);
  auto params = module.named_parameters();
  torch::NoGradGuard no_grad;
  for (const auto& [k, t] : expected) params[k].copy_(t);
}

::testing::AssertionResult all_close(const torch::Tensor& actual_, const torch::Tensor& expected_, double tol) {
  const auto actual = actual_.detach().to(torch::kCPU, torch::kFloat64);
  const auto expected = expected_.detach().to(torch::kCPU, torch::kFloat64);
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " != expected " << expected.sizes();
  if (actual.numel() == 0) return ::testing::AssertionSuccess();
  const auto diff = (actual - expected).abs();
  const auto excess = diff - (tol + tol * expected.abs());
  const auto worst = excess.flatten().argmax().item<int64_t>();
  if (excess.flatten()[worst].item<double>() <= 0. && !diff.isnan().any().item<bool>())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |diff| " << diff.max().item<double>() << " exceeds tol " << tol
                                       << " (worst at flat index " << worst << ": " << actual.flatten()[worst].item<double>()
                                       << " vs " << expected.flatten()[worst].item<double>() << ")";
}

void check_reference(const std::tuple<std::string, std::string>& case_and_device, const Builder& build) {
  const auto device = parse_device(std::get<1>(case_and_device));
  if (const auto why = prepare_device(device); !why.empty()) GTEST_SKIP() << why;
  const auto golden = load_golden(std::get<0>(case_and_device));
  if (golden.mode == "train" && device.is_cuda()) GTEST_SKIP() << "dropout masks of the goldens come from the CPU generator";
  check_forward_case(golden, build(golden), device);
}

void check_init(const std::string& name, const Builder& build) {
  const auto golden = load_golden(name);
  torch::manual_seed(golden.seed);
  const auto params = build(golden).module->named_parameters();
  for (const auto& [key, expected] : golden.with_prefix("param/")) {
    ASSERT_TRUE(params.contains(key)) << key;
    EXPECT_TRUE(all_close(params[key], expected, 1e-6)) << key;
  }
}

void check_keys(const std::string& name, const Builder& build) {
  const auto golden = load_golden(name);
  expect_same_keys(*build(golden).module, golden.keys());
}

ModelPtr golden_model(const Golden& g) {
  const auto config = g.config.dump();
  const auto what = "[golden " + g.name + "]";
  ModelPtr m;
  if (g.family == "eva") m = Eva(options_from_json(config, EvaOptions(), what)).ptr();
  else if (g.family == "vit_pytorch") m = ViT(options_from_json(config, ViTOptions(), what)).ptr();
  else m = VisionTransformer(options_from_json(config, VisionTransformerOptions(), what)).ptr();
  load_params(*m, g);
  m->eval();
  return m;
}

namespace {

// Python's indices argument (None, an int n: the last n, or a list) as the C++ list.
std::vector<int64_t> indices_of(const json& v, int64_t blocks) {
  if (v.is_null()) return {};
  if (v.is_number_integer()) return take_indices(blocks, {}, v.get<int64_t>());
  return v.get<std::vector<int64_t>>();
}

}  // namespace

void check_intermediates(const std::string& name) {
  const auto g = load_golden(name);
  auto m = golden_model(g);
  auto call = json::parse(g.file.metadata.at("call"));
  const auto indices = indices_of(call.value("indices", json()), m->num_blocks());
  call.erase("indices");
  const auto options = options_from_json(call.dump(), IntermediatesOptions(), "[golden " + g.name + "]");
  torch::NoGradGuard no_grad;
  const auto out = m->forward_intermediates(g.tensor("input"), indices, options);
  const auto blocks = json::parse(g.file.metadata.at("blocks")).get<std::vector<int64_t>>();
  ASSERT_EQ(out.intermediates.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_TRUE(all_close(out.intermediates[i], g.tensor("intermediates/" + std::to_string(i)), 1e-5)) << i;
    const auto prefix = "prefix/" + std::to_string(i);
    if (g.has(prefix)) {
      ASSERT_EQ(out.prefix_tokens.size(), blocks.size());
      EXPECT_TRUE(all_close(out.prefix_tokens[i], g.tensor(prefix), 1e-5)) << i;
    }
  }
  if (!g.has("prefix/0")) {
    EXPECT_TRUE(out.prefix_tokens.empty());
  }
  EXPECT_EQ(out.features.defined(), g.has("output"));
  if (g.has("output")) {
    EXPECT_TRUE(all_close(out.features, g.tensor("output"), 1e-5));
  }
}

void check_prune(const std::string& name) {
  const auto g = load_golden(name);
  auto m = golden_model(g);
  const auto prune = json::parse(g.file.metadata.at("prune"));
  const auto take = m->prune_intermediate_layers(indices_of(prune.at("indices"), m->num_blocks()), prune.value("prune_norm", false),
                                                 prune.value("prune_head", true));
  EXPECT_EQ(take, json::parse(g.file.metadata.at("take")).get<std::vector<int64_t>>());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(all_close(m->forward(g.tensor("input")), g.tensor("output"), 1e-5));
  // model_args describes what is left: a model built from it holds exactly the remaining tensors
  const auto rebuilt = m->clone_model();
  EXPECT_EQ(count_parameters(*rebuilt), count_parameters(*m));
  EXPECT_TRUE(all_close(rebuilt->forward(g.tensor("input")), g.tensor("output"), 1e-5));
}

void check_attention_maps(const std::string& name) {
  const auto g = load_golden(name);
  auto m = golden_model(g);
  const auto indices = indices_of(json::parse(g.file.metadata.at("indices")), m->num_blocks());
  torch::NoGradGuard no_grad;
  const auto maps = m->attention_maps(g.tensor("input"), indices);
  const auto blocks = json::parse(g.file.metadata.at("blocks")).get<std::vector<int64_t>>();
  ASSERT_EQ(maps.size(), blocks.size());
  for (size_t i = 0; i < maps.size(); ++i) EXPECT_TRUE(all_close(maps[i], g.tensor("attention/" + std::to_string(i)), 1e-5)) << i;
  // the heat map of the last block: the class token's row (or rollout), over the patch grid
  const auto heat = attention_heatmap(*m, g.tensor("input"));
  const auto grid = m->feat_size(g.tensor("input").size(2), g.tensor("input").size(3));
  EXPECT_EQ(heat.sizes(), (std::vector<int64_t>{g.tensor("input").size(0), grid[0], grid[1]}));
  EXPECT_TRUE(torch::isfinite(heat).all().item<bool>());
}

StateDict golden_state(const Golden& golden, const std::function<std::string(std::string)>& rename) {
  StateDict state;
  for (const auto& [key, tensor] : golden.with_prefix("param/")) {
    const auto name = rename(key);
    if (!name.empty()) state.emplace_back(name, tensor);
  }
  return state;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

void check_timm_counts(const std::string& family, const std::vector<TimmCount>& counts,
                       const std::function<int64_t(const std::string&)>& count) {
  std::set<std::string> names;
  for (const auto& c : counts) {
    SCOPED_TRACE(c.name);
    names.insert(c.name);
    EXPECT_EQ(count(resolve_model_args(c.name)), c.parameters);  // the full model, from its options
    const auto shrunk = json{{"depth", 2}, {"embed_dim", c.shrunk_embed_dim}, {"num_heads", 4}, {"num_classes", 7}};
    const auto model = create_model(c.name, shrunk.dump());  // built
    EXPECT_EQ(count_parameters(*model), c.shrunk_parameters);
    EXPECT_EQ(model->family(), family);
  }
  std::set<std::string> zoo_names;
  for (const auto& name : list_models())
    if (architecture(name).family == family) zoo_names.insert(name);
  EXPECT_EQ(names, zoo_names);  // the zoo has every name of the family's timm module(s), and no other
}

double tolerance(const torch::Device& device) { return device.is_cuda() ? 1e-4 : 1e-5; }

torch::Device parse_device(const std::string& name) {
  return name == "CUDA" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

std::string prepare_device(const torch::Device& device) {
  if (device.is_cuda() && !torch::cuda::is_available()) return "no CUDA device";
  if (device.is_cuda()) {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  return {};
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

void randomize_switches(const detail::Fields& fields, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  for (const auto& f : fields) {
    json value;
    switch (f.kind) {
      case detail::Kind::kBool: value = pick(2) == 1; break;
      case detail::Kind::kString:
        if (f.check.choices.empty()) continue;
        value = f.check.choices[pick(f.check.choices.size())];
        break;
      case detail::Kind::kOptInt: value = std::vector<json>{nullptr, 0, 8}[pick(3)]; break;
      case detail::Kind::kOptDouble: value = std::vector<json>{nullptr, 0., 0.1}[pick(3)]; break;
      case detail::Kind::kOptBool: value = std::vector<json>{nullptr, true, false}[pick(3)]; break;
      default: continue;
    }
    detail::set_from_string(f, value.is_string() ? value.get<std::string>() : value.dump(), f.name);
  }
}

void Args::finish() const {
  for (const auto& item : config_.items()) {
    if (std::find(used_.begin(), used_.end(), item.key()) == used_.end())
      ADD_FAILURE() << "config key '" << item.key() << "' is not mapped to a C++ option";
  }
}

void check_forward_case(const Golden& golden, Built built, const torch::Device& device) {
  const double tol = tolerance(device);
  auto& module = *built.module;
  load_params(module, golden);
  if (::testing::Test::HasFatalFailure()) return;
  module.train(golden.mode == "train");
  module.to(device);
  const bool grads = golden.has("grad_output");
  auto x = golden.tensor("input").to(device).requires_grad_(grads);

  torch::manual_seed(golden.seed);
  const auto outputs = built.forward(x);
  const std::vector<std::string> names{"output", "output_dist"};
  ASSERT_EQ(outputs.size(), golden.has("output_dist") ? 2u : 1u);
  for (size_t i = 0; i < outputs.size(); ++i) EXPECT_TRUE(all_close(outputs[i], golden.tensor(names[i]), tol)) << names[i];
  if (!grads) return;

  outputs[0].backward(golden.tensor("grad_output").to(device));
  EXPECT_TRUE(all_close(x.grad(), golden.tensor("grad/input"), tol)) << "grad of input";
  const auto params = module.named_parameters();
  for (const auto& [key, expected] : golden.with_prefix("grad/")) {
    if (key == "input") continue;
    ASSERT_TRUE(params[key].grad().defined()) << "no gradient reached " << key;
    EXPECT_TRUE(all_close(params[key].grad(), expected, tol)) << "grad of " << key;
  }
}

}  // namespace vit::testing

namespace vit::testing {

std::string scratch_path(const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() / ("vitcpp_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(path);
  return path.string();
}

}  // namespace vit::testing
