// Tests of include/vit/data.h and train.h: the idx reader, augmentation, the learning-rate schedule,
// weight-decay groups, the losses and two Trainer steps against the Python reference
// (tests/reference/training.py), learning on a fixed batch, and exact resume.
#include <vit/data.h>
#include <vit/train.h>
#include <vit/vision_transformer.h>
#include <vit/vit_pytorch.h>
#include <vit/zoo.h>

#include "golden.h"

#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace vit {
namespace {

namespace fs = std::filesystem;
using testing::json;



void write_file(const std::string& path, const std::string& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// ---- idx files ----------------------------------------------------------------------------------

TEST(ReadIdx, ReadsRawAndGzipFilesOfEveryType) {
  // uint8 (2, 3) and big-endian int32 (2)
  const std::string u8 = std::string("\0\0\x08\x02\0\0\0\x02\0\0\0\x03", 12) + std::string("\x01\x02\x03\x04\x05\xff", 6);
  const std::string i32 = std::string("\0\0\x0c\x01\0\0\0\x02", 8) + std::string("\0\0\x01\x02\xff\xff\xff\xfe", 8);
  for (const bool gzip : {false, true}) {
    const auto a = testing::scratch_path(gzip ? "u8.gz" : "u8"), b = testing::scratch_path(gzip ? "i32.gz" : "i32");
    write_file(a, u8, gzip);
    write_file(b, i32, gzip);
    EXPECT_TRUE(torch::equal(read_idx(a), torch::tensor({1, 2, 3, 4, 5, 255}, torch::kUInt8).view({2, 3})));
    EXPECT_TRUE(torch::equal(read_idx(b), torch::tensor({258, -2}, torch::kInt32)));
    fs::remove(a);
    fs::remove(b);
  }
}

TEST(ReadIdx, CorruptFilesGiveOneClearError) {
  const auto path = testing::scratch_path("bad.gz");
  const std::string header = std::string("\0\0\x08\x01\0\0\0\x04", 8);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "too short for the 4-byte magic"},
      {std::string("\x1f\x00\x08\x01", 4), "not an idx file"},
      {std::string("\0\0\x07\x01", 4), "unknown data type 0x7"},
      {std::string("\0\0\x08\x00", 4), "0 dimensions"},
      {std::string("\0\0\x08\x01\0\0", 6), "truncated in the dimensions"},
      {std::string("\0\0\x08\x01\0\0\0\0", 8), "dimension 0 of 0 is empty or too large"},
      {std::string("\0\0\x08\x02\x7f\xff\xff\xff\x7f\xff\xff\xff", 12), "dimension 1 of 2147483647 is empty or too large"},
      {header + "abc", "truncated: the header promises 4 data bytes"},
      {std::string("\0\0\x08\x01\x27\0\0\0", 8) + "abc", "truncated: the header promises 654311424 data bytes"},  // no 654 MB buffer
      {header + "abcde", "trailing bytes after 4 data bytes"},
  };
  for (const auto& [bytes, message] : cases) {
    write_file(path, bytes, true);
    EXPECT_ERROR(read_idx(path), "[read_idx] '" + path + "': " + message);
  }
  std::ofstream(path, std::ios::binary) << std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", 18);
  EXPECT_ERROR(read_idx(path), "[read_idx] '" + path + "':");
  fs::remove(path);
  EXPECT_ERROR(read_idx("/nonexistent.gz"), "[read_idx] '/nonexistent.gz': cannot open");
}

TEST(FashionMnist, LoadsBothSplits) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const auto test = load_fashion_mnist(kFashionMnistDir, false);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.images.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(test.labels.bincount(), torch::full({10}, 1000, torch::kInt64)));
  EXPECT_EQ(test.labels[0].item<int64_t>(), 9);  // the first test image is an ankle boot
  EXPECT_EQ(fashion_mnist_classes()[9], "Ankle boot");
  EXPECT_EQ(load_fashion_mnist(kFashionMnistDir, true).size(), 60000);
  EXPECT_ERROR(load_fashion_mnist("/nonexistent", true), "[read_idx] '/nonexistent/train-images-idx3-ubyte.gz': cannot open");
}

// ---- augmentation and schedule ------------------------------------------------------------------

TEST(RandomCropFlip, CropsThePaddedImageAtTheDrawnOffsetsAndFlips) {
  const auto x = torch::rand({5, 2, 6, 7});
  EXPECT_TRUE(torch::equal(random_crop_flip(x, 0, false, at::make_generator<at::CPUGeneratorImpl>(1)), x));
  const auto out = random_crop_flip(x, 2, true, at::make_generator<at::CPUGeneratorImpl>(3));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);  // the same draws, in the documented order
  const auto offsets = torch::randint(0, 5, {5, 2}, gen, torch::kInt64);
  const auto flips = torch::randint(0, 2, {5}, gen, torch::kInt64);
  const auto padded = torch::zeros({5, 2, 10, 11});
  padded.narrow(2, 2, 6).narrow(3, 2, 7).copy_(x);
  for (int64_t b = 0; b < 5; ++b) {
    auto expected = padded[b].narrow(1, offsets[b][0].item<int64_t>(), 6).narrow(2, offsets[b][1].item<int64_t>(), 7);
    if (flips[b].item<int64_t>()) expected = expected.flip({2});
    EXPECT_TRUE(torch::equal(out[b], expected)) << b;
  }
  EXPECT_ERROR(random_crop_flip(torch::zeros({2, 3}), 1, true, at::make_generator<at::CPUGeneratorImpl>(1)),
               "[random_crop_flip] expected float images (B, C, H, W)");
}

TEST(WarmupCosineLr, WarmsUpLinearlyThenFollowsTheCosineToMinLr) {
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(0, 100, 10, 1e-3, 1e-5), 1e-4);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(9, 100, 10, 1e-3, 1e-5), 1e-3);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(10, 100, 10, 1e-3, 1e-5), 1e-3);
  EXPECT_NEAR(warmup_cosine_lr(10 + 89 / 2., 100, 10, 1e-3, 1e-5), 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(M_PI * 44 / 89.)), 1e-15);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(99, 100, 10, 1e-3, 1e-5), 1e-5);
  EXPECT_DOUBLE_EQ(warmup_cosine_lr(0, 1, 0, 1e-3, 1e-5), 1e-3);
  for (int64_t s = 11; s < 100; ++s) EXPECT_LT(warmup_cosine_lr(s, 100, 10, 1e-3, 1e-5), warmup_cosine_lr(s - 1, 100, 10, 1e-3, 1e-5));
  EXPECT_ERROR(warmup_cosine_lr(100, 100, 10, 1e-3, 0.), "[warmup_cosine_lr] step 100 of 100");
}

TEST(WeightDecayGroups, DecayOnlyMatrixWeightsAsTimm) {
  const auto timm = create_model("vit_tiny_patch16_224", R"({"depth": 1, "reg_tokens": 2, "init_values": 0.1})");
  const auto [decay, no_decay] = weight_decay_groups(*timm);
  EXPECT_EQ(decay, (std::vector<std::string>{"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                                             "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight"}));
  for (const char* name : {"cls_token", "reg_token", "pos_embed", "blocks.0.ls1.gamma", "blocks.0.norm1.weight",
                           "blocks.0.attn.qkv.bias", "norm.bias", "head.bias"})
    EXPECT_NE(std::find(no_decay.begin(), no_decay.end(), name), no_decay.end()) << name;
  EXPECT_EQ(decay.size() + no_decay.size(), timm->named_parameters().size());
  const auto deit = weight_decay_groups(*create_model("deit_tiny_distilled_patch16_224", R"({"depth": 1})"));
  EXPECT_EQ(deit.first.back(), "head_dist.weight");
  EXPECT_EQ(std::count(deit.second.begin(), deit.second.end(), "dist_token"), 1);
  const vit_pytorch::ViT lucid(vit_pytorch::ViTOptions(16, 8, 3, 16, 1, 2, 32));
  const auto lucid_groups = weight_decay_groups(*lucid);
  EXPECT_EQ(std::count(lucid_groups.second.begin(), lucid_groups.second.end(), "pos_embedding"), 1);
  EXPECT_EQ(std::count(lucid_groups.second.begin(), lucid_groups.second.end(), "cls_token"), 1);
}

// ---- against the Python reference ---------------------------------------------------------------

TEST(TrainingReference, LossesMatchPython) {
  const auto g = testing::load_golden("training_losses");
  const auto &cls = g.tensor("cls"), &dist = g.tensor("dist"), &teacher = g.tensor("teacher"), &labels = g.tensor("labels");
  const double smoothing = g.config["smoothing"], alpha = g.config["alpha"], tau = g.config["tau"];
  EXPECT_TRUE(testing::all_close(smoothed_cross_entropy(cls, labels, smoothing).reshape({1}), g.tensor("smoothed"), 1e-6));
  EXPECT_TRUE(testing::all_close(distillation_loss(cls, dist, labels, teacher, "hard", alpha, tau, smoothing).reshape({1}),
                                 g.tensor("hard"), 1e-6));
  EXPECT_TRUE(testing::all_close(distillation_loss(cls, dist, labels, teacher, "soft", alpha, tau, smoothing).reshape({1}),
                                 g.tensor("soft"), 1e-6));
  EXPECT_ERROR(distillation_loss(cls, dist, labels, teacher, "medium", alpha, tau, smoothing), "type must be 'hard' or 'soft'");
  EXPECT_ERROR(distillation_loss(cls, dist.narrow(1, 0, 3), labels, teacher, "soft", alpha, tau, smoothing), "must agree");
}

// A Pretrained small timm ViT for Fashion-MNIST-shaped data (3 x 28 x 28 input, 10 classes).
Pretrained small_model(const std::string& args, const StateDict& state = {}) {
  const auto options = options_from_json(resolve_model_args("vit_tiny_patch16_224", args), VisionTransformerOptions());
  VisionTransformer model(options);
  if (!state.empty()) load_state_dict(*model, state);
  const auto cfg = PretrainedCfg().input_size({3, 28, 28}).mean({0.2860, 0.2860, 0.2860}).std({0.3530, 0.3530, 0.3530});
  return make_pretrained(model.ptr(), options.distilled() ? "deit_tiny_distilled_patch16_224" : "vit_tiny_patch16_224",
                         fashion_mnist_classes(), cfg);
}

// Two steps of the whole batch, as Python takes them, and of the same batch split over 2 and 3
// workers (run at once on 2 threads: the data-parallel fast path; 3 splits 16 unevenly).
TEST(TrainingReference, TwoTrainerStepsMatchPython) {
  const auto g = testing::load_golden("training_steps");
  const auto train = json::parse(g.file.metadata.at("train"));
  const testing::ThreadsGuard threads(2);
  for (const int64_t workers : {1, 2, 3}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    auto model = small_model(g.config.dump(), g.with_prefix("param/"));
    // One batch of all 16 images per step (its order does not change a mean loss), constant lr.
    const auto options = TrainOptions().epochs(2).batch_size(16).lr(train["lr"]).min_lr(train["lr"]).warmup_epochs(0)
                             .weight_decay(train["weight_decay"]).label_smoothing(train["smoothing"])
                             .clip_grad_norm(train["clip"]).crop_padding(0).flip(false).workers(workers);
    Trainer trainer(model, {g.tensor("images"), g.tensor("labels")}, options);
    std::vector<double> losses;
    while (!trainer.done()) losses.push_back(trainer.train_step().loss);
    EXPECT_EQ(at::get_num_threads(), 2);  // the workers' single-threaded ops left this thread's count alone
    EXPECT_TRUE(testing::all_close(torch::tensor(losses, torch::kFloat64), g.tensor("losses"), 1e-5));
    // The key part of each qkv bias has a zero gradient in exact arithmetic (softmax ignores a shift
    // of all scores), so Adam normalises rounding noise there: compare it with the learning rate's scale.
    const auto params = model.module->named_parameters();
    const int64_t D = g.config["embed_dim"];
    for (const auto& [name, expected] : g.with_prefix("after/")) {
      if (name.find("attn.qkv.bias") != std::string::npos) {
        EXPECT_TRUE(testing::all_close(params[name].narrow(0, 0, D), expected.narrow(0, 0, D), 1e-4)) << name;
        EXPECT_TRUE(testing::all_close(params[name].narrow(0, 2 * D, D), expected.narrow(0, 2 * D, D), 1e-4)) << name;
        EXPECT_TRUE(testing::all_close(params[name].narrow(0, D, D), expected.narrow(0, D, D), 2.5 * double(train["lr"]))) << name;
      } else {
        EXPECT_TRUE(testing::all_close(params[name], expected, 1e-4)) << name;
      }
    }
  }
}

// ---- learning and resuming ----------------------------------------------------------------------

ImageDataset some_images(int64_t n) {
  if (fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    const auto test = load_fashion_mnist(kFashionMnistDir, false);
    return {test.images.narrow(0, 0, n), test.labels.narrow(0, 0, n)};
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  return {torch::randint(0, 256, {n, 1, 28, 28}, gen, torch::kUInt8), torch::randint(0, 10, {n}, gen, torch::kInt64)};
}

TEST(Trainer, LossDecreasesOnAFixedBatch) {
  torch::manual_seed(0);
  auto model = small_model(R"({"img_size": 28, "patch_size": 7, "num_classes": 10, "embed_dim": 32, "depth": 2, "num_heads": 2})");
  const testing::ThreadsGuard threads(2);
  Trainer trainer(model, some_images(32), TrainOptions().epochs(80).batch_size(32).lr(3e-3).warmup_epochs(2).crop_padding(0).flip(false));
  // 0: one per intra-op thread, or 1 where vitcpp has no OpenMP and the workers could only take turns
  EXPECT_EQ(trainer.options().workers(), VITCPP_BUILT_WITH_OPENMP ? 2 : 1);
  std::vector<double> losses;
  while (!trainer.done()) losses.push_back(trainer.train_step().loss);
  EXPECT_GT(losses.front(), 2.);
  EXPECT_LT(losses.back(), 0.5 * losses.front());
  EXPECT_EQ(evaluate(trainer.model(), some_images(32)).accuracy, 1.);  // memorised
}

TEST(Trainer, ResumesExactlyWhereItStopped) {
  // A distilled student with every random draw in play: epoch order, crop + flip, dropout, DropPath.
  const std::string args =
      R"({"img_size": 28, "patch_size": 7, "num_classes": 10, "embed_dim": 32, "depth": 2, "num_heads": 2, "drop_rate": 0.1, "drop_path_rate": 0.2})";
  torch::manual_seed(1);
  const auto teacher = small_model(args);
  teacher.module->eval();
  auto teach = [&](const torch::Tensor& x) { return teacher.forward(x); };
  const auto student_args = json::parse(args);
  auto distilled = student_args;
  distilled["distilled"] = true;
  torch::manual_seed(2);
  const auto initial = small_model(distilled.dump());
  StateDict state;
  for (const auto& p : initial.module->named_parameters()) state.emplace_back(p.key(), p.value().clone());
  // Two workers: with dropout active they run one after another, each from its own seed.
  const auto options =
      TrainOptions().epochs(3).batch_size(8).lr(1e-3).seed(7).distillation("soft").tau(2.).workers(2).crop_padding(2);
  const auto data = some_images(20);  // 2 steps per epoch, 4 images left out of each

  Trainer whole(small_model(distilled.dump(), state), data, options);
  whole.set_teacher(teach);
  std::vector<double> expected;
  while (!whole.done()) expected.push_back(whole.train_step().loss);
  ASSERT_EQ(expected.size(), 6u);

  Trainer first(small_model(distilled.dump(), state), data, options);
  first.set_teacher(teach);
  std::vector<double> losses;
  for (int i = 0; i < 3; ++i) losses.push_back(first.train_step().loss);  // stop mid-epoch
  const auto dir = testing::scratch_path("resume");
  first.save(dir);
  torch::manual_seed(12345);  // nothing may depend on the global generator's state
  auto second = Trainer::resume(dir, data);
  EXPECT_EQ(second.step(), 3);
  EXPECT_EQ(second.options().workers(), 2);
  second.set_teacher(teach);
  while (!second.done()) losses.push_back(second.train_step().loss);
  ASSERT_EQ(losses.size(), expected.size());
  for (size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(losses[i], expected[i], 1e-6) << "step " << i;
  const auto a = whole.model().module->named_parameters(), b = second.model().module->named_parameters();
  for (const auto& item : a) EXPECT_TRUE(testing::all_close(b[item.key()], item.value(), 1e-6)) << item.key();
  // Something to resume differs
  EXPECT_ERROR(Trainer::resume(dir, some_images(24)), "the run trained on 20 images, this dataset has 24");
  EXPECT_ERROR(Trainer::resume("/nonexistent", data), "[Trainer::resume] '/nonexistent/trainer.json': cannot open");
  fs::remove_all(dir);
}

TEST(Trainer, ImpossibleSettingsGiveOneLineErrors) {
  const auto data = some_images(16);
  const std::string args = R"({"img_size": 28, "patch_size": 7, "num_classes": 10, "embed_dim": 16, "depth": 1, "num_heads": 2})";
  EXPECT_ERROR(Trainer(small_model(args), data, TrainOptions().batch_size(32)), "16 training images are fewer than a batch of 32");
  EXPECT_ERROR(Trainer(small_model(args), data, TrainOptions().batch_size(8).distillation("hard")),
               "[Trainer] distillation 'hard' needs a distilled student");
  EXPECT_ERROR(Trainer(small_model(args), data, TrainOptions().batch_size(8).label_smoothing(1.)),
               "[Trainer] 'label_smoothing' must be in [0, 0.99], got 1");
  EXPECT_ERROR(Trainer(small_model(args), data, TrainOptions().batch_size(8).distillation("medium")),
               "[Trainer] 'distillation' must be one of 'auto', 'none', 'hard', 'soft', got \"medium\"");
  EXPECT_ERROR(Trainer(small_model(args), data, TrainOptions().batch_size(8).workers(9)), "workers must be in [0, batch_size 8], got 9");
  auto distilled = json::parse(args);
  distilled["distilled"] = true;
  EXPECT_ERROR(Trainer(small_model(distilled.dump()), data, TrainOptions().batch_size(8)), "trains with a teacher");
  Trainer no_teacher(small_model(distilled.dump()), data, TrainOptions().batch_size(8).distillation("hard"));
  EXPECT_ERROR(no_teacher.train_step(), "[Trainer] distillation 'hard' needs a teacher");
  EXPECT_ERROR(Trainer(small_model(distilled.dump()), data, TrainOptions().batch_size(8).teacher("/nonexistent")),
               "[load_pretrained] '/nonexistent': no such file or directory");
  auto wrong = data;
  wrong.labels = wrong.labels + 10;
  EXPECT_ERROR(Trainer(small_model(args), wrong, TrainOptions().batch_size(8)), "labels must be in [0, 10)");
}

// fit(): each epoch evaluated and saved; max_steps stops mid-epoch and saves there; resume finishes.
TEST(Fit, EvaluatesAndSavesEachEpochAndStopsAtMaxSteps) {
  const auto train = some_images(24), test = some_images(16);
  const auto model = fashion_mnist_model(FashionMnistModel().dim(16).depth(1).heads(2), /*distilled=*/false, 3);
  EXPECT_EQ(model.architecture, "vit_tiny_patch16_224");
  EXPECT_EQ(model.pretrained_cfg.input_size(), (Int3{3, 28, 28}));
  EXPECT_EQ(model.label_names, fashion_mnist_classes());
  Trainer trainer(model, train, TrainOptions().epochs(2).batch_size(8).workers(1));
  const auto dir = testing::scratch_path("fit");
  std::vector<int64_t> epochs_seen;
  FitCallbacks callbacks;
  callbacks.on_epoch = [&](const Trainer& t, const EvalStats& e, double) {
    epochs_seen.push_back(t.epoch());
    EXPECT_EQ(e.images, 16);
  };
  EXPECT_EQ(fit(trainer, test, dir, /*max_steps=*/4, callbacks).images, 0);  // 3 steps an epoch: stopped in the second
  EXPECT_EQ(trainer.step(), 4);
  EXPECT_EQ(epochs_seen, std::vector<int64_t>{1});
  auto resumed = Trainer::resume(dir, train);
  EXPECT_EQ(resumed.step(), 4);
  const auto last = fit(resumed, test, dir, -1, callbacks);
  EXPECT_EQ(last.images, 16);
  EXPECT_TRUE(resumed.done());
  EXPECT_EQ(epochs_seen, (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(evaluate(load_pretrained(dir), test).accuracy, last.accuracy, 1e-12);
  fs::remove_all(dir);
  EXPECT_ERROR(fashion_mnist_model(FashionMnistModel().pool("avg"), /*distilled=*/true, 0), "pool avg cannot go with distillation");
  EXPECT_ERROR(fashion_mnist_model(FashionMnistModel().family("vit_pytorch"), /*distilled=*/true, 0), "distillation needs family timm");
  EXPECT_ERROR(fashion_mnist_model(FashionMnistModel().family("keras"), false, 0), "'family' must be one of 'timm', 'vit_pytorch'");
}

}  // namespace
}  // namespace vit
