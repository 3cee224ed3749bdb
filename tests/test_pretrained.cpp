// Tests of include/vit/pretrained.h, pretrained_cfg.h, state_dict.h, zoo.h and torch_save.h:
// checkpoint directories written by real Python (torch.save and our safetensors writer,
// tests/reference/generate_goldens.py) must load and reproduce the reference logits; strict loading,
// hostile configs, the zoo and corrupt files.
#include <vit/init.h>
#include <vit/pretrained.h>
#include <vit/safetensors.h>
#include <vit/torch_save.h>
#include <vit/vision_transformer.h>
#include <vit/zoo.h>

#include "golden.h"

#include <torch/version.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace vit {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> checkpoint_cases() {
  std::vector<std::string> names;
  const fs::path dir = fs::path(testing::golden_dir()) / "checkpoints";
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string checkpoint_dir(const std::string& name) { return testing::golden_dir() + "/checkpoints/" + name; }


// ---- real checkpoints reproduce the Python logits ----------------------------------------------

class CheckpointReference : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CheckpointReference, LoadsAndMatchesPythonLogits) {
  const auto device = testing::parse_device(std::get<1>(GetParam()));
  if (const auto why = testing::prepare_device(device); !why.empty()) GTEST_SKIP() << why;
  const auto dir = checkpoint_dir(std::get<0>(GetParam()));
  const auto expected = load_safetensors(dir + ".expected.safetensors");
  auto model = load_pretrained(dir, device);
  EXPECT_FALSE(model.module->is_training());
  const auto logits = model.forward(expected.at("input").to(device));
  EXPECT_TRUE(testing::all_close(logits, expected.at("output"), testing::tolerance(device)));

  // save_pretrained -> load_pretrained gives the same model
  const auto out = testing::scratch_path("resaved_" + std::get<0>(GetParam()));
  save_pretrained(model, out);
  auto again = load_pretrained(out, device);
  EXPECT_EQ(again.architecture, model.architecture);
  EXPECT_EQ(again.label_names, model.label_names);
  EXPECT_EQ(again.weights_format, "safetensors");
  EXPECT_TRUE(testing::all_close(again.forward(expected.at("input").to(device)), expected.at("output"), testing::tolerance(device)));
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Golden, CheckpointReference,
                         ::testing::Combine(::testing::ValuesIn(checkpoint_cases()), ::testing::ValuesIn(testing::test_devices())),
                         testing::case_name);

// Writes every checkpoint back out with save_pretrained into $VITCPP_SAVE_DIR, for the ctest
// reference.load_saved, which loads them in the Python reference (tests/reference/check_saved.py).
TEST(SavePretrained, WritesDirectoriesForThePythonReference) {
  const char* out = std::getenv("VITCPP_SAVE_DIR");
  if (!out) GTEST_SKIP() << "VITCPP_SAVE_DIR not set (ctest sets it for reference.load_saved)";
  fs::remove_all(out);
  for (const auto& name : checkpoint_cases()) {
    const auto dir = std::string(out) + "/" + name;
    const auto model = load_pretrained(checkpoint_dir(name));
    save_pretrained(model, dir);
    StateDict state;  // and the same weights as torch.save writes them, for Python's torch.load
    for (const auto& p : model.module->named_parameters()) state.emplace_back(p.key(), p.value());
    save_torch_save(dir + "/weights.pt", state);
  }
}

TEST(LoadPretrained, ReportsFormatDtypeLabelsAndPreprocessing) {
  const auto safetensors = load_pretrained(checkpoint_dir("timm_safetensors"));
  EXPECT_EQ(safetensors.architecture, "vit_tiny_patch16_224");
  EXPECT_EQ(safetensors.weights_format, "safetensors");
  EXPECT_EQ(safetensors.weights_dtype, "Float");
  EXPECT_EQ(safetensors.num_classes(), 7);
  ASSERT_EQ(safetensors.label_names.size(), 7u);
  EXPECT_EQ(safetensors.label_names[3], "class 3");
  EXPECT_EQ(safetensors.pretrained_cfg.input_size(), (Int3{3, 32, 32}));
  EXPECT_EQ(safetensors.pretrained_cfg.mean(), (Double3{0.5, 0.5, 0.5}));  // the zoo's default for vit_tiny_patch16_224
  EXPECT_EQ(load_pretrained(checkpoint_dir("timm_bf16_safetensors")).weights_dtype, "BFloat16");
  const auto deit = load_pretrained(checkpoint_dir("deit_distilled_nested_pth"));
  EXPECT_EQ(deit.weights_format, "torch.save");
  EXPECT_TRUE(deit.module->distilled());
  const auto bf16 = load_pretrained(checkpoint_dir("timm_safetensors"), torch::kCPU, torch::kBFloat16);
  const auto x = load_safetensors(checkpoint_dir("timm_safetensors") + ".expected.safetensors").at("input");
  EXPECT_EQ(bf16.forward(x.to(torch::kBFloat16)).scalar_type(), torch::kBFloat16);
}

// ---- torch.save files as Python writes them ------------------------------------------------------

TEST(TorchSave, ReadsOrderedDictNestedAndPrefixedStateDicts) {
  const auto ordered = load_torch_save(checkpoint_dir("timm_ordereddict_bin") + "/pytorch_model.bin");
  EXPECT_EQ(ordered.front().first, "cls_token");  // file order kept
  const auto nested = load_torch_save(checkpoint_dir("deit_distilled_nested_pth") + "/checkpoint.pth");
  EXPECT_TRUE(std::any_of(nested.begin(), nested.end(), [](const auto& kv) { return kv.first == "head_dist.weight"; }));
  const auto ddp = load_torch_save(checkpoint_dir("timm_ddp_pt") + "/weights.pt");
  EXPECT_EQ(ddp.front().first.rfind("module.", 0), 0u);
  // (their values are checked through the logits in CheckpointReference)
}

TEST(TorchSave, EveryTruncationOrCorruptionThrowsCleanly) {
  std::ifstream in(checkpoint_dir("timm_ordereddict_bin") + "/pytorch_model.bin", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t n = 0; n < bytes.size(); n += 997) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "[load_torch_save] 'cut': ",
                        testing::error_of([&] { parse_torch_save(bytes.data(), n, "cut"); }))
        << "cut to " << n;
  }
  // flip bytes across the archive: every result is a clean error or a successful parse
  for (size_t at = 0; at < bytes.size(); at += 131) {
    auto broken = bytes;
    broken[at] = static_cast<char>(broken[at] ^ 0x5a);
    try {
      parse_torch_save(broken.data(), broken.size(), "flip");
    } catch (const c10::Error&) {
    }
  }
  EXPECT_ERROR(load_torch_save("/nonexistent.pth"), "[load_torch_save] '/nonexistent.pth': cannot open");
  // a directory or a device given as a file is named as such
  const auto dir = std::filesystem::temp_directory_path().string();
  EXPECT_ERROR(load_torch_save(dir), "[load_torch_save] '" + dir + "': is a directory, not a regular file");
  EXPECT_ERROR(load_torch_save("/dev/null"), "[load_torch_save] '/dev/null': not a regular file (a device, a pipe or a socket)");
}

// ---- patch weights in the other family's form ------------------------------------------------------

TEST(LoadPretrained, ConvertsALinearPatchWeightToTheConv) {
  // The timm checkpoint with its Conv2d patch weight rewritten as vit-pytorch's Linear (p1 p2 c order,
  // docs/reference.md): loading converts it back, so the logits still equal Python's.
  const auto dir = testing::scratch_path("linear_patch");
  fs::create_directories(dir);
  fs::copy_file(checkpoint_dir("timm_safetensors") + "/config.json", dir + "/config.json");
  auto state = load_safetensors(checkpoint_dir("timm_safetensors") + "/model.safetensors").tensors;
  for (auto& [name, t] : state)
    if (name == "patch_embed.proj.weight") t = t.permute({0, 2, 3, 1}).reshape({t.size(0), -1}).contiguous();
  save_safetensors(dir + "/model.safetensors", state);
  const auto expected = load_safetensors(checkpoint_dir("timm_safetensors") + ".expected.safetensors");
  EXPECT_TRUE(testing::all_close(load_pretrained(dir).forward(expected.at("input")), expected.at("output"), 1e-5));
  fs::remove_all(dir);
  const auto w = torch::randn({4, 3, 2, 5});
  EXPECT_TRUE(torch::equal(linear_to_conv_patch_weight(conv_to_linear_patch_weight(w), 3, 2, 5), w));
}

// ---- strict loading -----------------------------------------------------------------------------

TEST(LoadStateDict, StrictListsEveryProblemAndCopiesNothing) {
  VisionTransformer model(VisionTransformerOptions().img_size(16).patch_size(8).embed_dim(16).depth(1).num_heads(2).num_classes(3));
  StateDict state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), torch::ones_like(p.value()));
  state.erase(std::remove_if(state.begin(), state.end(), [](const auto& kv) { return kv.first == "head.bias"; }), state.end());
  state.emplace_back("extra.weight", torch::ones({2}));
  for (auto& kv : state)
    if (kv.first == "norm.weight") kv.second = torch::ones({17});
  const auto before = model->cls_token.clone();
  EXPECT_ERROR(load_state_dict(*model, state), "[load_state_dict] checkpoint has 20 tensors, model expects 20: 1 missing (head.bias); "
                                               "1 unexpected (extra.weight); 1 mis-shaped (norm.weight: checkpoint [17] vs model [16])");
  EXPECT_TRUE(torch::equal(model->cls_token, before));
  const auto report = load_state_dict(*model, state, /*strict=*/false);
  EXPECT_EQ(report.missing, std::vector<std::string>{"head.bias"});
  EXPECT_TRUE(torch::equal(model->cls_token, torch::ones_like(model->cls_token)));
}

TEST(LoadStateDict, TakingTheTensorsAdoptsTheirStorageUnlessSharedOrConverted) {
  VisionTransformer model(VisionTransformerOptions().img_size(16).patch_size(8).embed_dim(16).depth(1).num_heads(2).num_classes(3));
  StateDict state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), torch::randn_like(p.value()));
  const auto tied = torch::randn({2, 16});  // norm.weight and norm.bias views of one storage
  for (auto& [name, tensor] : state) {
    if (name == "norm.weight") tensor = tied[0];
    if (name == "norm.bias") tensor = tied[1];
    if (name == "head.bias") tensor = tensor.to(torch::kFloat64);
  }
  const StateDict given = state;
  load_state_dict(*model, given);  // const&: always copies
  for (const auto& [name, tensor] : given) EXPECT_NE(model->named_parameters()[name].data_ptr(), tensor.data_ptr()) << name;

  load_state_dict(*model, std::move(state));
  const auto params = model->named_parameters();
  for (const auto& [name, tensor] : given) {
    EXPECT_TRUE(torch::equal(params[name], tensor.to(torch::kFloat32))) << name;
    const bool copied = name == "norm.weight" || name == "norm.bias" || name == "head.bias";
    EXPECT_EQ(params[name].data_ptr() == tensor.data_ptr(), !copied) << name;
    EXPECT_TRUE(params[name].requires_grad()) << name;
  }
}

TEST(LoadPretrained, SavesOverTheDirectoryItWasLoadedFrom) {
  // The loaded parameters view the mapped file: saving over it must neither corrupt them nor the file.
  const auto dir = testing::scratch_path("overwrite");
  fs::copy(checkpoint_dir("timm_safetensors"), dir, fs::copy_options::recursive);
  const auto expected = load_safetensors(checkpoint_dir("timm_safetensors") + ".expected.safetensors");
  const auto model = load_pretrained(dir);
  save_pretrained(model, dir);
  EXPECT_TRUE(testing::all_close(model.forward(expected.at("input")), expected.at("output"), 1e-5));
  EXPECT_TRUE(testing::all_close(load_pretrained(dir).forward(expected.at("input")), expected.at("output"), 1e-5));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors.partial"));
  fs::remove_all(dir);
}

TEST(LoadPretrained, BadDirectoriesGiveOneLineErrors) {
  EXPECT_ERROR(load_pretrained("/nonexistent/dir"), "no such file or directory");
  const auto dir = testing::scratch_path("bad");
  fs::create_directories(dir);
  EXPECT_ERROR(load_pretrained(dir), "no config.json");
  std::ofstream(dir + "/config.json") << R"({"architecture": "vit_nano_patch3_7"})";
  fs::copy_file(checkpoint_dir("timm_safetensors") + "/model.safetensors", dir + "/model.safetensors");
  EXPECT_ERROR(load_pretrained(dir), "[create_model] unknown architecture 'vit_nano_patch3_7'");
  std::ofstream(dir + "/config.json") << R"({"architecture": "vit_tiny_patch16_224", "model_args": {"img_size": 32, "patch_size": 8, "embed_dim": 48, "depth": 3, "num_heads": 3}})";
  EXPECT_ERROR(load_pretrained(dir), "model.safetensors': checkpoint has 32 tensors, model expects 44: 12 missing (blocks.2.norm1.weight");
  std::ofstream(dir + "/config.json") << R"({"architecture": "vit_tiny_patch16_224", "model_args": {"act_layer": "relu"}})";
  EXPECT_ERROR(load_pretrained(dir), "'act_layer' must be one of 'gelu', 'gelu_tanh', 'quick_gelu', 'silu', 'sigmoid', got \"relu\"");
  std::ofstream(dir + "/config.json") << R"({"architecture": "vit_tiny_patch16_224", "model_args": {"embed_layer": "hybrid"}})";
  EXPECT_ERROR(load_pretrained(dir), "unknown argument \"embed_layer\" = \"hybrid\"");
  std::ofstream(dir + "/config.json") << R"({"architecture": "vit_tiny_patch16_224", "model_args": {"depth": "two"}})";
  EXPECT_ERROR(load_pretrained(dir), "'depth' must be an integer, got \"two\"");
  std::ofstream(dir + "/config.json") << "{not json";
  EXPECT_ERROR(load_pretrained(dir), "not valid JSON");
  fs::remove_all(dir);
}

// ---- the zoo ----------------------------------------------------------------------------------------

// A config.json as a user or an attacker might write it: every value is checked (type, range, length)
// and the model's size is bounded, before anything is allocated; each problem is one line.
TEST(LoadPretrained, HostileConfigsAreOneLineErrors) {
  const auto dir = testing::scratch_path("hostile");
  fs::create_directories(dir);
  fs::copy_file(checkpoint_dir("timm_safetensors") + "/model.safetensors", dir + "/model.safetensors");
  const std::string good_args = R"("img_size": 32, "patch_size": 8, "embed_dim": 48, "depth": 2, "num_heads": 3, "num_classes": 7)";
  auto config = [&](const std::string& model_args, const std::string& rest = "") {
    return R"({"architecture": "vit_tiny_patch16_224", "model_args": {)" + model_args + "}" + rest + "}";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {config(R"("depth": 1000000000)"), "'depth' must be in [0, 10000], got 1000000000"},
      {config(R"("depth": 9000, "embed_dim": 4096, "num_heads": 64)"), "parameters, more than the limit of 2000000000"},
      {config(R"("img_size": 65536, "patch_size": 1)"), "more than the limit"},
      {config(R"("num_classes": -1)"), "'num_classes' must be in [0, 67108864], got -1"},
      {config(R"("img_size": [0, 32])"), "'img_size' must be in [1, 65536], got [0, 32]"},
      {config(R"("img_size": [32, 32, 3])"), "'img_size' must be an int or [h, w]"},
      {config(R"("depth": 18446744073709551615)"), "'depth' must be in [0, 10000], got 18446744073709551615"},
      {config(R"("depth": 2.5)"), "'depth' must be an integer, got 2.5"},
      {config(R"("mlp_ratio": 1e999)"), "not valid JSON"},
      {config(R"("drop_rate": 2)"), "'drop_rate' must be in [0, 1], got 2"},
      {config(R"("global_pool": "cls")"), "'global_pool' must be one of 'token', 'avg', 'max', 'avgmax', 'map', '', got \"cls\""},
      {config(R"("embed_dim": 50, "num_heads": 3)"), "embed_dim 50 is not divisible by num_heads 3"},
      {config(good_args, R"(, "pretrained_cfg": {"std": [0.5, 0, 0.5]})"), "pretrained_cfg 'std' must be in [1e-06, 1000], got [0.5, 0, 0.5]"},
      {config(good_args, R"(, "pretrained_cfg": {"mean": [0.5, 0.5]})"), "pretrained_cfg 'mean' must be a list of 3 numbers"},
      {config(good_args, R"(, "pretrained_cfg": {"interpolation": "lanczos"})"),
       "pretrained_cfg 'interpolation' must be one of 'bicubic', 'bilinear', got \"lanczos\""},
      {config(good_args, R"(, "pretrained_cfg": {"crop_pct": 0})"), "pretrained_cfg 'crop_pct' must be in [0.1, 1], got 0"},
      {config(good_args, R"(, "pretrained_cfg": {"crop_mode": "border"})"), "pretrained_cfg 'crop_mode' must be one of 'center', 'squash'"},
      {config(good_args, R"(, "pretrained_cfg": {"input_size": [3, 100000, 100000]})"), "pretrained_cfg 'input_size' must be in [1, 16384]"},
      {config(good_args, R"(, "pretrained_cfg": {"input_size": [1, 32, 32]})"), "input_size [1,32,32] has 1 channels, the model takes 3"},
      {config(good_args, R"(, "pretrained_cfg": 5)"), "'pretrained_cfg' must be an object, got 5"},
      {config(good_args, R"(, "label_names": ["a", "b"])"), "label_names has 2 entries, the model has 7 classes"},
      {config(good_args, R"(, "label_names": ["a", 2, "c", "d", "e", "f", "g"])"), "label_names must be a list of strings, got an entry 2"},
      {config(good_args, R"(, "label_names": "abc")"), "'label_names' must be a list of strings"},
      {R"({"architecture": 5})", "'architecture' must be a string, got 5"},
      {R"({"architecture": "vit_tiny_patch16_224", "model_args": [1]})", "'model_args' must be an object, got [1]"},
      {R"({"architecture": "vit_tiny_patch16_224", "num_classes": "7"})", "'num_classes' must be an integer, got \"7\""},
      {R"([1, 2])", "expected a JSON object, got array"},
      {config(R"("x": )" + std::string(100000, '[') + std::string(100000, ']')), "not valid JSON here (nested deeper than 32 levels)"},
  };
  for (const auto& [text, message] : cases) {
    std::ofstream(dir + "/config.json") << text;
    const auto error = testing::error_of([&] { load_pretrained(dir); });
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, message, error) << text;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // a config.json of 65 MB is refused before it is read
  std::ofstream(dir + "/config.json") << config(good_args);
  fs::resize_file(dir + "/config.json", 65 << 20);
  EXPECT_ERROR(load_pretrained(dir), "bytes, more than the 64 MB a JSON file may have here");
  // the parameter budget is an option
  std::ofstream(dir + "/config.json") << config(good_args);
  EXPECT_ERROR(load_pretrained(dir, LoadOptions().max_parameters(1000)), "the model would have 67111 parameters, more than the limit of 1000");
  EXPECT_EQ(load_pretrained(dir).num_classes(), 7);
  fs::remove_all(dir);
}

// Built in the dtype it is loaded in, a model adopts weights stored in that dtype: its parameters are
// the mapped file's bytes, not copies.
TEST(LoadPretrained, AdoptsWeightsStoredInTheTargetDtype) {
  const auto allocated = torch::empty({1}).storage().data_ptr().get_deleter();  // LibTorch's CPU allocator
  const auto adopted = [&](const Pretrained& p) {
    for (const auto& param : p.module->parameters())
      if (param.storage().data_ptr().get_deleter() == allocated) return false;
    return true;
  };
  const auto bf16 = load_pretrained(checkpoint_dir("timm_bf16_safetensors"), torch::kCPU, torch::kBFloat16);
  EXPECT_TRUE(adopted(bf16));
  for (const auto& p : bf16.module->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(adopted(load_pretrained(checkpoint_dir("timm_safetensors"))));  // float32 into float32
  EXPECT_FALSE(adopted(load_pretrained(checkpoint_dir("timm_bf16_safetensors"))));  // converted to float32
  const auto expected = load_safetensors(checkpoint_dir("timm_bf16_safetensors") + ".expected.safetensors");
  EXPECT_LE(((bf16.forward(expected.at("input").to(torch::kBFloat16)).to(torch::kFloat32) - expected.at("output")).abs().max() /
             expected.at("output").abs().max()).item<double>(), 5e-2);
}

// ---- the zoo ----------------------------------------------------------------------------------------

TEST(Zoo, MacsMatchTimm) {
  // GMACs at 224 from timm (docs/reference.md); norms, softmax and GELU are not counted here
  for (const auto& [name, gmacs] : std::vector<std::pair<std::string, double>>{
           {"vit_tiny_patch16_224", 1.26}, {"vit_small_patch16_224", 4.61}, {"vit_base_patch16_224", 17.58}}) {
    const auto m = create_model(name, R"({"depth": 0})");  // MACs are linear in depth; keep it light
    const auto per_block = create_model(name, R"({"depth": 1})")->count_macs(224, 224) - m->count_macs(224, 224);
    const double total = static_cast<double>(m->count_macs(224, 224) + 12 * per_block);
    EXPECT_NEAR(total / 1e9, gmacs, gmacs * 0.01) << name;
  }
}

TEST(Zoo, ParameterCountsMatchTimm) {
  // params (M) from timm, docs/reference.md (vit_huge_patch14_224: timm's default has no head)
  const std::vector<std::pair<std::string, double>> expected = {{"vit_tiny_patch16_224", 5.72},
                                                                {"deit_tiny_distilled_patch16_224", 5.91},
                                                                {"vit_small_patch16_224", 22.05},
                                                                {"deit_small_distilled_patch16_224", 22.44},
                                                                {"vit_base_patch16_224", 86.57}};
  for (const auto& [name, millions] : expected) {
    auto model = create_model(name);
    EXPECT_NEAR(count_parameters(*model) / 1e6, millions, 0.005) << name;
  }
  const auto huge = options_from_json(resolve_model_args("vit_huge_patch14_224"), VisionTransformerOptions());
  EXPECT_EQ(huge.num_classes(), 0);
  EXPECT_NEAR(count_parameters(huge) / 1e6, 630.76, 0.005);  // counted from the options: nothing built
}

// Collects the messages of LibTorch warnings (TORCH_WARN) while alive.
class WarningCollector : public c10::WarningHandler {
 public:
  WarningCollector() : guard_(this) {}
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& warning) override { messages.push_back(warning.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override { messages.push_back(msg); }
#endif
  std::vector<std::string> messages;

 private:
#if TORCH_VERSION_MAJOR >= 2
  c10::WarningUtils::WarningHandlerGuard guard_;
#else
  c10::Warning::WarningHandlerGuard guard_;
#endif
};

TEST(Zoo, KeywordArgumentsWithoutEffectAreReported) {
  // timm's init choices and DropBlock are accepted and each reported; the dropouts are implemented
  // (silent), and so are timm's pretrained_cfg keys, which name a config given separately here
  WarningCollector warnings;
  (void)create_model("vit_tiny_patch16_224", R"({"img_size": 32, "depth": 1, "weight_init": "jax", "drop_block_rate": 0.1,
                                               "pos_drop_rate": 0.1, "proj_drop_rate": 0.1, "patch_drop_rate": 0.5,
                                               "pretrained_cfg_overlay": {}})");
  (void)create_model("eva02_tiny_patch14_224", R"({"img_size": 28, "depth": 1, "head_init_scale": 0.5, "patch_drop_rate": 0.5})");
  ASSERT_EQ(warnings.messages.size(), 3u);
  const auto has = [](const std::string& message, const char* part) { return message.find(part) != std::string::npos; };
  EXPECT_TRUE(has(warnings.messages[0], "'weight_init' has no effect here (vitcpp initialises as timm does")) << warnings.messages[0];
  EXPECT_TRUE(has(warnings.messages[1], "'drop_block_rate' has no effect here (no ViT block has DropBlock)")) << warnings.messages[1];
  EXPECT_TRUE(has(warnings.messages[2], "'head_init_scale' has no effect here")) << warnings.messages[2];
}

// "a_{b,c}_d{1,2}" -> a_b_d1, a_b_d2, a_c_d1, a_c_d2 (docs/zoo.md's names column).
std::vector<std::string> expand_braces(const std::string& pattern) {
  const auto open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  const auto close = pattern.find('}', open);
  if (close == std::string::npos) return {pattern};
  std::vector<std::string> out;
  const auto body = pattern.substr(open + 1, close - open - 1);
  for (size_t start = 0;;) {
    const auto comma = body.find(',', start);
    const auto alt = body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    for (auto& name : expand_braces(pattern.substr(0, open) + alt + pattern.substr(close + 1))) out.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// docs/zoo.md's tables list every name of list_models() once (names column, with brace alternatives),
// each row's count is its number of names, and a row whose "fast engine" says "yes" or "module" says
// what InferenceModel does with every name in it (each built at depth 1, uninitialised).
TEST(Zoo, TheZooDocListsEveryNameOnceWithItsCountAndEngine) {
  std::ifstream doc(fs::path(VITCPP_SOURCE_GOLDEN_DIR) / ".." / ".." / "docs" / "zoo.md");
  ASSERT_TRUE(doc.good());
  std::map<std::string, int> listed;
  std::string line;
  int rows = 0;
  while (std::getline(doc, line)) {
    if (line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    if (cells.size() < 6 || cells[4].find_first_not_of(" 0123456789") != std::string::npos) continue;  // headers, totals
    std::vector<std::string> names;
    for (size_t at = cells[2].find('`'); at != std::string::npos; at = cells[2].find('`', at + 1)) {
      const auto end = cells[2].find('`', at + 1);
      for (auto& name : expand_braces(cells[2].substr(at + 1, end - at - 1))) names.push_back(name);
      at = end;
    }
    ++rows;
    EXPECT_EQ(static_cast<int>(names.size()), std::stoi(cells[4])) << line;
    for (const auto& name : names) ++listed[name];
    const auto engine = cells[5].substr(1, cells[5].find_last_not_of(' '));
    if (engine != "yes" && engine.rfind("module", 0) != 0) continue;
    const SkipInitGuard skip;
    for (const auto& name : names) {
      const auto model = create_model(name, R"({"depth": 1})");
      EXPECT_EQ(model->engine_unsupported().empty(), engine == "yes") << name << ": " << model->engine_unsupported();
    }
  }
  EXPECT_GT(rows, 30);
  for (const auto& name : list_models()) {
    if (name == "vit_pytorch") continue;  // model_args only, described in prose
    EXPECT_EQ(listed[name], 1) << name << " in docs/zoo.md";
  }
  for (const auto& [name, times] : listed) EXPECT_NO_THROW(architecture(name)) << name << " is listed but not a name";
}

TEST(Zoo, ModelArgsOverrideTheNamedConfig) {
  auto m = create_model("deit_base_patch16_384.fb_in1k", R"({"num_classes": 10, "depth": 1, "global_pool": "avg", "img_size": [384, 192]})");
  EXPECT_EQ(m->num_classes(), 10);
  EXPECT_EQ(m->num_features(), 768);
  EXPECT_EQ(m->num_patches(), 24 * 12);
  EXPECT_EQ(m->global_pool(), "avg");
  EXPECT_EQ(m->head_tokens(), 0);
  const auto names = list_models();
  // timm's 173 vision_transformer / deit and 13 vision_transformer_relpos names, its 56 eva and 7 beit names, and vit_pytorch
  EXPECT_EQ(names.size(), 250u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(architecture("deit_base_patch16_384").pretrained_cfg.input_size(), (Int3{3, 384, 384}));
  EXPECT_EQ(architecture("deit_base_patch16_384").pretrained_cfg.crop_pct(), 1.);
  EXPECT_ERROR(create_model("vit_base_patch16_224", R"({"img_size": [1, 2, 3]})"), "'img_size' must be an int or [h, w]");
  EXPECT_ERROR(create_model("vit_base_patch16_224", "[1]"), "expected a JSON object");
  EXPECT_ERROR(create_model("vit_pytorch"), "missing required argument 'image_size'");
  // save_pretrained's model_args: what turns the name's defaults into the model
  EXPECT_EQ(model_args_diff(*create_model("vit_small_patch16_224", R"({"num_classes": 3, "init_values": 0.1})"),
                            "vit_small_patch16_224"),
            R"({"num_classes":3,"init_values":0.1})");
  EXPECT_EQ(model_args_diff(*create_model("vit_small_patch16_224"), "vit_small_patch16_224"), "{}");
  EXPECT_ERROR(model_args_diff(*create_model("vit_small_patch16_224"), "vit_pytorch"), "cannot be saved as 'vit_pytorch'");
}

TEST(SavePretrained, WritesEveryFileAtomically) {
  const auto dir = testing::scratch_path("atomic");
  auto p = load_pretrained(checkpoint_dir("timm_safetensors"));
  save_pretrained(p, dir);
  save_torch_save(dir + "/weights.pt", {{"w", torch::ones({2})}});
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_NE(entry.path().extension(), ".partial") << entry.path();
  for (const char* file : {"config.json", "model.safetensors", "weights.pt"}) {
    EXPECT_TRUE(fs::exists(dir + "/" + file)) << file;
    EXPECT_FALSE(fs::exists(dir + "/" + file + ".partial")) << file;
  }
  // a failed write leaves the old file whole and no partial file behind
  fs::create_directories(dir + "/blocked.pt.partial");  // the temporary file cannot be created
  EXPECT_ERROR(save_torch_save(dir + "/blocked.pt", {{"w", torch::ones({2})}}), "cannot open");
  EXPECT_ERROR(save_pretrained(p, dir + "/weights.pt"), "cannot create directory");
  EXPECT_TRUE(torch::equal(load_torch_save(dir + "/weights.pt").front().second, torch::ones({2})));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vit
