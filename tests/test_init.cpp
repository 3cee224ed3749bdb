// Tests of include/vit/init.h. Seeded parity with Python's trunc_normal_ is checked through the
// models' init goldens (TimmInitReference); this checks the distribution itself.
#include <vit/init.h>
#include <vit/vision_transformer.h>

#include "golden.h"

namespace vit {
namespace {

TEST(TruncNormal, MatchesTheTruncatedDistribution) {
  torch::manual_seed(0);
  auto t = trunc_normal_(torch::empty({200000}), 0., 1., -2., 2.);
  EXPECT_GE(t.min().item<double>(), -2.);
  EXPECT_LE(t.max().item<double>(), 2.);
  EXPECT_NEAR(t.mean().item<double>(), 0., 0.01);
  EXPECT_NEAR(t.std().item<double>(), 0.87962566, 0.005);  // std of N(0,1) truncated at +-2
  EXPECT_THROW(trunc_normal_(torch::empty({2}), 0., 0.), c10::Error);
}

TEST(SkipInitGuard, BuildsTheSameModuleTreeWithoutDrawingRandomNumbers) {
  const auto options = VisionTransformerOptions().img_size(16).patch_size(8).embed_dim(16).depth(2).num_heads(2)
                           .num_classes(3).distilled(true).qkv_bias(false);
  torch::manual_seed(0);
  VisionTransformer initialised(options);
  const auto after_init = torch::rand({1});
  torch::manual_seed(0);
  auto skipped = [&] {
    const SkipInitGuard skip;
    EXPECT_TRUE(SkipInitGuard::active());
    return VisionTransformer(options);
  }();
  EXPECT_FALSE(SkipInitGuard::active());
  // Only the patch Conv2d's LibTorch init (0.7% of ViT-B's weights) still draws.
  const auto after_skipped = torch::rand({1});
  torch::manual_seed(0);
  torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 8).stride(8));
  EXPECT_TRUE(torch::equal(after_skipped, torch::rand({1})));
  EXPECT_FALSE(torch::equal(after_skipped, after_init));
  const auto a = initialised->named_parameters(), b = skipped->named_parameters();
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& item : a) {
    EXPECT_EQ(item.value().sizes(), b[item.key()].sizes()) << item.key();
    EXPECT_TRUE(b[item.key()].requires_grad()) << item.key();
  }
  const auto linears = skipped->named_modules();
  for (const auto& item : initialised->named_modules()) {
    const auto* expected = item.value()->as<torch::nn::LinearImpl>();
    if (!expected) continue;
    const auto* got = linears[item.key()]->as<torch::nn::LinearImpl>();
    ASSERT_TRUE(got) << item.key();
    EXPECT_EQ(got->options.in_features(), expected->options.in_features()) << item.key();
    EXPECT_EQ(got->options.out_features(), expected->options.out_features()) << item.key();
    EXPECT_EQ(got->options.bias(), expected->options.bias()) << item.key();
  }
  EXPECT_EQ(skipped->forward(torch::zeros({2, 3, 16, 16})).sizes(), (std::vector<int64_t>{2, 3}));
}

}  // namespace
}  // namespace vit
