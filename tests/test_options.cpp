// Tests of include/vit/options.h: one field table per options struct drives JSON in and out,
// validation, printing and command-line values. (Each module's own options are checked against the
// Python reference through it: the golden tests build every module with options_from_json.)
#include <vit/eva.h>
#include <vit/inference.h>
#include <vit/pretrained.h>
#include <vit/train.h>
#include <vit/vision_transformer.h>
#include <vit/vit_pytorch.h>

#include "golden.h"

#include <cmath>
#include <limits>

namespace vit {
namespace {

template <typename Options>
void expect_round_trip(const Options& options) {
  const auto json = options_to_json(options);
  EXPECT_EQ(options_to_json(options_from_json(json, Options())), json);
}

TEST(Options, EveryStructRoundTripsThroughJson) {
  expect_round_trip(VisionTransformerOptions().img_size({32, 48}).representation_size(7).init_values(0.5).fc_norm(false));
  expect_round_trip(PatchEmbedOptions().patch_size({4, 8}).norm_layer("rmsnorm"));
  expect_round_trip(AttentionOptions(64).num_heads(4).qk_norm(true));
  expect_round_trip(MlpOptions(8).hidden_features(20));
  expect_round_trip(BlockOptions(16, 2).init_values(1e-5));
  expect_round_trip(DropPathOptions(0.25));
  expect_round_trip(ViTOptions(32, 8, 10, 64, 2, 4, 128).layout("current").pool("mean"));
  expect_round_trip(vit_pytorch::AttentionOptions(32).dim_head(8));
  expect_round_trip(FeedForwardOptions(32, 64).norm(true));
  expect_round_trip(TransformerOptions(32, 2, 4, 8, 64).layout("1.0"));
  expect_round_trip(TrainOptions().seed(18446744073709551615ull).device(torch::Device("cuda:1")).distillation("soft"));
  expect_round_trip(FashionMnistModel().family("vit_pytorch"));
  expect_round_trip(InferenceOptions().backend("torch").prepack(false));
  expect_round_trip(PretrainedCfg().input_size({1, 28, 28}).mean({0.1, 0.2, 0.3}));
  expect_round_trip(LoadOptions().max_parameters(12345));
  expect_round_trip(EvaOptions().ref_feat_shape(Size2({16, 24})).use_fc_norm(false).attn_pool_num_heads(8));
  expect_round_trip(EvaOptions().ref_feat_shape(Size2(16)));
  expect_round_trip(RotaryEmbeddingOptions().rope_type("mixed"));
}

TEST(Options, OptionalSizesAreNullAnIntOrAPair) {
  // timm's ref_feat_shape: None, 16 or (16, 24)
  EXPECT_FALSE(options_from_json(R"({"ref_feat_shape": null})", EvaOptions().ref_feat_shape(Size2(3))).ref_feat_shape());
  EXPECT_EQ(**options_from_json(R"({"ref_feat_shape": 16})", EvaOptions()).ref_feat_shape(), (std::array<int64_t, 2>{16, 16}));
  const auto o = options_from_json(R"({"ref_feat_shape": [16, 24]})", EvaOptions());
  EXPECT_EQ(**o.ref_feat_shape(), (std::array<int64_t, 2>{16, 24}));
  EXPECT_EQ(nlohmann::json::parse(options_to_json(o)).at("ref_feat_shape"), nlohmann::json::parse("[16, 24]"));
  EXPECT_EQ(nlohmann::json::parse(options_to_json(EvaOptions())).at("ref_feat_shape"), nullptr);
  EXPECT_NE(c10::str(*Eva(EvaOptions().embed_dim(32).depth(0).num_heads(2).ref_feat_shape(Size2({4, 5})))).find("ref_feat_shape=(4, 5)"),
            std::string::npos);
  EXPECT_ERROR(options_from_json(R"({"ref_feat_shape": [0, 4]})", EvaOptions(), "[Eva]"), "[Eva] 'ref_feat_shape' must be in [1, 65536], got [0, 4]");
  EXPECT_ERROR(options_from_json(R"({"ref_feat_shape": "16"})", EvaOptions(), "[Eva]"), "[Eva] 'ref_feat_shape' must be an int, [h, w] or null");
  auto e = EvaOptions();
  for (const auto& f : e.fields()) {
    if (std::string(f.name) != "ref_feat_shape") continue;
    detail::set_from_string(f, "8,12", "--ref-feat-shape");
    EXPECT_EQ(**e.ref_feat_shape(), (std::array<int64_t, 2>{8, 12}));
    detail::set_from_string(f, "None", "--ref-feat-shape");
    EXPECT_FALSE(e.ref_feat_shape());
  }
}

TEST(Options, JsonValuesOfEveryKind) {
  const auto o = options_from_json(
      R"({"img_size": [32, 48], "patch_size": 8, "mlp_ratio": 3, "qkv_bias": false, "representation_size": null,
          "init_values": 1e-5, "fc_norm": true, "global_pool": "avg"})",
      VisionTransformerOptions());
  EXPECT_EQ(*o.img_size(), (std::array<int64_t, 2>{32, 48}));
  EXPECT_EQ(*o.patch_size(), (std::array<int64_t, 2>{8, 8}));
  EXPECT_EQ(o.mlp_ratio(), 3.);  // an integer is a number
  EXPECT_FALSE(o.qkv_bias());
  EXPECT_FALSE(o.representation_size().has_value());
  EXPECT_EQ(o.init_values(), 1e-5);
  EXPECT_EQ(o.fc_norm(), true);
  EXPECT_EQ(o.global_pool(), "avg");
  EXPECT_EQ(o.depth(), 12);  // not given: the base's
  EXPECT_EQ(options_from_json("{}", VisionTransformerOptions().depth(3)).depth(), 3);
  // keys listed as ignored are accepted (timm's training-only keyword arguments, say)
  EXPECT_EQ(options_from_json(R"({"weight_init": "jax", "depth": 2})", VisionTransformerOptions(), "[x]", {"weight_init"}).depth(), 2);
}

TEST(Options, BadJsonIsOneLineNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"depth": "two"})", "[x] 'depth' must be an integer, got \"two\""},
      {R"({"depth": 2.0})", "[x] 'depth' must be an integer, got 2.0"},
      {R"({"depth": 9223372036854775808})", "[x] 'depth' must be in [0, 10000], got 9223372036854775808"},
      {R"({"depth": 18446744073709551615})", "[x] 'depth' must be in [0, 10000], got 18446744073709551615"},
      {R"({"img_size": [224, 9223372036854775808]})", "[x] 'img_size' must be in [1, 65536], got [224,9223372036854775808]"},
      {R"({"global_pool": ")" + std::string(100000, 'p') + R"("})", "... (100002 bytes)"},
      {R"({"depth": -1})", "[x] 'depth' must be in [0, 10000], got -1"},
      {R"({"mlp_ratio": "4"})", "[x] 'mlp_ratio' must be a number, got \"4\""},
      {R"({"qkv_bias": 1})", "[x] 'qkv_bias' must be true or false, got 1"},
      {R"({"global_pool": 0})", "[x] 'global_pool' must be a string, got 0"},
      {R"({"global_pool": "mean"})", "[x] 'global_pool' must be one of 'token', 'avg', 'max', 'avgmax', 'map', '', got \"mean\""},
      {R"({"img_size": [1, 2, 3]})", "[x] 'img_size' must be an int or [h, w], got [1,2,3]"},
      {R"({"img_size": [224, 0]})", "[x] 'img_size' must be in [1, 65536], got [224, 0]"},
      {R"({"representation_size": true})", "[x] 'representation_size' must be an integer or null, got true"},
      {R"({"init_values": "none"})", "[x] 'init_values' must be a number or null, got \"none\""},
      {R"({"fc_norm": 0})", "[x] 'fc_norm' must be true, false or null, got 0"},
      {R"({"act_layer": "relu"})", "[x] 'act_layer' must be one of 'gelu', 'gelu_tanh', 'quick_gelu', 'silu', 'sigmoid', got \"relu\""},
      {R"({"embed_layer": "hybrid"})", "[x] unknown argument \"embed_layer\" = \"hybrid\""},
      {R"({"depth": 1,})", "[x] not valid JSON"},
      {R"([1])", "[x] expected a JSON object of keyword arguments, got array"},
      {std::string(R"({")") + std::string(100000, 'k') + R"(": 1})", "[x] unknown argument \"kkkkk"},
  };
  for (const auto& [json, message] : cases) {
    const auto error = testing::error_of([&] { options_from_json(json, VisionTransformerOptions(), "[x]"); });
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, message, error) << json;
    EXPECT_LT(error.size(), 400u) << "a hostile key or value is cut short";
  }
  EXPECT_ERROR(options_from_json(R"({"image_size": 32})", ViTOptions(), "[x]"), "[x] missing required argument 'patch_size'");
  EXPECT_ERROR(options_from_json(R"({"seed": -1})", TrainOptions(), "[x]"), "[x] 'seed' must be a non-negative integer, got -1");
  EXPECT_ERROR(options_from_json(R"({"device": "tpu"})", TrainOptions(), "[x]"), "[x] 'device' must be a device");
  EXPECT_ERROR(options_from_json(R"({"device": "cuda:x"})", TrainOptions(), "[x]"), "[x] 'device' must be a device");
  EXPECT_ERROR(options_from_json(R"({"mean": [0, 0]})", PretrainedCfg(), "[x]"), "[x] 'mean' must be a list of 3 numbers, got [0,0]");
}

// Integers at and past 2^63 (nlohmann's unsigned numbers, or command-line text) are out of range,
// printed as written; int64 values near 2^63 are printed exactly, never through a double's cast.
TEST(Options, IntegersBeyondInt64AreOutOfRangeAndPrintedExactly) {
  EXPECT_ERROR(check_options(TrainOptions().epochs(std::numeric_limits<int64_t>::max()), "[m]"),
               "[m] 'epochs' must be in [1, 1000000], got 9223372036854775807");
  EXPECT_ERROR(check_options(TrainOptions().epochs(std::numeric_limits<int64_t>::min()), "[m]"),
               "[m] 'epochs' must be in [1, 1000000], got -9223372036854775808");
  auto train = TrainOptions();
  const auto field = [&](const std::string& name) {
    for (const auto& f : train.fields())
      if (f.name == name) return f;
    throw std::runtime_error("no field " + name);
  };
  for (const char* text : {"9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
                           "-9223372036854775809"})
    EXPECT_ERROR(detail::set_from_string(field("epochs"), text, "--epochs"),
                 std::string("--epochs must be in [1, 1000000], got ") + text);
  EXPECT_ERROR(detail::set_from_string(field("seed"), "18446744073709551616", "--seed"),
               "--seed must be in [0, 18446744073709551615], got 18446744073709551616");
  EXPECT_ERROR(detail::set_from_string(field("seed"), "-" + std::string(1000, '9'), "--seed"), "... (1001 bytes)");
  // 2^64 is a JSON float: not an integer at all
  EXPECT_ERROR(options_from_json(R"({"seed": 18446744073709551616})", TrainOptions(), "[x]"),
               "[x] 'seed' must be a non-negative integer, got 1.844674407370955");
}

TEST(Options, ChecksApplyToOptionsBuiltInCpp) {
  EXPECT_ERROR(check_options(VisionTransformerOptions().drop_rate(-0.5), "[m]"), "[m] 'drop_rate' must be in [0, 1], got -0.5");
  EXPECT_ERROR(check_options(VisionTransformerOptions().init_values(INFINITY), "[m]"), "[m] 'init_values' must be a finite number, got inf");
  EXPECT_ERROR(check_options(PretrainedCfg().std({1., std::nan(""), 1.}), "[m]"), "[m] 'std' must be in [1e-06, 1000], got [1, nan, 1]");
  EXPECT_ERROR(check_options(TrainOptions().distillation("medium"), "[m]"), "[m] 'distillation' must be one of");
  check_options(VisionTransformerOptions(), "[m]");  // the defaults are valid
  check_options(TrainOptions(), "[m]");
}

TEST(Options, DiffIsTheKeywordArgumentsThatChangeTheBase) {
  const auto base = VisionTransformerOptions();
  EXPECT_EQ(options_diff(base, base), "{}");
  EXPECT_EQ(options_diff(VisionTransformerOptions().depth(6).img_size({32, 48}).init_values(0.1), base),
            R"({"img_size":[32,48],"depth":6,"init_values":0.1})");
}

TEST(Options, PrintsPythonLiterals) {
  std::ostringstream s;
  print_options(s, "X", InferenceOptions().backend("torch"));
  EXPECT_EQ(s.str(), "X(backend='torch', prepack=True, release_module_weights=False, fused_attention=True, quantize='none')");
  std::ostringstream m;
  print_options(m, "M", MlpOptions(8).drop(0.25));
  EXPECT_EQ(m.str(), "M(in_features=8, hidden_features=None, out_features=None, drop=0.25, act_layer='gelu', bias=True, "
                     "scale_norm=False, norm_layer='layernorm', norm_eps=1e-05, gate_last=True)");
}

// The `vit` tool's flags: text -> the field's JSON value -> the same checks.
TEST(Options, CommandLineValues) {
  auto o = VisionTransformerOptions();
  auto train = TrainOptions();
  const auto field = [](const detail::Fields& fields, const std::string& name) {
    for (const auto& f : fields)
      if (f.name == name) return f;
    throw std::runtime_error("no field " + name);
  };
  detail::set_from_string(field(o.fields(), "img_size"), "32,48", "--img-size");
  EXPECT_EQ(*o.img_size(), (std::array<int64_t, 2>{32, 48}));
  detail::set_from_string(field(o.fields(), "img_size"), "64", "--img-size");
  EXPECT_EQ(*o.img_size(), (std::array<int64_t, 2>{64, 64}));
  detail::set_from_string(field(o.fields(), "representation_size"), "None", "--representation-size");
  EXPECT_FALSE(o.representation_size().has_value());
  detail::set_from_string(field(o.fields(), "mlp_ratio"), "2.5", "--mlp-ratio");
  EXPECT_EQ(o.mlp_ratio(), 2.5);
  for (const auto& [text, value] : std::vector<std::pair<std::string, bool>>{{"0", false}, {"true", true}, {"False", false}, {"1", true}}) {
    detail::set_from_string(field(train.fields(), "flip"), text, "--flip");
    EXPECT_EQ(train.flip(), value) << text;
  }
  detail::set_from_string(field(train.fields(), "seed"), "18446744073709551615", "--seed");
  EXPECT_EQ(train.seed(), 18446744073709551615ull);
  detail::set_from_string(field(train.fields(), "device"), "cuda:1", "--device");
  EXPECT_EQ(train.device(), torch::Device("cuda:1"));
  EXPECT_ERROR(detail::set_from_string(field(train.fields(), "lr"), "fast", "--lr"), "--lr must be a number, got \"fast\"");
  EXPECT_ERROR(detail::set_from_string(field(train.fields(), "lr"), "nan", "--lr"), "--lr must be in [1e-09, 10], got nan");
  EXPECT_ERROR(detail::set_from_string(field(train.fields(), "epochs"), "1.5", "--epochs"), "--epochs must be an integer, got 1.5");
  EXPECT_ERROR(detail::set_from_string(field(train.fields(), "seed"), "-3", "--seed"), "--seed must be a non-negative integer, got -3");
  EXPECT_ERROR(detail::set_from_string(field(train.fields(), "flip"), "yes", "--flip"), "--flip must be true or false, got \"yes\"");
  EXPECT_ERROR(detail::set_from_string(field(o.fields(), "img_size"), "32,x", "--img-size"), "--img-size must be an int or [h, w]");
}

}  // namespace
}  // namespace vit
