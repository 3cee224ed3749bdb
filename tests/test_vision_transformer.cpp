// Tests of include/vit/vision_transformer.h (timm family) against tests/reference/vision_transformer.py.
#include <vit/vision_transformer.h>

#include "golden.h"

namespace vit {
namespace {

using testing::Args;
using testing::Built;
using testing::single;
using testing::Golden;

// Builds the timm module a golden describes from the Python keyword arguments in its config, through
// the options tables (options_from_json: a key the C++ side does not know fails the case).
Built build(const Golden& g) {
  const auto config = g.config.dump();
  const auto what = "[golden " + g.name + "]";
  if (g.module == "PatchEmbed") return single(PatchEmbed(options_from_json(config, PatchEmbedOptions(), what)));
  if (g.module == "Attention") return single(Attention(options_from_json(config, AttentionOptions(), what)));
  if (g.module == "Mlp") return single(Mlp(options_from_json(config, MlpOptions(), what)));
  if (g.module == "DropPath") return single(DropPath(options_from_json(config, DropPathOptions(), what)));
  if (g.module == "Block") return single(Block(options_from_json(config, BlockOptions(), what)));
  if (g.module == "ResamplePosEmbed") {
    Args a(g.config);
    const auto new_size = a.need<std::array<int64_t, 2>>("new_size");
    const auto old_json = a.get<testing::json>("old_size", nullptr);
    std::optional<std::array<int64_t, 2>> old_size;
    if (!old_json.is_null()) old_size = old_json.get<std::array<int64_t, 2>>();
    const auto prefix = a.get<int64_t>("num_prefix_tokens", 1);
    a.finish();
    return {std::make_shared<torch::nn::Module>(), [=](const torch::Tensor& x) {
              return std::vector<torch::Tensor>{resample_abs_pos_embed(x, new_size, old_size, prefix)};
            }};
  }
  if (g.module != "VisionTransformer") {
    ADD_FAILURE() << "unknown timm module " << g.module;
    return {};
  }
  VisionTransformer m(options_from_json(config, VisionTransformerOptions(), what));
  auto built = single(m);
  if (g.has("output_dist")) {  // timm 0.5.x's training-mode tuple
    built.forward = [m](const torch::Tensor& x) mutable {
      const auto out = m->forward_distilled(x);
      return std::vector<torch::Tensor>{out.cls, out.dist};
    };
  }
  return built;
}

using CaseAndDevice = std::tuple<std::string, std::string>;

// ---- outputs and gradients equal the Python reference (every module, every option) -----------

class TimmReference : public ::testing::TestWithParam<CaseAndDevice> {};

TEST_P(TimmReference, MatchesPython) { testing::check_reference(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, TimmReference,
                         ::testing::Combine(::testing::ValuesIn(testing::golden_cases("timm", "forward")),
                                            ::testing::ValuesIn(testing::test_devices())),
                         testing::case_name);

// ---- seeded construction draws the same initial weights as Python (init parity) ---------------

class TimmInitReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TimmInitReference, SameInitialWeightsAsPythonForTheSameSeed) { testing::check_init(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, TimmInitReference, ::testing::ValuesIn(testing::golden_cases("timm", "init")));

// ---- full-size models have exactly timm's state_dict keys and shapes ---------------------------

class TimmKeysReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TimmKeysReference, NamedParametersEqualPythonStateDict) { testing::check_keys(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, TimmKeysReference, ::testing::ValuesIn(testing::golden_cases("timm", "keys")));

TEST(TimmGoldens, EveryModuleHasAReferenceCase) {
  std::set<std::string> covered;
  for (const auto& name : testing::golden_cases("timm", "forward")) covered.insert(testing::load_golden(name).module);
  EXPECT_EQ(covered, (std::set<std::string>{"PatchEmbed", "Attention", "Mlp", "DropPath", "Block", "VisionTransformer",
                                            "ResamplePosEmbed"}));
}

// ---- shapes --------------------------------------------------------------------------------------

VisionTransformerOptions tiny() {
  return VisionTransformerOptions().img_size(32).patch_size(8).num_classes(10).embed_dim(64).depth(2).num_heads(4);
}

TEST(VisionTransformer, ShapesOfEveryStage) {
  VisionTransformer m(tiny());
  m->eval();
  const auto x = torch::randn({3, 3, 32, 32});
  EXPECT_EQ(m->num_patches(), 16);
  EXPECT_EQ(m->pos_embed.sizes(), (std::vector<int64_t>{1, 17, 64}));
  const auto tokens = m->forward_features(x);
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{3, 17, 64}));
  EXPECT_EQ(m->forward_head(tokens, /*pre_logits=*/true).sizes(), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{3, 10}));
}

// head_tokens(): the leading tokens forward_head reads, and all it needs to be given.
TEST(VisionTransformer, HeadReadsOnlyItsHeadTokens) {
  for (const auto& options : {tiny(), tiny().reg_tokens(2), tiny().distilled(true), tiny().global_pool("avg")}) {
    VisionTransformer m(options);
    m->eval();
    torch::NoGradGuard no_grad;
    const auto tokens = m->forward_features(torch::randn({2, 3, 32, 32}));
    const int64_t n = m->head_tokens();
    EXPECT_EQ(n, options.distilled() ? 2 : options.global_pool() == "token" ? 1 : 0);
    if (n == 0) {
      EXPECT_ERROR(m->forward_head(tokens.narrow(1, 0, m->num_prefix_tokens())), "with N >= 2");
      continue;
    }
    EXPECT_TRUE(torch::equal(m->forward_head(tokens.narrow(1, 0, n)), m->forward_head(tokens)));
    EXPECT_ERROR(m->forward_head(tokens.narrow(1, 0, n - 1)), "[VisionTransformer] forward_head expects tokens (B, N, 64)");
  }
}

class VisionTransformerOnDevice : public testing::OnDevice {};
INSTANTIATE_TEST_SUITE_P(Devices, VisionTransformerOnDevice, ::testing::ValuesIn(testing::test_devices()));

TEST_P(VisionTransformerOnDevice, ShapesOfOptions) {
  struct Case {
    VisionTransformerOptions options;
    std::vector<int64_t> input, features, logits;
  };
  const std::vector<Case> cases = {
      {tiny().img_size({32, 48}).patch_size({8, 16}).in_chans(1), {2, 1, 32, 48}, {2, 13, 64}, {2, 10}},
      {tiny().representation_size(24), {2, 3, 32, 32}, {2, 17, 64}, {2, 10}},
      {tiny().num_classes(0), {2, 3, 32, 32}, {2, 17, 64}, {2, 64}},
      {tiny().num_classes(0).representation_size(24), {2, 3, 32, 32}, {2, 17, 64}, {2, 24}},
      {tiny().distilled(true), {2, 3, 32, 32}, {2, 18, 64}, {2, 10}},
      {tiny().distilled(true).representation_size(24), {2, 3, 32, 32}, {2, 18, 64}, {2, 10}},
      {tiny().depth(0), {1, 3, 32, 32}, {1, 17, 64}, {1, 10}},
      {tiny().img_size(30), {1, 3, 30, 30}, {1, 10, 64}, {1, 10}},  // floor(30 / 8) = 3 patches a side
  };
  for (const auto& c : cases) {
    VisionTransformer m(c.options);
    m->eval();
    m->to(device);
    const auto x = torch::randn(c.input, device);
    EXPECT_EQ(m->forward_features(x).sizes().vec(), c.features) << c10::str(*m);
    const auto logits = m->forward(x);
    EXPECT_EQ(logits.sizes().vec(), c.logits) << c10::str(*m);
    EXPECT_EQ(logits.device(), device);
  }
}

TEST(PatchEmbed, RectangularShapesAndGrid) {
  PatchEmbed p(PatchEmbedOptions().img_size({32, 48}).patch_size({8, 16}).in_chans(2).embed_dim(12));
  EXPECT_EQ(p->grid_size(), (std::array<int64_t, 2>{4, 3}));
  EXPECT_EQ(p->forward(torch::randn({5, 2, 32, 48})).sizes(), (std::vector<int64_t>{5, 12, 12}));
  PatchEmbed grid(PatchEmbedOptions().img_size(16).patch_size(4).embed_dim(8).flatten(false));
  EXPECT_EQ(grid->forward(torch::randn({1, 3, 16, 16})).sizes(), (std::vector<int64_t>{1, 8, 4, 4}));
}

TEST(Mlp, HiddenAndOutputWidths) {
  Mlp m(MlpOptions(8).hidden_features(20).out_features(3));
  EXPECT_EQ(m->fc1->weight.sizes(), (std::vector<int64_t>{20, 8}));
  EXPECT_EQ(m->forward(torch::randn({2, 5, 8})).sizes(), (std::vector<int64_t>{2, 5, 3}));
}

// ---- train / eval behaviour -----------------------------------------------------------------------

TEST_P(VisionTransformerOnDevice, DropPathDropsWholeSamplesAtTheRateAndRescalesTheRest) {
  DropPath dp(0.3);
  dp->train();
  const int64_t n = 20000;
  const auto y = dp->forward(torch::ones({n, 3, 4}, device)).cpu();
  const auto per_sample = y.reshape({n, -1});
  // every sample is all-zero or all-(1 / keep)
  EXPECT_TRUE(torch::equal(per_sample.amin(1), per_sample.amax(1)));
  const auto kept = per_sample.select(1, 0) != 0;
  EXPECT_TRUE(torch::allclose(per_sample.select(1, 0).masked_select(kept), torch::full({1}, 1. / 0.7)));
  const double drop_rate = 1. - kept.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(drop_rate, 0.3, 0.015);  // ~4.6 standard deviations of a binomial mean at n = 20000
  // expectation preserved
  EXPECT_NEAR(y.mean().item<double>(), 1., 0.03);
}

TEST(DropPath, IdentityInEvalAndAtRateZeroAllDroppedAtRateOne) {
  const auto x = torch::randn({8, 4});
  DropPath dp(0.5);
  dp->eval();
  EXPECT_TRUE(dp->forward(x).is_same(x));
  DropPath zero(0.);
  zero->train();
  EXPECT_TRUE(zero->forward(x).is_same(x));
  DropPath all(1.);
  all->train();
  EXPECT_TRUE(torch::equal(all->forward(x), torch::zeros_like(x)));
}

TEST(VisionTransformer, DropoutAndDropPathOnlyInTraining) {
  VisionTransformer m(tiny().drop_rate(0.2).attn_drop_rate(0.2).drop_path_rate(0.3));
  const auto x = torch::randn({4, 3, 32, 32});
  m->eval();
  // eval is deterministic up to BLAS rounding (OpenBLAS with several OpenMP threads is not bitwise
  // reproducible); dropout in training moves outputs by orders of magnitude more
  EXPECT_TRUE(torch::allclose(m->forward(x), m->forward(x), 1e-5, 1e-5));
  m->train();
  EXPECT_FALSE(torch::allclose(m->forward(x), m->forward(x), 1e-2, 1e-2));
}

TEST(VisionTransformer, DropPathRatesFollowTheLinearDecayRule) {
  VisionTransformer m(tiny().depth(5).drop_path_rate(0.4));
  const std::vector<double> expected{0., 0.1, 0.2, 0.3, 0.4};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& block = m->blocks[i]->as<Block>();
    EXPECT_NEAR(block->drop_path1->options.drop_prob(), expected[i], 1e-7);
    EXPECT_NEAR(block->drop_path2->options.drop_prob(), expected[i], 1e-7);
  }
}

TEST_P(VisionTransformerOnDevice, DistilledHeadsSeparateAndAveraged) {
  VisionTransformer m(tiny().distilled(true));
  m->to(device);
  const auto x = torch::randn({2, 3, 32, 32}, device);
  for (const bool training : {false, true}) {
    m->train(training);
    torch::manual_seed(3);
    const auto both = m->forward_distilled(x);
    torch::manual_seed(3);
    const auto mean = m->forward(x);
    EXPECT_EQ(both.cls.sizes(), (std::vector<int64_t>{2, 10}));
    EXPECT_FALSE(torch::allclose(both.cls, both.dist));
    EXPECT_TRUE(torch::allclose(mean, both.mean(), 1e-5, 1e-5));
  }
  const auto tokens = m->forward_features(x);
  EXPECT_TRUE(torch::allclose(m->forward_head(tokens, true), (tokens.select(1, 0) + tokens.select(1, 1)) / 2));
  VisionTransformer plain(tiny());
  EXPECT_THROW(plain->forward_distilled(x), c10::Error);
}

TEST_P(VisionTransformerOnDevice, GradientsReachEveryParameter) {
  for (const auto& options : {tiny().representation_size(16), tiny().distilled(true)}) {
    VisionTransformer m(options);
    m->train();
    m->to(device);
    m->forward(torch::randn({2, 3, 32, 32}, device)).square().sum().backward();
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.) << p.key();
    }
  }
}

TEST(VisionTransformer, InitFollowsTimmDefaults) {
  torch::manual_seed(0);
  VisionTransformer m(VisionTransformerOptions().embed_dim(192).depth(2).num_heads(3));
  for (const auto& p : m->named_parameters()) {
    const auto& key = p.key();
    const auto& t = p.value();
    if (key.find("norm") != std::string::npos) {
      EXPECT_TRUE(torch::equal(t, key.find("weight") != std::string::npos ? torch::ones_like(t) : torch::zeros_like(t))) << key;
    } else if (key.find("patch_embed") != std::string::npos) {
      // PyTorch's Conv2d default: kaiming_uniform(a=sqrt(5)) -> bound 1 / sqrt(fan_in)
      EXPECT_LE(t.abs().max().item<double>(), 1. / std::sqrt(3. * 16 * 16) + 1e-7) << key;
    } else if (key.size() > 5 && key.substr(key.size() - 5) == ".bias") {
      EXPECT_TRUE(torch::equal(t, torch::zeros_like(t))) << key;
    } else {  // Linear weights, cls_token, pos_embed: trunc_normal(std .02)
      EXPECT_NEAR(t.std().item<double>(), 0.02, key == "cls_token" ? 0.01 : 0.002) << key;
    }
  }
}

// ---- printing -------------------------------------------------------------------------------------

TEST(VisionTransformer, PrintsItsOptions) {
  EXPECT_EQ(c10::str(*Attention(AttentionOptions(768).num_heads(12).qkv_bias(true))),
            "vit::Attention(dim=768, num_heads=12, qkv_bias=True, attn_drop=0, proj_drop=0, qk_norm=False, norm_eps=1e-05)(\n"
            "  (qkv): torch::nn::Linear(in_features=768, out_features=2304, bias=true)\n"
            "  (attn_drop): torch::nn::Dropout(p=0, inplace=false)\n"
            "  (proj): torch::nn::Linear(in_features=768, out_features=768, bias=true)\n"
            "  (proj_drop): torch::nn::Dropout(p=0, inplace=false)\n"
            ")");
  const auto s = c10::str(*VisionTransformer(tiny().distilled(true)));
  EXPECT_EQ(s.substr(0, s.find('\n')),
            "vit::VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, "
            "depth=2, num_heads=4, mlp_ratio=4, qkv_bias=True, representation_size=None, distilled=True, "
            "drop_rate=0, attn_drop_rate=0, drop_path_rate=0, global_pool='token', class_token=True, reg_tokens=0, "
            "no_embed_class=False, init_values=None, pre_norm=False, qk_norm=False, final_norm=True, fc_norm=None, "
            "dynamic_img_size=False)(");
  EXPECT_NE(s.find("(0): vit::Block(dim=64, num_heads=4, mlp_ratio=4, qkv_bias=True, drop=0, attn_drop=0, drop_path=0, "
                   "norm_eps=1e-06, qk_norm=False, init_values=None)"),
            std::string::npos);
  EXPECT_NE(s.find("(patch_embed): vit::PatchEmbed(img_size=32, patch_size=8, in_chans=3, embed_dim=64"), std::string::npos);
  EXPECT_NE(c10::str(*VisionTransformer(tiny().img_size({32, 48}))).find("img_size=(32, 48)"), std::string::npos);
  EXPECT_NE(s.find("(mlp): vit::Mlp(in_features=64, hidden_features=256, out_features=None, drop=0)"), std::string::npos);
  EXPECT_EQ(c10::str(*DropPath(0.25)), "vit::DropPath(drop_prob=0.25)");
}

// ---- errors name the module and the values --------------------------------------------------------

TEST(VisionTransformer, ImpossibleConfigsAndInputsThrowClearErrors) {
  EXPECT_ERROR(Attention(AttentionOptions(96).num_heads(5)), "[Attention] dim 96 is not divisible by num_heads 5");
  EXPECT_ERROR(VisionTransformer(tiny().num_heads(5)), "[VisionTransformer] embed_dim 64 is not divisible by num_heads 5");
  EXPECT_ERROR(VisionTransformer(tiny().drop_path_rate(1.5)), "[VisionTransformer] 'drop_path_rate' must be in [0, 1], got 1.5");
  EXPECT_ERROR(VisionTransformer(tiny().mlp_ratio(std::nan(""))), "[VisionTransformer] 'mlp_ratio' must be in [0, 4096], got nan");
  EXPECT_ERROR(VisionTransformer(tiny().global_pool("cls")), "[VisionTransformer] 'global_pool' must be one of 'token', 'avg', 'max', 'avgmax', '', got \"cls\"");
  EXPECT_ERROR(PatchEmbed(PatchEmbedOptions().img_size(8).patch_size(16)), "[PatchEmbed] patch_size [16, 16] does not fit in img_size [8, 8]");
  EXPECT_ERROR(PatchEmbed(PatchEmbedOptions().patch_size({8, 0})), "[PatchEmbed] 'patch_size' must be in [1, 65536], got [8, 0]");
  EXPECT_ERROR(DropPath(-0.1), "[DropPath] 'drop_prob' must be in [0, 1], got -0.1");
  EXPECT_ERROR(VisionTransformer(tiny().distilled(true).fc_norm(true)), "distilled models need class_token");
  EXPECT_ERROR(Mlp(MlpOptions(0)), "[Mlp] 'in_features' must be in [1, 1048576], got 0");

  VisionTransformer m(tiny());
  EXPECT_ERROR(m->forward(torch::randn({1, 3, 64, 64})), "[PatchEmbed] input image size (64*64) doesn't match model (32*32)");
  EXPECT_ERROR(m->forward(torch::randn({1, 1, 32, 32})), "[PatchEmbed] expected images (B, 3, H, W), got [1, 1, 32, 32]");
  EXPECT_ERROR(m->forward(torch::randn({3, 32, 32})), "[PatchEmbed] expected images");
  EXPECT_ERROR(m->forward_head(torch::randn({2, 64})), "[VisionTransformer] forward_head");
  EXPECT_ERROR(Attention(AttentionOptions(8).num_heads(2))->forward(torch::randn({1, 3, 6})), "[Attention] expected tokens (B, N, 8), got [1, 3, 6]");
}

// ---- the Model interface ----------------------------------------------------------------------------

// The zoo refuses a too large model from count_parameters(options) before building it; it must be the
// count of what the options build. Every switch of the field table is drawn at random, so an option
// added later that adds parameters fails here until count_parameters knows it.
TEST(VisionTransformer, ParameterCountFromTheOptionsAloneEqualsTheModels) {
  int built = 0;
  for (uint64_t seed = 0; seed < 80; ++seed) {
    auto o = tiny().reg_tokens(seed % 3).img_size({32, 48}).patch_size({8, 16});
    testing::randomize_switches(o.fields(), seed);
    std::shared_ptr<VisionTransformerImpl> m;
    try {
      m = std::make_shared<VisionTransformerImpl>(o);
    } catch (const c10::Error&) {  // a combination timm refuses too (distilled without a class token, ...)
      continue;
    }
    ++built;
    EXPECT_EQ(count_parameters(o), count_parameters(*m)) << c10::str(*m);
  }
  EXPECT_GT(built, 30);
  VisionTransformer flat(tiny().img_size(30).in_chans(1).mlp_ratio(2.5).depth(0));  // floor(30 / 8), int(64 * 2.5)
  EXPECT_EQ(count_parameters(flat->options), count_parameters(*flat));
}

TEST(VisionTransformer, AnswersTheModelInterface) {
  VisionTransformer m(tiny().img_size({32, 48}).in_chans(1).representation_size(24).init_values(0.1).qk_norm(true));
  const Model& model = *m;
  EXPECT_EQ(model.family(), "vision_transformer");
  EXPECT_EQ(model.input_size(), (std::array<int64_t, 3>{1, 32, 48}));
  EXPECT_EQ(model.num_features(), 24);
  EXPECT_EQ(model.num_classes(), 10);
  EXPECT_EQ(model.num_prefix_tokens(), 1);
  EXPECT_EQ(model.global_pool(), "token");
  EXPECT_FALSE(model.distilled());
  const auto blocks = model.block_weights();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_TRUE(blocks[1].fc2.weight.is_same(m->blocks[1]->as<Block>()->mlp->fc2->weight));  // the module's own tensors
  EXPECT_TRUE(blocks[0].ls1.is_same(m->blocks[0]->as<Block>()->ls1->gamma));
  EXPECT_TRUE(blocks[0].q_norm.defined());
  EXPECT_EQ(blocks[0].heads, 4);
  EXPECT_EQ(blocks[0].head_dim, 16);
  EXPECT_EQ(model.no_weight_decay(), (std::set<std::string>{"pos_embed", "cls_token", "dist_token", "reg_token"}));
  // model_args builds the same model again
  EXPECT_EQ(options_to_json(options_from_json(model.model_args(), VisionTransformerOptions())), options_to_json(m->options));
  // forward = forward_head(forward_norm(forward_blocks(forward_embed(x))))
  m->eval();
  const auto x = torch::randn({2, 1, 32, 48});
  EXPECT_TRUE(torch::allclose(m->forward(x), m->forward_head(m->forward_norm(m->forward_blocks(m->forward_embed(x)))), 1e-6, 1e-6));
}

// ---- clone ---------------------------------------------------------------------------------------

TEST(VisionTransformer, CloneIsDeepAndEqual) {
  VisionTransformer m(tiny().distilled(true));
  m->eval();
  auto copy = std::dynamic_pointer_cast<VisionTransformerImpl>(m->clone());
  ASSERT_TRUE(copy);
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(m->forward(x), copy->forward(x), 1e-5, 1e-5));
  torch::NoGradGuard no_grad;
  copy->head->weight.zero_();
  EXPECT_FALSE(torch::equal(m->head->weight, copy->head->weight));
}

}  // namespace
}  // namespace vit
