// Tests of include/vit/vision_transformer.h (timm family) against tests/reference/vision_transformer.py.
#include <vit/state_dict.h>
#include <vit/vision_transformer.h>
#include <vit/zoo.h>

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
  if (g.module == "DiffAttention") return single(DiffAttention(options_from_json(config, AttentionOptions(), what)));
  if (g.module == "GluMlp") return single(GluMlp(options_from_json(config, MlpOptions(), what)));
  if (g.module == "SwiGLU") return single(SwiGLU(options_from_json(config, MlpOptions(), what)));
  if (g.module == "RmsNorm") {
    auto with_kind = g.config;
    with_kind["norm_layer"] = "rmsnorm";
    return single(Norm(options_from_json(with_kind.dump(), NormOptions(), what)));
  }
  if (g.module == "AttentionPoolLatent")
    return single(AttentionPoolLatent(options_from_json(config, AttentionPoolLatentOptions(), what)));
  if (g.module == "ResPostBlock") return single(ResPostBlock(options_from_json(config, BlockOptions(), what)));
  if (g.module == "ParallelScalingBlock") return single(ParallelScalingBlock(options_from_json(config, BlockOptions(), what)));
  if (g.module == "DiffParallelScalingBlock")
    return single(ParallelScalingBlock(options_from_json(config, BlockOptions(), what), /*differential=*/true));
  if (g.module == "ParallelThingsBlock") return single(ParallelThingsBlock(options_from_json(config, BlockOptions(), what)));
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

// ---- outputs and gradients, state_dict keys of full-size models, forward_intermediates,
// prune_intermediate_layers and attention maps equal the Python reference ---------------------------

VIT_GOLDEN_MODEL_TESTS(Timm, "timm", build);

// ---- seeded construction draws the same initial weights as Python (init parity) ---------------

class TimmInitReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TimmInitReference, SameInitialWeightsAsPythonForTheSameSeed) { testing::check_init(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, TimmInitReference, ::testing::ValuesIn(testing::golden_cases("timm", "init")));

TEST(TimmGoldens, EveryModuleHasAReferenceCase) {
  std::set<std::string> covered;
  for (const auto& name : testing::golden_cases("timm", "forward")) covered.insert(testing::load_golden(name).module);
  EXPECT_EQ(covered, (std::set<std::string>{"PatchEmbed", "Attention", "DiffAttention", "Mlp", "GluMlp", "SwiGLU", "RmsNorm",
                                            "DropPath", "Block", "ResPostBlock", "ParallelScalingBlock",
                                            "DiffParallelScalingBlock", "ParallelThingsBlock", "AttentionPoolLatent",
                                            "VisionTransformer", "ResamplePosEmbed"}));
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
            "vit::Attention(dim=768, num_heads=12, qkv_bias=True, attn_drop=0, proj_drop=0, qk_norm=False, norm_eps=1e-05, "
            "norm_layer='layernorm', scale_norm=False, proj_bias=True, depth=0)(\n"
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
            "dynamic_img_size=False, dynamic_img_pad=False, pos_embed='learn', pool_include_prefix=False, proj_bias=True, "
            "scale_attn_norm=False, scale_mlp_norm=False, norm_layer='layernorm', norm_eps=1e-06, embed_norm_layer='', "
            "embed_norm_eps=1e-06, act_layer='gelu', mlp_layer='mlp', block_fn='block', attn_layer='attn', pos_drop_rate=None, "
            "proj_drop_rate=None, patch_drop_rate=0, rel_pos_type='', rel_pos_dim=None, shared_rel_pos=False)(");
  EXPECT_NE(s.find("(0): vit::Block(dim=64, num_heads=4, mlp_ratio=4, qkv_bias=True, drop=0, attn_drop=0, drop_path=0, "
                   "norm_eps=1e-06, qk_norm=False, init_values=None, norm_layer='layernorm', act_layer='gelu', mlp_layer='mlp', "
                   "attn_layer='attn', proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False, depth=0)"),
            std::string::npos);
  EXPECT_NE(s.find("(patch_embed): vit::PatchEmbed(img_size=32, patch_size=8, in_chans=3, embed_dim=64"), std::string::npos);
  EXPECT_NE(c10::str(*VisionTransformer(tiny().img_size({32, 48}))).find("img_size=(32, 48)"), std::string::npos);
  EXPECT_NE(s.find("(mlp): vit::Mlp(in_features=64, hidden_features=256, out_features=None, drop=0, act_layer='gelu', "
                   "bias=True, scale_norm=False, norm_layer='layernorm', norm_eps=1e-06, gate_last=True)"),
            std::string::npos);
  EXPECT_EQ(c10::str(*DropPath(0.25)), "vit::DropPath(drop_prob=0.25)");
}

// ---- errors name the module and the values --------------------------------------------------------

TEST(VisionTransformer, ImpossibleConfigsAndInputsThrowClearErrors) {
  EXPECT_ERROR(Attention(AttentionOptions(96).num_heads(5)), "[Attention] dim 96 is not divisible by num_heads 5");
  EXPECT_ERROR(VisionTransformer(tiny().num_heads(5)), "[VisionTransformer] embed_dim 64 is not divisible by num_heads 5");
  EXPECT_ERROR(VisionTransformer(tiny().drop_path_rate(1.5)), "[VisionTransformer] 'drop_path_rate' must be in [0, 1], got 1.5");
  EXPECT_ERROR(VisionTransformer(tiny().mlp_ratio(std::nan(""))), "[VisionTransformer] 'mlp_ratio' must be in [0, 4096], got nan");
  EXPECT_ERROR(VisionTransformer(tiny().global_pool("cls")), "[VisionTransformer] 'global_pool' must be one of 'token', 'avg', 'max', 'avgmax', 'map', '', got \"cls\"");
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
  for (uint64_t seed = 0; seed < 240; ++seed) {
    auto o = tiny().reg_tokens(seed % 3).img_size({32, 48}).patch_size({8, 16});
    testing::randomize_switches(o.fields(), seed);
    if (seed % 4) {
      o.rel_pos_type("");  // most draws without a relative position bias, the others with what it needs
    } else if (!o.rel_pos_type().empty()) {
      o.reg_tokens(0).distilled(false).dynamic_img_size(false).dynamic_img_pad(false);
      if (o.block_fn() != "res_post") o.block_fn("block");
    }
    std::shared_ptr<VisionTransformerImpl> m;
    try {
      m = std::make_shared<VisionTransformerImpl>(o);
    } catch (const c10::Error&) {  // a combination timm refuses too (distilled without a class token, ...)
      continue;
    }
    ++built;
    EXPECT_EQ(count_parameters(o), count_parameters(*m)) << c10::str(*m);
  }
  EXPECT_GT(built, 60);
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
  EXPECT_TRUE(blocks[1].fc2.weight.is_same(m->blocks[1]->as<Block>()->mlp->as<MlpImpl>()->fc2->weight));  // the module's own tensors
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


TEST(VisionTransformer, ClassTokenHeatmapIsTheLastBlocksClassRowAveragedOverHeads) {
  VisionTransformer m(tiny());
  m->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 32, 32});
  const auto last = m->attention_maps(x, {-1})[0];  // (B, heads, 17, 17)
  const auto expected = last.mean(1).select(1, 0).narrow(1, 1, 16).reshape({2, 4, 4});
  EXPECT_TRUE(torch::allclose(attention_heatmap(*m, x), expected));
  // rollout: rows of a product of row-stochastic matrices stay a distribution over the tokens
  const auto rollout = attention_heatmap(*m, x, "rollout");
  EXPECT_TRUE((rollout.sum({1, 2}) < 1.).all().item<bool>());
  EXPECT_TRUE((rollout > 0).all().item<bool>());
}

// ---- checkpoints of other layouts (timm's checkpoint_filter_fn) -----------------------------------

using testing::golden_state;
using testing::replaced;

TEST(CheckpointLayouts, OpenAIClipVisualTowerLoadsAsTimmKeys) {
  // OpenAI CLIP's visual tower: conv1, class_embedding (D), positional_embedding (N, D), ln_pre,
  // transformer.resblocks.{i}.{ln_1, attn.in_proj_*, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj},
  // ln_post and a bias-free proj (D, out), all under "visual.".
  const auto g = testing::load_golden("timm_vit_clip_like");
  auto expected_model = std::dynamic_pointer_cast<VisionTransformerImpl>(testing::golden_model(g));
  torch::NoGradGuard no_grad;
  expected_model->head->bias.zero_();  // CLIP's projection has no bias
  const auto expected = expected_model->forward(g.tensor("input"));
  auto state = golden_state(g, [](std::string k) {
    if (k == "head.bias") return std::string();
    if (k == "head.weight") return std::string("visual.proj");
    k = replaced(k, "patch_embed.proj", "conv1");
    k = replaced(k, "pos_embed", "positional_embedding");
    k = replaced(k, "cls_token", "class_embedding");
    k = replaced(k, "norm_pre", "ln_pre");
    k = replaced(k, "blocks.", "transformer.resblocks.");
    k = replaced(k, "norm1", "ln_1");
    k = replaced(k, "norm2", "ln_2");
    k = replaced(k, "attn.qkv.", "attn.in_proj_");
    k = replaced(k, "attn.proj", "attn.out_proj");
    k = replaced(k, "mlp.fc1", "mlp.c_fc");
    k = replaced(k, "mlp.fc2", "mlp.c_proj");
    if (k.rfind("norm.", 0) == 0) k = "ln_post." + k.substr(5);
    return "visual." + k;
  });
  for (auto& [name, t] : state) {
    if (name == "visual.proj") t = t.t().contiguous();
    if (name == "visual.class_embedding") t = t.reshape({-1});
    if (name == "visual.positional_embedding") t = t.squeeze(0);
  }
  VisionTransformer m(options_from_json(g.config.dump(), VisionTransformerOptions()));
  m->eval();
  m->checkpoint_filter_fn(state);
  load_state_dict(*m, state);
  EXPECT_TRUE(testing::all_close(m->forward(g.tensor("input")), expected, 1e-5));
}

TEST(CheckpointLayouts, MetaDinov2WithRegistersLoadsAsTimmKeys) {
  // Meta's DINOv2: register_tokens, a pos_embed with the class token's position (added to it by the
  // conversion, as timm's no_embed_class model has none), mask_token, SwiGLU as mlp.w12 / mlp.w3.
  const auto g = testing::load_golden("timm_vit_dinov2_giant_like");
  torch::NoGradGuard no_grad;
  const auto expected = g.tensor("output");  // the Python reference's logits for the timm-layout weights
  const int64_t D = g.config.at("embed_dim").get<int64_t>();
  const auto cls_position = torch::randn({1, 1, D});
  auto state = golden_state(g, [](std::string k) {
    k = replaced(k, "reg_token", "register_tokens");
    k = replaced(k, "mlp.fc1", "mlp.w12");
    return replaced(k, "mlp.fc2", "mlp.w3");
  });
  for (auto& [name, t] : state) {
    if (name == "cls_token") t = t - cls_position;
    if (name == "pos_embed") t = torch::cat({cls_position, t}, 1);
  }
  state.emplace_back("mask_token", torch::zeros({1, D}));
  VisionTransformer m(options_from_json(g.config.dump(), VisionTransformerOptions()));
  m->eval();
  m->checkpoint_filter_fn(state);
  load_state_dict(*m, state);
  EXPECT_TRUE(testing::all_close(m->forward(g.tensor("input")), expected, 1e-5));
}

TEST(CheckpointLayouts, ResampledPatchEmbedGivesTheSameProjectionOfResizedPatches) {
  // FlexiViT: w' = w . pinv(R) for the resize R of a patch; upsampling is injective, so
  // <resize(p), w'> == <p, w> for every patch p (up to float32 rounding).
  torch::manual_seed(0);
  const auto w = torch::randn({5, 3, 8, 8}), x = torch::randn({6, 3, 8, 8});  // six patches
  const auto w2 = resample_patch_embed(w, {14, 14});
  EXPECT_EQ(w2.sizes(), (std::vector<int64_t>{5, 3, 14, 14}));
  namespace F = torch::nn::functional;
  const auto up = F::interpolate(x, F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{14, 14})
                                        .mode(torch::kBicubic)
                                        .align_corners(false)
                                        .antialias(true));
  // each patch's projection as a dot product (LibTorch 2.6's oneDNN convolution is wrong on this
  // CPU when the output is 1x1, so not through conv2d)
  const auto project = [](const torch::Tensor& patches, const torch::Tensor& kernel) {
    return torch::matmul(patches.flatten(1), kernel.flatten(1).t());
  };
  EXPECT_TRUE(testing::all_close(project(up, w2), project(x, w), 1e-4));
  EXPECT_TRUE(resample_patch_embed(w, {8, 8}).is_same(w));
  EXPECT_ERROR(resample_patch_embed(torch::randn({2, 3}), {4, 4}), "expected a weight (out, in, h, w)");
}

// ---- every zoo name: timm's parameter count ---------------------------------------------------

// timm 1.0.x (commit aa4b5850) parameter counts of every name of vision_transformer.py and deit.py.
const std::vector<testing::TimmCount> kTimmCounts = {
    {"aimv2_1b_patch14_224", 1234958336, 64, 155271},
    {"aimv2_1b_patch14_336", 1235613696, 64, 175751},
    {"aimv2_1b_patch14_448", 1236531200, 64, 204423},
    {"aimv2_3b_patch14_224", 2720658432, 64, 152967},
    {"aimv2_3b_patch14_336", 2721641472, 64, 173447},
    {"aimv2_3b_patch14_448", 2723017728, 64, 202119},
    {"aimv2_huge_patch14_224", 680851968, 64, 152967},
    {"aimv2_huge_patch14_336", 681343488, 64, 173447},
    {"aimv2_huge_patch14_448", 682031616, 64, 202119},
    {"aimv2_large_patch14_224", 309197824, 64, 155271},
    {"aimv2_large_patch14_336", 309525504, 64, 175751},
    {"aimv2_large_patch14_448", 309984256, 64, 204423},
    {"beit3_base_patch16_224", 86659816, 64, 163719},
    {"beit3_giant_patch14_224", 1013215592, 64, 162065},
    {"beit3_giant_patch14_336", 1013666152, 64, 182545},
    {"beit3_large_patch16_224", 304572392, 64, 163719},
    {"eva_large_patch14_196", 304142312, 64, 150919},
    {"eva_large_patch14_336", 304531432, 64, 175239},
    {"flexivit_base", 86589160, 64, 164231},
    {"flexivit_large", 304355304, 64, 164231},
    {"flexivit_small", 22061416, 64, 164231},
    {"test_vit", 371240, 64, 139783},
    {"test_vit2", 455720, 64, 140039},
    {"test_vit3", 930280, 64, 156935},
    {"test_vit4", 1020520, 64, 139719},
    {"vit_base_patch8_224", 86576872, 64, 163207},
    {"vit_base_patch14_dinov2", 86579712, 64, 226247},
    {"vit_base_patch14_reg1_tipsv2", 86314752, 64, 204167},
    {"vit_base_patch14_reg4_dinov2", 86582016, 64, 226439},
    {"vit_base_patch16_18x2_224", 256731880, 64, 262919},
    {"vit_base_patch16_224", 86567656, 64, 162439},
    {"vit_base_patch16_224_miil", 94399957, 64, 162055},
    {"vit_base_patch16_384", 86859496, 64, 186759},
    {"vit_base_patch16_clip_224", 86568424, 64, 162503},
    {"vit_base_patch16_clip_384", 86860264, 64, 186823},
    {"vit_base_patch16_clip_quickgelu_224", 86193152, 64, 162503},
    {"vit_base_patch16_gap_224", 86566120, 64, 162311},
    {"vit_base_patch16_plus_240", 117557992, 64, 164551},
    {"vit_base_patch16_plus_clip_240", 117214464, 64, 164359},
    {"vit_base_patch16_reg4_gap_256", 86615272, 64, 166407},
    {"vit_base_patch16_rpn_224", 86538472, 64, 161927},
    {"vit_base_patch16_siglip_224", 92884224, 64, 212231},
    {"vit_base_patch16_siglip_256", 92930304, 64, 216071},
    {"vit_base_patch16_siglip_384", 93176064, 64, 236551},
    {"vit_base_patch16_siglip_512", 93520128, 64, 265223},
    {"vit_base_patch16_siglip_gap_224", 85797120, 64, 162311},
    {"vit_base_patch16_siglip_gap_256", 85843200, 64, 166151},
    {"vit_base_patch16_siglip_gap_384", 86088960, 64, 186631},
    {"vit_base_patch16_siglip_gap_512", 86433024, 64, 215303},
    {"vit_base_patch16_xp_224", 86512360, 64, 161607},
    {"vit_base_patch32_224", 88224232, 64, 300487},
    {"vit_base_patch32_384", 88297192, 64, 306567},
    {"vit_base_patch32_clip_224", 88225000, 64, 300551},
    {"vit_base_patch32_clip_256", 87861248, 64, 301511},
    {"vit_base_patch32_clip_384", 88297960, 64, 306631},
    {"vit_base_patch32_clip_448", 88337896, 64, 309959},
    {"vit_base_patch32_clip_quickgelu_224", 87849728, 64, 300551},
    {"vit_base_patch32_plus_256", 119478120, 64, 301703},
    {"vit_base_patch32_siglip_256", 94552320, 64, 351239},
    {"vit_base_patch32_siglip_gap_256", 87465216, 64, 301319},
    {"vit_betwixt_patch16_gap_256", 60372840, 64, 166023},
    {"vit_betwixt_patch16_reg1_gap_256", 60396520, 64, 166471},
    {"vit_betwixt_patch16_reg4_gap_256", 60398440, 64, 166663},
    {"vit_betwixt_patch16_reg4_gap_384", 60603240, 64, 187143},
    {"vit_betwixt_patch32_clip_224", 61411712, 64, 300551},
    {"vit_dlittle_patch16_reg1_gap_256", 22517736, 64, 192883},
    {"vit_dpwee_patch16_reg1_gap_256", 15252456, 64, 182567},
    {"vit_dwee_patch16_reg1_gap_256", 13425256, 64, 183079},
    {"vit_giant_patch14_224", 1012611432, 64, 160693},
    {"vit_giant_patch14_clip_224", 1012646656, 64, 160757},
    {"vit_giant_patch14_dinov2", 1136479232, 96, 413351},
    {"vit_giant_patch14_reg1_tipsv2", 1135949312, 96, 380231},
    {"vit_giant_patch14_reg4_dinov2", 1136483840, 96, 413639},
    {"vit_giant_patch16_gap_224", 1011368576, 64, 168245},
    {"vit_giantopt_patch16_siglip_256", 1163168256, 64, 216071},
    {"vit_giantopt_patch16_siglip_384", 1163659776, 64, 236551},
    {"vit_giantopt_patch16_siglip_gap_256", 1134838272, 64, 166151},
    {"vit_giantopt_patch16_siglip_gap_384", 1135329792, 64, 186631},
    {"vit_gigantic_patch14_224", 1844440680, 64, 169981},
    {"vit_gigantic_patch14_clip_224", 1844908544, 64, 170045},
    {"vit_gigantic_patch14_clip_378", 1845695616, 64, 200317},
    {"vit_gigantic_patch14_clip_quickgelu_224", 1844908544, 64, 170045},
    {"vit_huge_patch14_224", 630764800, 64, 154759},
    {"vit_huge_patch14_clip_224", 632047080, 64, 154823},
    {"vit_huge_patch14_clip_336", 632456680, 64, 175303},
    {"vit_huge_patch14_clip_378", 632683264, 64, 185095},
    {"vit_huge_patch14_clip_quickgelu_224", 632077824, 64, 154823},
    {"vit_huge_patch14_clip_quickgelu_378", 632683264, 64, 185095},
    {"vit_huge_patch14_gap_224", 630762240, 64, 154631},
    {"vit_huge_patch14_xp_224", 631802600, 64, 153927},
    {"vit_huge_patch16_gap_448", 631668480, 64, 199943},
    {"vit_intern300m_patch14_448", 304012288, 64, 204039},
    {"vit_large_patch14_224", 304203752, 64, 154759},
    {"vit_large_patch14_clip_224", 304204776, 64, 154823},
    {"vit_large_patch14_clip_336", 304532456, 64, 175303},
    {"vit_large_patch14_clip_quickgelu_224", 303966976, 64, 154823},
    {"vit_large_patch14_clip_quickgelu_336", 304294656, 64, 175303},
    {"vit_large_patch14_dinov2", 304367616, 64, 226247},
    {"vit_large_patch14_reg1_tipsv2", 304014336, 64, 204167},
    {"vit_large_patch14_reg4_dinov2", 304370688, 64, 226439},
    {"vit_large_patch14_xp_224", 304057320, 64, 153927},
    {"vit_large_patch16_224", 304326632, 64, 162439},
    {"vit_large_patch16_384", 304715752, 64, 186759},
    {"vit_large_patch16_siglip_256", 315956224, 64, 216071},
    {"vit_large_patch16_siglip_384", 316283904, 64, 236551},
    {"vit_large_patch16_siglip_512", 316742656, 64, 265223},
    {"vit_large_patch16_siglip_gap_256", 303361024, 64, 166151},
    {"vit_large_patch16_siglip_gap_384", 303688704, 64, 186631},
    {"vit_large_patch16_siglip_gap_512", 304147456, 64, 215303},
    {"vit_large_patch32_224", 305510400, 64, 300487},
    {"vit_large_patch32_384", 306632680, 64, 306567},
    {"vit_little_patch16_reg1_gap_256", 22515048, 64, 192787},
    {"vit_little_patch16_reg4_gap_256", 22516008, 64, 192979},
    {"vit_medium_patch16_clip_224", 38587904, 64, 162503},
    {"vit_medium_patch16_gap_240", 44396589, 64, 164039},
    {"vit_medium_patch16_gap_256", 38861288, 64, 166023},
    {"vit_medium_patch16_gap_384", 39025128, 64, 186503},
    {"vit_medium_patch16_reg1_gap_256", 38880232, 64, 166471},
    {"vit_medium_patch16_reg4_gap_256", 38881768, 64, 166663},
    {"vit_medium_patch32_clip_224", 39692288, 64, 300551},
    {"vit_mediumd_patch16_reg4_gap_256", 64109032, 64, 166663},
    {"vit_mediumd_patch16_reg4_gap_384", 64272872, 64, 187143},
    {"vit_pwee_patch16_reg1_gap_256", 15253480, 64, 182599},
    {"vit_small_patch8_224", 21670272, 64, 163207},
    {"vit_small_patch14_dinov2", 22056192, 64, 226247},
    {"vit_small_patch14_reg4_dinov2", 22057344, 64, 226439},
    {"vit_small_patch16_18x2_224", 64665448, 64, 262919},
    {"vit_small_patch16_36x1_224", 64665448, 64, 162695},
    {"vit_small_patch16_224", 22050664, 64, 162439},
    {"vit_small_patch16_384", 22196584, 64, 186759},
    {"vit_small_patch32_224", 22878952, 64, 300487},
    {"vit_small_patch32_384", 22915432, 64, 306567},
    {"vit_so150m2_patch16_reg1_gap_256", 136059560, 64, 143189},
    {"vit_so150m2_patch16_reg1_gap_384", 136325800, 64, 163669},
    {"vit_so150m2_patch16_reg1_gap_448", 136498856, 64, 176981},
    {"vit_so150m_patch16_reg4_gap_256", 134131560, 64, 142927},
    {"vit_so150m_patch16_reg4_gap_384", 134418280, 64, 163407},
    {"vit_so150m_patch16_reg4_map_256", 141481064, 64, 180979},
    {"vit_so400m_patch14_reg1_tipsv2", 413391600, 64, 199781},
    {"vit_so400m_patch14_siglip_224", 427680704, 64, 197972},
    {"vit_so400m_patch14_siglip_378", 428225600, 64, 228244},
    {"vit_so400m_patch14_siglip_384", 428225600, 64, 228244},
    {"vit_so400m_patch14_siglip_gap_224", 412442352, 64, 150245},
    {"vit_so400m_patch14_siglip_gap_378", 412987248, 64, 180517},
    {"vit_so400m_patch14_siglip_gap_384", 412987248, 64, 180517},
    {"vit_so400m_patch14_siglip_gap_448", 413327088, 64, 199397},
    {"vit_so400m_patch14_siglip_gap_896", 416866032, 64, 396005},
    {"vit_so400m_patch16_siglip_256", 427888064, 64, 209492},
    {"vit_so400m_patch16_siglip_384", 428256704, 64, 229972},
    {"vit_so400m_patch16_siglip_512", 428772800, 64, 258644},
    {"vit_so400m_patch16_siglip_gap_256", 412649712, 64, 161765},
    {"vit_so400m_patch16_siglip_gap_384", 413018352, 64, 182245},
    {"vit_so400m_patch16_siglip_gap_512", 413534448, 64, 210917},
    {"vit_tiny_patch16_224", 5717416, 64, 162439},
    {"vit_tiny_patch16_384", 5790376, 64, 186759},
    {"vit_wee_patch16_reg1_gap_256", 13422568, 64, 182983},
    {"vit_xsmall_patch16_clip_224", 8277504, 64, 162503},
    {"deit3_base_patch16_224", 86585320, 64, 162631},
    {"deit3_base_patch16_384", 86877160, 64, 186951},
    {"deit3_huge_patch14_224", 632126440, 64, 154951},
    {"deit3_large_patch16_224", 304374760, 64, 162631},
    {"deit3_large_patch16_384", 304763880, 64, 186951},
    {"deit3_medium_patch16_224", 38849512, 64, 162631},
    {"deit3_small_patch16_224", 22059496, 64, 162631},
    {"deit3_small_patch16_384", 22205416, 64, 186951},
    {"deit_base_distilled_patch16_224", 87338192, 64, 163022},
    {"deit_base_distilled_patch16_384", 87630032, 64, 187342},
    {"deit_base_patch16_224", 86567656, 64, 162439},
    {"deit_base_patch16_384", 86859496, 64, 186759},
    {"deit_small_distilled_patch16_224", 22436432, 64, 163022},
    {"deit_small_patch16_224", 22050664, 64, 162439},
    {"deit_tiny_distilled_patch16_224", 5910800, 64, 163022},
    {"deit_tiny_patch16_224", 5717416, 64, 162439},
    {"vit_relpos_base_patch16_224", 86429560, 64, 151439},
    {"vit_relpos_base_patch16_cls_224", 86430328, 64, 151503},
    {"vit_relpos_base_patch16_clsgap_224", 86430328, 64, 151503},
    {"vit_relpos_base_patch16_plus_240", 117380880, 64, 151823},
    {"vit_relpos_base_patch16_rpn_224", 86411128, 64, 151183},
    {"vit_relpos_base_patch32_plus_rpn_256", 119423760, 64, 299023},
    {"vit_relpos_medium_patch16_224", 38747208, 64, 151439},
    {"vit_relpos_medium_patch16_cls_224", 38764616, 64, 153295},
    {"vit_relpos_medium_patch16_rpn_224", 38734920, 64, 151183},
    {"vit_relpos_small_patch16_224", 21983920, 64, 151439},
    {"vit_relpos_small_patch16_rpn_224", 21974704, 64, 151183},
    {"vit_srelpos_medium_patch16_224", 38735856, 64, 153227},
    {"vit_srelpos_small_patch16_224", 21973486, 64, 152331},
};

TEST(Zoo, EveryTimmNameHasTimmsParameterCount) {
  testing::check_timm_counts("vision_transformer", kTimmCounts, [](const std::string& args) {
    return count_parameters(options_from_json(args, VisionTransformerOptions()));
  });
}

}  // namespace
}  // namespace vit
