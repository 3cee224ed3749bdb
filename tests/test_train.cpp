// Tests of include/vit/data.h and train.h: the idx reader, augmentation, the learning-rate schedule,
// weight-decay groups, the losses and two Trainer steps against the Python reference
// (tests/reference/training.py), learning on a fixed batch, and exact resume.
#include <vit/data.h>
#include <vit/distributed.h>
#include <vit/image.h>
#include <vit/init.h>
#include <vit/train.h>
#include <vit/vision_transformer.h>
#include <vit/vit_pytorch.h>
#include <vit/zoo.h>

#include "golden.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <numeric>

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
  const auto dir = fs::temp_directory_path().string();
  EXPECT_ERROR(read_idx(dir), "[read_idx] '" + dir + "': is a directory, not an idx file");
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

TEST(ParamGroups, DecayOnlyMatrixWeightsAsTimm) {
  const auto timm = create_model("vit_tiny_patch16_224", R"({"depth": 1, "reg_tokens": 2, "init_values": 0.1})");
  // two groups, in the order of their first parameter: {decayed, not decayed} by weight_decay
  const auto split = [](const std::vector<ParamGroup>& groups) {
    EXPECT_EQ(groups.size(), 2u);
    const bool first_decays = groups.at(0).weight_decay > 0.;
    EXPECT_EQ(groups.at(first_decays ? 1 : 0).weight_decay, 0.);
    for (const auto& g : groups) EXPECT_EQ(g.lr_scale, 1.);
    return std::make_pair(groups.at(first_decays ? 0 : 1).names, groups.at(first_decays ? 1 : 0).names);
  };
  const auto [decay, no_decay] = split(param_groups(*timm, 0.05));
  EXPECT_EQ(decay, (std::vector<std::string>{"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                                             "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight"}));
  for (const char* name : {"cls_token", "reg_token", "pos_embed", "blocks.0.ls1.gamma", "blocks.0.norm1.weight",
                           "blocks.0.attn.qkv.bias", "norm.bias", "head.bias"})
    EXPECT_NE(std::find(no_decay.begin(), no_decay.end(), name), no_decay.end()) << name;
  EXPECT_EQ(decay.size() + no_decay.size(), timm->named_parameters().size());
  const auto deit = split(param_groups(*create_model("deit_tiny_distilled_patch16_224", R"({"depth": 1})"), 0.05));
  EXPECT_EQ(deit.first.back(), "head_dist.weight");
  EXPECT_EQ(std::count(deit.second.begin(), deit.second.end(), "dist_token"), 1);
  EXPECT_ERROR(param_groups(*timm, 0.05, 1.5), "[param_groups] layer_decay 1.5 must be in (0, 1]");
}

// timm's param_groups_layer_decay (and freezing) as the Python reference computes it: every trained
// parameter's learning-rate scale and weight decay, for the timm and vit-pytorch families.
TEST(ParamGroups, LayerDecayAndFreezeMatchPython) {
  auto cases = testing::golden_cases("timm", "param_groups");
  for (const auto& name : testing::golden_cases("vit_pytorch", "param_groups")) cases.push_back(name);
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    const auto g = testing::load_golden(name);
    const auto options = json::parse(g.file.metadata.at("options"));
    const auto family = g.file.metadata.at("family");
    ModelPtr model;
    if (family == "timm") model = VisionTransformer(options_from_json(g.config.dump(), VisionTransformerOptions())).ptr();
    else model = vit_pytorch::ViT(options_from_json(g.config.dump(), vit_pytorch::ViTOptions())).ptr();
    std::map<std::string, std::pair<double, double>> ours;
    for (const auto& group : param_groups(*model, options["weight_decay"], options["layer_decay"], options["freeze"]))
      for (const auto& n : group.names) ours[n] = {group.lr_scale, group.weight_decay};
    const auto names = json::parse(g.file.metadata.at("names")).get<std::vector<std::string>>();
    ASSERT_EQ(ours.size(), names.size());
    const auto scales = g.tensor("lr_scale"), decays = g.tensor("weight_decay");
    for (size_t i = 0; i < names.size(); ++i) {
      ASSERT_TRUE(ours.count(names[i])) << names[i];
      EXPECT_NEAR(ours[names[i]].first, scales[static_cast<int64_t>(i)].item<double>(), 1e-12) << names[i];
      EXPECT_EQ(ours[names[i]].second, decays[static_cast<int64_t>(i)].item<double>()) << names[i];
    }
  }
}

// ---- image folders and timm's training transform ---------------------------------------------------

// Python's RandomResizedCrop boxes from the same uniform numbers, and the whole training transform
// (crop, PIL resize with either filter to a non-square size, flip, normalise) on image files.
TEST(RandomResizedCrop, BoxesAndTransformMatchPython) {
  const auto g = testing::load_golden("training_random_resized_crop");
  const auto sizes = g.tensor("sizes"), boxes = g.tensor("boxes"), uniforms = g.tensor("uniforms"), scales = g.tensor("scales");
  int64_t fallbacks = 0;
  for (int64_t i = 0; i < sizes.size(0); ++i) {
    int64_t k = 0;
    const auto row = uniforms[i];
    const auto uniform = [&] { return row[k++].item<double>(); };
    const auto box = random_resized_crop_box(sizes[i][0].item<int64_t>(), sizes[i][1].item<int64_t>(), {scales[i].item<double>(), 1.},
                                             {3. / 4., 4. / 3.}, uniform);
    EXPECT_EQ(torch::tensor(std::vector<int64_t>(box.begin(), box.end())).equal(boxes[i]), true) << "case " << i;
    fallbacks += k == 20;
  }
  EXPECT_GT(fallbacks, 10);  // the center-crop fallback is exercised
  const auto transforms = json::parse(g.file.metadata.at("transforms"));
  const auto cfg = PretrainedCfg().input_size({3, 24, 40}).mean({0.5, 0.4, 0.3}).std({0.2, 0.25, 0.3});
  for (size_t t = 0; t < transforms.size(); ++t) {
    const auto key = "transform" + std::to_string(t);
    const auto us = g.tensor(key + "/uniforms");
    int64_t k = 0;
    const auto image = read_image(testing::golden_dir() + "/images/" + transforms[t]["image"].get<std::string>());
    const auto x = train_transform(image, PretrainedCfg(cfg).interpolation(transforms[t]["interpolation"]),
                                   transforms[t]["crop_scale"], /*flip=*/true, [&] { return us[k++].item<double>(); });
    EXPECT_TRUE(testing::all_close(x, g.tensor(key + "/pixels"), 1e-5)) << key;
  }
  EXPECT_ERROR(random_resized_crop_box(0, 5, {0.08, 1.}, {0.75, 1.3}, [] { return 0.5; }), "image size 0x5 must be positive");
}

// A folder of generated images: class c is mostly colour c, with noise and a random size.
std::string make_image_folder(const std::string& name, const std::vector<std::string>& classes, int64_t per_class,
                              uint64_t seed = 0) {
  const auto root = testing::scratch_path(name);
  fs::remove_all(root);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::create_directories(root + "/" + classes[c]);
    for (int64_t i = 0; i < per_class; ++i) {
      Image image;
      image.width = 12 + torch::randint(0, 12, {1}, gen).item<int64_t>();
      image.height = 12 + torch::randint(0, 12, {1}, gen).item<int64_t>();
      const auto noise = torch::randint(0, 80, {image.height * image.width * 3}, gen, torch::kInt64);
      image.rgb.resize(static_cast<size_t>(noise.numel()));
      for (int64_t p = 0; p < noise.numel(); ++p)
        image.rgb[static_cast<size_t>(p)] = static_cast<uint8_t>(noise[p].item<int64_t>() + (p % 3 == static_cast<int64_t>(c % 3) ? 170 : 0));
      write_png(root + "/" + classes[c] + "/" + std::to_string(i) + ".png", image);
    }
  }
  return root;
}

TEST(ImageFolder, ReadsTorchvisionsLayoutAndSkipsUnreadableImages) {
  const auto root = make_image_folder("folder", {"zebra", "ant", "bee"}, 3);
  fs::create_directories(root + "/bee/more");
  fs::copy_file(root + "/bee/0.png", root + "/bee/more/x.PNG");
  std::ofstream(root + "/bee/notes.txt") << "not an image";
  std::ofstream(root + "/bee/broken.png") << "not a png";
  const ImageFolder folder(root, /*threads=*/2);
  EXPECT_EQ(folder.classes(), (std::vector<std::string>{"ant", "bee", "zebra"}));
  EXPECT_EQ(folder.class_to_idx().at("zebra"), 2);
  ASSERT_EQ(folder.size(), 3 + 5 + 3);
  EXPECT_EQ(folder.path(3), root + "/bee/0.png");  // sorted by folder, then name: bee/, then bee/more/
  EXPECT_EQ(folder.path(6), root + "/bee/broken.png");
  EXPECT_EQ(folder.path(7), root + "/bee/more/x.PNG");
  EXPECT_TRUE(folder.targets().equal(torch::tensor({0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2}, torch::kInt64)));

  const auto cfg = PretrainedCfg().input_size({3, 16, 16});
  const Augmentation augment{0, true, 0.08};
  std::vector<int64_t> all(static_cast<size_t>(folder.size()));
  std::iota(all.begin(), all.end(), 0);
  const auto a = folder.batch(all, cfg, &augment, 7), b = folder.batch(all, cfg, &augment, 7), c = folder.batch(all, cfg, &augment, 8);
  EXPECT_EQ(folder.skipped(), 1);  // broken.png, once
  ASSERT_EQ(a.images.sizes(), (std::vector<int64_t>{10, 3, 16, 16}));
  EXPECT_TRUE(a.images.equal(b.images));  // the seed decides, not the threads
  EXPECT_FALSE(a.images.equal(c.images));
  EXPECT_TRUE(a.labels.equal(torch::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2, 2}, torch::kInt64)));  // without broken.png
  const auto eval = folder.batch({4}, cfg, nullptr, 0);  // the evaluation transform is vit classify's
  EXPECT_TRUE(eval.images[0].equal(preprocess(read_image(folder.path(4)), cfg)));

  fs::create_directories(root + "/empty");
  EXPECT_ERROR((void)ImageFolder(root), "class folder 'empty' has no images");
  fs::remove_all(root + "/empty");
  EXPECT_ERROR((void)ImageFolder(root + "/ant/0.png"), "not a directory");
  EXPECT_ERROR((void)ImageFolder(root + "/ant"), "has no class folders");
  EXPECT_ERROR((void)ImageFolder(root, 1, 5), "has more than 5 images");
  EXPECT_ERROR(folder.batch({11}, cfg, nullptr, 0), "index 11 is out of range for 11 images");
  fs::remove_all(root);

  // train/ + val/
  const auto split = testing::scratch_path("folder_split");
  fs::remove_all(split);
  fs::create_directories(split);
  fs::rename(make_image_folder("folder_train", {"a", "b"}, 2), split + "/train");
  fs::rename(make_image_folder("folder_val", {"a", "b"}, 1), split + "/val");
  const auto opened = open_image_folder(split);
  ASSERT_TRUE(opened.val);
  EXPECT_EQ(opened.train->size(), 4);
  EXPECT_EQ(opened.val->size(), 2);
  fs::rename(split + "/val/b", split + "/val/c");
  EXPECT_ERROR(open_image_folder(split), "has classes other than");
  fs::remove_all(split);
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

// Two steps of the whole batch, as Python takes them (split over ranks: Distributed.*).
TEST(TrainingReference, TwoTrainerStepsMatchPython) {
  const auto g = testing::load_golden("training_steps");
  const auto train = json::parse(g.file.metadata.at("train"));
  const testing::ThreadsGuard threads(2);
  {
    auto model = small_model(g.config.dump(), g.with_prefix("param/"));
    // One batch of all 16 images per step (its order does not change a mean loss), constant lr.
    const auto options = TrainOptions().epochs(2).batch_size(16).lr(train["lr"]).min_lr(train["lr"]).warmup_epochs(0)
                             .weight_decay(train["weight_decay"]).label_smoothing(train["smoothing"])
                             .clip_grad_norm(train["clip"]).crop_padding(0).flip(false);
    Trainer trainer(model, {g.tensor("images"), g.tensor("labels")}, options);
    std::vector<double> losses;
    while (!trainer.done()) losses.push_back(trainer.train_step().loss);
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
  const auto options = TrainOptions().epochs(3).batch_size(8).lr(1e-3).seed(7).distillation("soft").tau(2.).crop_padding(2);
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

// What resume reads is checked before it is used: trainer.json (a directory, a step of 2^63) and each
// parameter's AdamW state in optimizer.safetensors (an empty step tensor, a step past the run's, a
// missing moment), each a one-line error naming the key.
TEST(Trainer, ResumeChecksTheSavedStateBeforeUsingIt) {
  const auto data = some_images(16);
  const std::string args = R"({"img_size": 28, "patch_size": 7, "num_classes": 10, "embed_dim": 16, "depth": 1, "num_heads": 2})";
  Trainer trainer(small_model(args), data, TrainOptions().epochs(1).batch_size(8));
  trainer.train_step();
  const auto dir = testing::scratch_path("resume_checks");
  trainer.save(dir);
  EXPECT_EQ(Trainer::resume(dir, data).step(), 1);  // as saved

  const auto optimizer = dir + "/optimizer.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> saved;
  const auto loaded = load_safetensors(optimizer);
  for (const auto& [key, value] : loaded.tensors) saved.emplace_back(key, value.clone());  // not views of the file
  std::string step_key;
  for (const auto& item : saved)
    if (step_key.empty() && item.first.size() > 5 && item.first.substr(item.first.size() - 5) == ".step") step_key = item.first;
  ASSERT_FALSE(step_key.empty());
  const auto name = step_key.substr(0, step_key.size() - 5);
  const auto with = [&](const std::string& key, const torch::Tensor& value) {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& item : saved)
      if (item.first != key) tensors.push_back(item);
      else if (value.defined()) tensors.emplace_back(key, value);
    save_safetensors(optimizer, tensors);
  };
  with(step_key, torch::empty({0}, torch::kInt64));
  EXPECT_ERROR(Trainer::resume(dir, data), "'" + step_key + "' must hold one integer, got a Long tensor of shape [0]");
  with(step_key, torch::tensor(int64_t{5}));
  EXPECT_ERROR(Trainer::resume(dir, data), "'" + step_key + "' must be in [0, 1] (the run's step), got 5");
  with(name + ".exp_avg_sq", torch::Tensor());
  EXPECT_ERROR(Trainer::resume(dir, data), "'" + name + ".exp_avg' has no '" + name + ".exp_avg_sq'");
  save_safetensors(optimizer, saved);

  const auto trainer_json = dir + "/trainer.json";
  std::ifstream in(trainer_json);
  auto state = json::parse(in);
  in.close();
  for (const uint64_t step : {uint64_t{1} << 63, ~uint64_t{0}}) {
    auto changed = state;
    changed["step"] = step;
    std::ofstream(trainer_json) << changed.dump();
    EXPECT_ERROR(Trainer::resume(dir, data), "trainer.json': 'step' must be an integer in [0, 2], got " + std::to_string(step));
  }
  fs::remove(trainer_json);
  fs::create_directories(trainer_json);
  EXPECT_ERROR(Trainer::resume(dir, data), "[Trainer::resume] '" + trainer_json + "': is a directory, not a JSON file");
  fs::remove_all(dir);
}

// A model's head must cover the data's classes: said up front, before a label indexes past the logits.
TEST(Trainer, EvaluateAndTrainCheckTheClassCountFirst) {
  const auto root = make_image_folder("more_classes", {"a", "b", "c"}, 1);
  const auto folder = std::make_shared<ImageFolder>(root);
  const auto model = make_pretrained(
      create_model("vit_tiny_patch16_224", R"({"img_size": 16, "patch_size": 8, "num_classes": 2, "embed_dim": 16, "depth": 1, "num_heads": 2})"),
      "vit_tiny_patch16_224");
  EXPECT_ERROR(evaluate(model, *folder), "[evaluate] the data has 3 classes, the model 2");
  EXPECT_ERROR(Trainer(model, folder, TrainOptions().batch_size(1)), "[Trainer] the data has 3 classes, the model 2");
  fs::remove_all(root);
}

// fit(): each epoch evaluated and saved; max_steps stops mid-epoch and saves there; resume finishes.
TEST(Fit, EvaluatesAndSavesEachEpochAndStopsAtMaxSteps) {
  const auto train = some_images(24), test = some_images(16);
  const auto model = fashion_mnist_model(FashionMnistModel().dim(16).depth(1).heads(2), /*distilled=*/false, 3);
  EXPECT_EQ(model.architecture, "vit_tiny_patch16_224");
  EXPECT_EQ(model.pretrained_cfg.input_size(), (Int3{3, 28, 28}));
  EXPECT_EQ(model.label_names, fashion_mnist_classes());
  Trainer trainer(model, train, TrainOptions().epochs(2).batch_size(8));
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

// ---- fine-tuning ---------------------------------------------------------------------------------

// load_pretrained with model_args: another num_classes gives a new classifier (timm's init), another
// img_size a resampled position embedding; everything else is the checkpoint's.
TEST(FineTune, LoadsACheckpointForOtherClassesAndSizes) {
  torch::manual_seed(4);
  const auto model = small_model(R"({"img_size": 28, "patch_size": 7, "num_classes": 10, "embed_dim": 32, "depth": 1, "num_heads": 2})");
  const auto dir = testing::scratch_path("fine_tune_ckpt");
  save_pretrained(model, dir);
  const auto saved = model.module->named_parameters();
  const auto three = load_pretrained(dir, LoadOptions().model_args(R"({"num_classes": 3})"));
  EXPECT_EQ(three.num_classes(), 3);
  EXPECT_TRUE(three.label_names.empty());  // they named the checkpoint's ten classes
  for (const auto& p : three.module->named_parameters()) {
    if (p.key().rfind("head.", 0) == 0) continue;
    EXPECT_TRUE(p.value().equal(saved[p.key()])) << p.key();
  }
  const auto head = three.module->named_parameters()["head.weight"];
  EXPECT_EQ(head.sizes(), (std::vector<int64_t>{3, 32}));
  EXPECT_NEAR(head.std().item<double>(), 0.02, 0.006);
  EXPECT_EQ(three.module->named_parameters()["head.bias"].abs().sum().item<double>(), 0.);
  const auto same = load_pretrained(dir, LoadOptions().model_args(R"({"num_classes": 10})"));
  EXPECT_TRUE(same.module->named_parameters()["head.weight"].equal(saved["head.weight"]));
  EXPECT_EQ(same.label_names, fashion_mnist_classes());
  const auto larger = load_pretrained(dir, LoadOptions().model_args(R"({"img_size": 42})"));
  EXPECT_EQ(larger.module->named_parameters()["pos_embed"].size(1), 1 + 6 * 6);
  EXPECT_EQ(larger.pretrained_cfg.input_size(), (Int3{3, 28, 28}));  // the config's preprocessing is kept
  EXPECT_ERROR(load_pretrained(dir, LoadOptions().model_args("[1]")), "model_args must be a JSON object");
  EXPECT_ERROR(load_pretrained(dir, LoadOptions().model_args(R"({"num_layers": 3})")), "unknown argument \"num_layers\" = 3");
  fs::remove_all(dir);
}

// A tiny ViT fine-tuned on a tiny folder of generated images learns it; --freeze trains the head
// alone; bfloat16 autocast changes the numbers a little, not the learning.
TEST(FineTune, LearnsAnImageFolderWithLayerDecayFreezeAndAutocast) {
  const auto root = make_image_folder("fine_tune", {"red", "green", "blue"}, 8);
  const auto folder = std::make_shared<const ImageFolder>(root, 2);
  const testing::ThreadsGuard threads(2);
  const auto fresh = [&] {
    torch::manual_seed(5);
    auto m = make_pretrained(create_model("vit_tiny_patch16_224", R"({"img_size": 16, "patch_size": 4, "num_classes": 3, "embed_dim": 32, "depth": 2, "num_heads": 2})"),
                             "vit_tiny_patch16_224", folder->classes());
    m.pretrained_cfg.input_size({3, 16, 16});
    return m;
  };
  const auto options = TrainOptions().epochs(12).batch_size(8).lr(2e-3).warmup_epochs(1).layer_decay(0.75);
  Trainer trainer(fresh(), folder, options);
  std::vector<double> losses;
  while (!trainer.done()) losses.push_back(trainer.train_step().loss);
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses.end()[-1] + losses.end()[-2] + losses.end()[-3]) / 3;
  EXPECT_LT(last, 0.6 * first) << first << " -> " << last;
  EXPECT_GE(evaluate(trainer.model(), *folder).accuracy, 0.9);
  const auto dir = testing::scratch_path("fine_tune_out");
  trainer.save(dir);
  EXPECT_EQ(load_pretrained(dir).label_names, (std::vector<std::string>{"blue", "green", "red"}));
  fs::remove_all(dir);

  const auto start = fresh();
  const auto before = start.module->clone_model()->named_parameters();
  Trainer frozen(start, folder, TrainOptions(options).epochs(1).freeze(true));
  while (!frozen.done()) frozen.train_step();
  for (const auto& p : frozen.model().module->named_parameters())
    EXPECT_EQ(p.value().equal(before[p.key()]), p.key().rfind("head.", 0) != 0) << p.key();

  Trainer plain(fresh(), folder, TrainOptions(options).epochs(1));
  Trainer autocast(fresh(), folder, TrainOptions(options).epochs(1).amp(true));
  const double a = plain.train_step().loss, b = autocast.train_step().loss;
  EXPECT_NE(a, b);
  EXPECT_NEAR(a, b, 0.02 * a);
  fs::remove_all(root);
}

// ---- data parallelism on c10d (ranks as threads of this process, on loopback) ---------------------

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Runs body(rank, group) on `world` threads, one rank each; rethrows the first error.
void on_ranks(int64_t world, const std::function<void(int64_t, std::shared_ptr<ProcessGroup>)>& body, double timeout = 60.) {
  const int port = free_port();
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  for (int64_t r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto group = std::make_shared<ProcessGroup>(
            DistributedOptions().rank(r).world_size(world).master_port(port).timeout(timeout).bucket_mb(0.004));
        body(r, group);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// DDP's buckets of the Python reference (reverse order, 4 KiB), and after the bucketed all-reduce
// every rank holds the plain sum of the ranks' gradients.
TEST(Distributed, BucketedAllReduceIsThePlainSum) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const auto g = testing::load_golden("training_buckets");
  const auto expected = json::parse(g.file.metadata.at("buckets")).get<std::vector<std::vector<size_t>>>();
  std::vector<std::map<std::string, torch::Tensor>> grads(2);
  on_ranks(2, [&](int64_t r, std::shared_ptr<ProcessGroup> group) {
    const auto model = small_model(g.config.dump(), g.with_prefix("param/"));
    model.module->train();
    auto params = model.module->parameters();
    GradientReducer reducer(group, params, 4096. / (1024. * 1024.));
    EXPECT_EQ(reducer.buckets(), expected);
    const auto x = ImageDataset(g.tensor("images")[r], g.tensor("labels")[r]).batch({0, 1, 2, 3}, model.pretrained_cfg, nullptr, 0);
    smoothed_cross_entropy(model.module->forward(x.images), x.labels, 0.1).backward();
    reducer.finish();
    for (const auto& p : model.module->named_parameters()) grads[static_cast<size_t>(r)][p.key()] = p.value().grad().clone();
  });
  for (const auto& [name, sum] : g.with_prefix("sum/")) {
    EXPECT_TRUE(testing::all_close(grads[0].at(name), sum, 1e-5)) << name;
    EXPECT_TRUE(grads[0].at(name).equal(grads[1].at(name))) << name;  // every rank the same sum
  }
}

// The same global batch split over 2 or 3 ranks (16 images: 8 + 8, 5 + 5 + 6) trains the weights
// one process trains, with augmentation on: each example's draws follow its place in the batch.
TEST(Distributed, RanksTrainTheWeightsOfOneProcess) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const auto g = testing::load_golden("training_steps");
  const auto options = TrainOptions().epochs(3).batch_size(16).lr(3e-3).warmup_epochs(1).crop_padding(2).flip(true);
  const ImageDataset data(torch::cat({g.tensor("images"), g.tensor("images").flip(3)}), torch::cat({g.tensor("labels"), g.tensor("labels")}));
  const auto run = [&](Trainer& trainer) {
    while (!trainer.done()) trainer.train_step();
    return trainer.model().module->named_parameters();
  };
  const int64_t D = g.config["embed_dim"];
  Trainer one(small_model(g.config.dump(), g.with_prefix("param/")), data, options);
  const auto expected = run(one);
  for (const int64_t world : {2, 3}) {
    SCOPED_TRACE(std::to_string(world) + " ranks");
    std::vector<torch::OrderedDict<std::string, torch::Tensor>> weights(static_cast<size_t>(world));
    on_ranks(world, [&](int64_t r, std::shared_ptr<ProcessGroup> group) {
      torch::manual_seed(100 + r);  // each rank starts elsewhere: distribute() gives them rank 0's weights
      auto model = small_model(g.config.dump(), r == 0 ? g.with_prefix("param/") : StateDict());
      Trainer trainer(model, data, options);
      trainer.distribute(group);
      weights[static_cast<size_t>(r)] = run(trainer);
    });
    for (const auto& p : expected) {
      // A qkv bias's key part has a zero gradient in exact arithmetic: Adam normalises rounding noise
      // there (TrainingReference), which the split changes. Compare it at the learning rate's scale.
      if (p.key().find("attn.qkv.bias") != std::string::npos) {
        EXPECT_TRUE(testing::all_close(weights[0][p.key()].narrow(0, D, D), p.value().narrow(0, D, D), 6 * 3e-3)) << p.key();
        const auto q_v = [&](const torch::Tensor& b) { return torch::cat({b.narrow(0, 0, D), b.narrow(0, 2 * D, D)}); };
        EXPECT_TRUE(testing::all_close(q_v(weights[0][p.key()]), q_v(p.value()), 1e-5)) << p.key();
      } else {
        EXPECT_TRUE(testing::all_close(weights[0][p.key()], p.value(), 1e-5)) << p.key();
      }
      for (int64_t r = 1; r < world; ++r) EXPECT_TRUE(weights[static_cast<size_t>(r)][p.key()].equal(weights[0][p.key()])) << p.key();
    }
  }

  // And against Python directly: the golden's two whole-batch steps (constant lr, no augmentation),
  // split over 2 ranks, give the reference's weights (TrainingReference's tolerances).
  const auto train = json::parse(g.file.metadata.at("train"));
  const auto reference = TrainOptions().epochs(2).batch_size(16).lr(train["lr"]).min_lr(train["lr"]).warmup_epochs(0)
                             .weight_decay(train["weight_decay"]).label_smoothing(train["smoothing"])
                             .clip_grad_norm(train["clip"]).crop_padding(0).flip(false);
  StateDict rank0;
  on_ranks(2, [&](int64_t r, std::shared_ptr<ProcessGroup> group) {
    Trainer trainer(small_model(g.config.dump(), g.with_prefix("param/")), ImageDataset(g.tensor("images"), g.tensor("labels")),
                    reference);
    trainer.distribute(group);
    const auto params = run(trainer);
    if (r != 0) return;
    for (const auto& p : params) rank0.emplace_back(p.key(), p.value());
  });
  ASSERT_EQ(rank0.size(), g.with_prefix("after/").size());
  for (const auto& [name, value] : rank0) {
    const auto& expected = g.tensor("after/" + name);
    if (name.find("attn.qkv.bias") == std::string::npos) {
      EXPECT_TRUE(testing::all_close(value, expected, 1e-4)) << name;
      continue;
    }
    // its key part: rounding noise normalised by Adam (above)
    EXPECT_TRUE(testing::all_close(value.narrow(0, D, D), expected.narrow(0, D, D), 2.5 * double(train["lr"]))) << name;
    const auto q_v = [&](const torch::Tensor& b) { return torch::cat({b.narrow(0, 0, D), b.narrow(0, 2 * D, D)}); };
    EXPECT_TRUE(testing::all_close(q_v(value), q_v(expected), 1e-4)) << name;
  }
}

// A rank that never arrives, or that leaves mid-run, ends the others with an error naming it.
TEST(Distributed, ALostRankIsNamed) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR(ProcessGroup(DistributedOptions().rank(0).world_size(3).master_port(port).timeout(1.)),
               "[ProcessGroup] rank 0: ranks 1 and 2 of 3 did not arrive at 127.0.0.1:" + std::to_string(port) + " within 1 s");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.);
  try {
    on_ranks(2, [&](int64_t r, std::shared_ptr<ProcessGroup> group) {
      auto t = torch::ones({4});
      group->all_reduce({t});
      EXPECT_TRUE(t.equal(torch::full({4}, 2.)));
      if (r == 1) return;  // leaves: its connections close
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      group->all_reduce({t});
    }, 5.);
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "[ProcessGroup] rank 0: an all-reduce failed: lost rank 1 of 2", e.what());
  }
  EXPECT_ERROR(ProcessGroup(DistributedOptions().rank(2).world_size(2)), "rank 2 is not below world_size 2");
}

}  // namespace
}  // namespace vit
