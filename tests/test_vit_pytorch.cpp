// Tests of include/vit/vit_pytorch.h (lucidrains family) against tests/reference/vit_pytorch.py.
#include <vit/vit_pytorch.h>

#include "golden.h"

namespace vit::vit_pytorch {
namespace {

using vit::testing::Args;
using vit::testing::Built;
using vit::testing::single;
using vit::testing::Golden;

// Builds the vit-pytorch module a golden describes from the Python keyword arguments in its config,
// through the options tables (options_from_json: a key the C++ side does not know fails the case).
Built build(const Golden& g) {
  const auto config = g.config.dump();
  const auto what = "[golden " + g.name + "]";
  if (g.module == "Attention") return single(Attention(options_from_json(config, AttentionOptions(), what)));
  if (g.module == "FeedForward") return single(FeedForward(options_from_json(config, FeedForwardOptions(), what)));
  if (g.module == "Transformer") return single(Transformer(options_from_json(config, TransformerOptions(), what)));
  if (g.module == "ViT") return single(ViT(options_from_json(config, ViTOptions(), what)));
  Args a(g.config);
  Built built;
  if (g.module == "PatchRearrange") {
    built = single(PatchRearrange(a.need<int64_t>("p1"), a.need<int64_t>("p2")));
  } else if (g.module == "PreNorm") {  // fn: {"module": "Attention" | "FeedForward", its kwargs but dim}
    const auto dim = a.need<int64_t>("dim");
    auto fn = a.raw("fn");
    const auto fn_module = fn.at("module").get<std::string>();
    fn.erase("module");
    fn["dim"] = dim;
    torch::nn::AnyModule inner;
    if (fn_module == "FeedForward") inner = torch::nn::AnyModule(FeedForward(options_from_json(fn.dump(), FeedForwardOptions(), what)));
    else inner = torch::nn::AnyModule(Attention(options_from_json(fn.dump(), AttentionOptions(), what)));
    built = single(PreNorm(dim, std::move(inner)));
  } else {
    ADD_FAILURE() << "unknown vit_pytorch module " << g.module;
  }
  a.finish();
  return built;
}

using CaseAndDevice = std::tuple<std::string, std::string>;

// ---- outputs and gradients equal the Python reference (every module, every option) -----------

class VitPytorchReference : public ::testing::TestWithParam<CaseAndDevice> {};

TEST_P(VitPytorchReference, MatchesPython) { vit::testing::check_reference(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, VitPytorchReference,
                         ::testing::Combine(::testing::ValuesIn(vit::testing::golden_cases("vit_pytorch", "forward")),
                                            ::testing::ValuesIn(vit::testing::test_devices())),
                         vit::testing::case_name);

class VitPytorchInitReference : public ::testing::TestWithParam<std::string> {};

TEST_P(VitPytorchInitReference, SameInitialWeightsAsPythonForTheSameSeed) { vit::testing::check_init(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, VitPytorchInitReference, ::testing::ValuesIn(vit::testing::golden_cases("vit_pytorch", "init")));

class VitPytorchKeysReference : public ::testing::TestWithParam<std::string> {};

TEST_P(VitPytorchKeysReference, NamedParametersEqualPythonStateDict) { vit::testing::check_keys(GetParam(), build); }

INSTANTIATE_TEST_SUITE_P(Golden, VitPytorchKeysReference, ::testing::ValuesIn(vit::testing::golden_cases("vit_pytorch", "keys")));

TEST(VitPytorchGoldens, EveryModuleHasAReferenceCase) {
  std::set<std::string> covered;
  for (const auto& name : vit::testing::golden_cases("vit_pytorch", "forward"))
    covered.insert(vit::testing::load_golden(name).module);
  EXPECT_EQ(covered, (std::set<std::string>{"PatchRearrange", "PreNorm", "Attention", "FeedForward", "Transformer", "ViT"}));
}

// ---- shapes ----------------------------------------------------------------------------------------

class ViTOnDevice : public vit::testing::OnDevice {};
INSTANTIATE_TEST_SUITE_P(Devices, ViTOnDevice, ::testing::ValuesIn(vit::testing::test_devices()));

TEST_P(ViTOnDevice, ShapesOfOptions) {
  struct Case {
    ViTOptions options;
    std::vector<int64_t> input;
  };
  const std::vector<Case> cases = {
      {ViTOptions(32, 8, 10, 64, 2, 4, 128), {2, 3, 32, 32}},
      {ViTOptions({32, 48}, {8, 16}, 10, 64, 1, 2, 32).channels(1), {3, 1, 32, 48}},
      {ViTOptions(32, 8, 10, 64, 1, 1, 32).dim_head(64).pool("mean"), {1, 3, 32, 32}},
      {ViTOptions(32, 8, 10, 64, 0, 4, 128), {2, 3, 32, 32}},
      {ViTOptions(32, 8, 10, 64, 1, 4, 128), {2, 3, 16, 8}},  // fewer patches: Python slices pos_embedding
  };
  for (const auto& c : cases) {
    ViT m(c.options);
    m->eval();
    m->to(device);
    const auto logits = m->forward(torch::randn(c.input, device));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{c.input[0], 10})) << c10::str(*m);
    EXPECT_EQ(logits.device(), device);
  }
  ViT m(ViTOptions({32, 48}, {8, 16}, 10, 64, 1, 2, 32).channels(2));
  EXPECT_EQ(m->pos_embedding.sizes(), (std::vector<int64_t>{1, 13, 64}));
  EXPECT_EQ(m->patch_dim(), 2 * 8 * 16);
}

TEST(Attention, OutputProjectionAbsentOnlyForOneHeadOfFullWidth) {
  EXPECT_FALSE(Attention(AttentionOptions(32).heads(1).dim_head(32))->project_out());
  EXPECT_TRUE(Attention(AttentionOptions(32).heads(1).dim_head(16))->project_out());
  EXPECT_TRUE(Attention(AttentionOptions(32).heads(2).dim_head(32))->project_out());
  Attention wide(AttentionOptions(32).heads(3).dim_head(20));
  EXPECT_EQ(wide->to_qkv->weight.sizes(), (std::vector<int64_t>{180, 32}));
  EXPECT_EQ(wide->forward(torch::randn({2, 7, 32})).sizes(), (std::vector<int64_t>{2, 7, 32}));
}

TEST(PatchRearrange, PutsChannelsLastInsideAPatch) {
  // One 2x2 patch of a 3-channel image: (p1 p2 c) order means the channels of a pixel are adjacent.
  const auto x = torch::arange(12, torch::kFloat32).reshape({1, 3, 2, 2});
  const auto y = PatchRearrange(2, 2)->forward(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.}).reshape({1, 1, 12})));
}

// ---- train / eval behaviour, gradients, init --------------------------------------------------------

TEST(ViT, DropoutOnlyInTraining) {
  ViT m(ViTOptions(32, 8, 10, 64, 2, 4, 128).dropout(0.2).emb_dropout(0.2));
  const auto x = torch::randn({2, 3, 32, 32});
  m->eval();
  // eval is deterministic up to BLAS rounding (OpenBLAS with several OpenMP threads is not bitwise
  // reproducible); dropout in training moves outputs by orders of magnitude more
  EXPECT_TRUE(torch::allclose(m->forward(x), m->forward(x), 1e-5, 1e-5));
  m->train();
  EXPECT_FALSE(torch::allclose(m->forward(x), m->forward(x), 1e-2, 1e-2));
}

TEST_P(ViTOnDevice, GradientsReachEveryParameter) {
  for (const auto& pool : {"cls", "mean"}) {
    ViT m(ViTOptions(32, 8, 10, 64, 2, 4, 128).pool(pool));
    m->to(device);
    m->forward(torch::randn({2, 3, 32, 32}, device)).square().sum().backward();
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << pool << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.) << pool << " " << p.key();
    }
  }
}

// head_tokens(): cls pooling reads token 0 alone (all InferenceModel's last block computes), mean all.
TEST(ViT, HeadReadsOnlyItsHeadTokens) {
  for (const auto& pool : {"cls", "mean"}) {
    ViT m(ViTOptions(32, 8, 10, 64, 2, 4, 128).pool(pool));
    m->eval();
    torch::NoGradGuard no_grad;
    const auto tokens = m->transformer(m->forward_embed(torch::randn({2, 3, 32, 32})).tokens);
    EXPECT_EQ(m->head_tokens(), std::string(pool) == "cls" ? 1 : 0);
    if (m->head_tokens() == 1) {
      EXPECT_TRUE(torch::equal(m->forward_head(tokens.narrow(1, 0, 1)), m->forward_head(tokens)));
    }
  }
}

TEST(ViT, TokensAreStandardNormalAtInit) {
  torch::manual_seed(0);
  ViT m(ViTOptions(64, 4, 10, 256, 1, 2, 32));
  EXPECT_NEAR(m->pos_embedding.std().item<double>(), 1., 0.02);
  EXPECT_NEAR(m->pos_embedding.mean().item<double>(), 0., 0.02);
  const auto& ln = m->mlp_head[0]->as<torch::nn::LayerNorm>();
  EXPECT_TRUE(torch::equal(ln->weight, torch::ones({256})));
  EXPECT_EQ(ln->options.eps(), 1e-5);
}

// ---- printing, errors, clone ----------------------------------------------------------------------

TEST(ViT, PrintsItsOptions) {
  const auto s = c10::str(*ViT(ViTOptions(256, 32, 1000, 1024, 1, 16, 2048).dropout(0.1).emb_dropout(0.1)));
  EXPECT_EQ(s.substr(0, s.find('\n')),
            "vit::ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=1, heads=16, "
            "mlp_dim=2048, pool='cls', channels=3, dim_head=64, dropout=0.1, emb_dropout=0.1, layout='0.35')(");
  for (const char* part : {"(0): vit::vit_pytorch::PatchRearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=32, p2=32)",
                           "(0): vit::vit_pytorch::PreNorm(dim=1024)",
                           "(fn): vit::vit_pytorch::Attention(dim=1024, heads=16, dim_head=64, dropout=0.1, norm=False, attn_dropout=False)",
                           "(fn): vit::vit_pytorch::FeedForward(dim=1024, hidden_dim=2048, dropout=0.1, norm=False)",
                           "(transformer): vit::vit_pytorch::Transformer(dim=1024, depth=1, heads=16, dim_head=64, mlp_dim=2048, dropout=0.1, layout='0.35')"}) {
    EXPECT_NE(s.find(part), std::string::npos) << part << "\nnot in\n" << s;
  }
}

TEST(ViT, ImpossibleConfigsAndInputsThrowClearErrors) {
  EXPECT_ERROR(ViT(ViTOptions(30, 8, 10, 64, 1, 4, 128)), "[vit_pytorch::ViT] image_size [30, 30] must be divisible by patch_size [8, 8]");
  EXPECT_ERROR(ViT(ViTOptions(32, 8, 10, 64, 1, 4, 128).pool("max")), "[vit_pytorch::ViT] 'pool' must be one of 'cls', 'mean', got \"max\"");
  EXPECT_ERROR(ViT(ViTOptions(32, 8, 0, 64, 1, 4, 128)), "[vit_pytorch::ViT] 'num_classes' must be in [1, 67108864], got 0");
  EXPECT_ERROR(Attention(AttentionOptions(32).heads(0)), "[vit_pytorch::Attention] 'heads' must be in [1, 1048576], got 0");
  EXPECT_ERROR(FeedForward(FeedForwardOptions(32, 64).dropout(2.)), "[vit_pytorch::FeedForward] 'dropout' must be in [0, 1], got 2");
  ViT m(ViTOptions(32, 8, 10, 64, 1, 4, 128));
  EXPECT_ERROR(m->forward(torch::randn({1, 3, 64, 64})), "[vit_pytorch::ViT] input image size (64*64) gives 64 patches, more than the model's 16");
  EXPECT_ERROR(m->forward(torch::randn({1, 3, 30, 32})), "[vit_pytorch::PatchRearrange] image size (30*32) is not divisible by the patch size (8*8)");
  EXPECT_ERROR(m->forward(torch::randn({1, 4, 32, 32})), "[vit_pytorch::ViT] expected images (B, 3, H, W), got [1, 4, 32, 32]");
  EXPECT_ERROR(Attention(AttentionOptions(8))->forward(torch::randn({2, 8})), "[vit_pytorch::Attention] expected tokens (B, N, 8), got [2, 8]");
}

// ---- the Model interface ----------------------------------------------------------------------------

// As for timm's model: every switch of the field table drawn at random (layout, pool, ...).
TEST(ViT, ParameterCountFromTheOptionsAloneEqualsTheModels) {
  for (uint64_t seed = 0; seed < 24; ++seed) {
    for (const auto& base : {ViTOptions(32, 8, 10, 64, 2, 4, 128), ViTOptions({32, 48}, {8, 16}, 5, 32, 1, 1, 16).dim_head(32).channels(1)}) {
      auto options = base;
      testing::randomize_switches(options.fields(), seed);
      ViT m(options);
      EXPECT_EQ(count_parameters(options), count_parameters(*m)) << c10::str(*m);
    }
  }
}

TEST(ViT, AnswersTheModelInterface) {
  for (const auto* layout : {"0.35", "1.0", "current"}) {
    ViT m(ViTOptions({32, 48}, 8, 10, 64, 2, 4, 128).channels(1).dim_head(8).layout(layout));
    m->eval();
    const Model& model = *m;
    EXPECT_EQ(model.family(), "vit_pytorch");
    EXPECT_EQ(model.input_size(), (std::array<int64_t, 3>{1, 32, 48}));
    EXPECT_EQ(model.num_features(), 64);
    EXPECT_EQ(model.num_patches(), 24);
    EXPECT_EQ(model.global_pool(), "token");
    const auto blocks = model.block_weights();
    ASSERT_EQ(blocks.size(), 2u) << layout;
    EXPECT_EQ(blocks[0].inner(), 32);
    EXPECT_TRUE(blocks[0].norm1.defined() && blocks[0].norm2.defined() && blocks[0].proj.defined() && !blocks[0].qkv.bias.defined());
    EXPECT_EQ(blocks[1].fc1.weight.sizes(), (std::vector<int64_t>{128, 64}));
    EXPECT_EQ(options_to_json(options_from_json(model.model_args(), ViTOptions())), options_to_json(m->options));
    // forward = forward_head(forward_norm(forward_blocks(forward_embed(x)))); pre_logits stops before the head's Linear
    const auto x = torch::randn({2, 1, 32, 48});
    const auto tokens = m->forward_norm(m->forward_blocks(m->forward_embed(x)));
    EXPECT_TRUE(torch::allclose(m->forward(x), m->forward_head(tokens), 1e-6, 1e-6)) << layout;
    const auto features = m->forward_head(tokens, /*pre_logits=*/true);
    EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 64}));
    const auto* last = m->head ? m->head.get() : m->mlp_head->ptr(1)->as<torch::nn::Linear>();
    EXPECT_TRUE(torch::allclose(torch::linear(features, last->weight, last->bias), m->forward(x), 1e-5, 1e-5)) << layout;
  }
}

TEST(ViT, CloneIsDeepAndEqual) {
  ViT m(ViTOptions(32, 8, 10, 64, 2, 4, 128));
  m->eval();
  auto copy = std::dynamic_pointer_cast<ViTImpl>(m->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->named_parameters().size(), m->named_parameters().size());
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(m->forward(x), copy->forward(x), 1e-5, 1e-5));
  torch::NoGradGuard no_grad;
  for (auto& p : copy->parameters()) p.zero_();  // the PreNorm'd attention and feed-forward too
  EXPECT_FALSE(torch::allclose(m->forward(x), copy->forward(x), 1e-2, 1e-2));
  for (const auto& p : m->named_parameters()) {
    if (p.key().find("transformer") != std::string::npos && p.key().find("norm") == std::string::npos) {
      EXPECT_GT(p.value().abs().sum().item<double>(), 0.) << p.key() << " was shared with the clone";
    }
  }
}

}  // namespace
}  // namespace vit::vit_pytorch
