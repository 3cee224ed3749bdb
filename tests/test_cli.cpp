// Tests of the `vit` command-line tool (tools/vit/main.cpp): `vit run` on checkpoint directories
// written by Python reproduces the reference logits; errors are one line with exit status 1 or 2.
#include <vit/image.h>
#include <vit/distributed.h>
#include <vit/inference.h>
#include <vit/pretrained.h>
#include <vit/safetensors.h>
#include <vit/torch_save.h>

#include "golden.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace vit {
namespace {

struct Result {
  int status;
  std::string err, out;
};

std::string read_and_remove(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  return text;
}

// Runs `vit ARGS` with stderr and stdout captured; `env`: "NAME=value ..." set for it.
Result vit_cli(const std::string& args, const std::string& env = "") {
  const auto err_file = testing::scratch_path("cli.err"), out_file = testing::scratch_path("cli.out");
  const int raw =
      std::system((env + " " + std::string(VITCPP_VIT_BINARY) + " " + args + " >" + out_file + " 2>" + err_file).c_str());
  const auto err = read_and_remove(err_file);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, err, read_and_remove(out_file)};
}

std::string ckpt(const std::string& name) { return testing::golden_dir() + "/checkpoints/" + name; }

class VitRun : public ::testing::TestWithParam<std::string> {};

TEST_P(VitRun, WritesTheReferenceLogits) {
  const std::filesystem::path out = testing::scratch_path("run.safetensors");
  const auto dir = ckpt(GetParam());
  const auto expected = load_safetensors(dir + ".expected.safetensors").at("output");
  // the module's own forward at the reference tolerance; the default InferenceModel (oneDNN sums in
  // another order) at the 1e-4 of optimised float32
  for (const auto& [backend, tol] : {std::pair<std::string, double>{"plain", 1e-5}, {"auto", 1e-4}, {"torch", 1e-4}}) {
    const auto r = vit_cli("run --model " + dir + " --input " + dir + ".expected.safetensors --output " + out.string() +
                           " --backend " + backend);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(testing::all_close(load_safetensors(out.string()).at("logits"), expected, tol)) << backend;
  }

  // bfloat16: weights converted once. A sanity bound for these random two-block models (their random
  // norms amplify rounding more than trained weights do): within 5% of the largest fp32 logit.
  const auto bf16 = vit_cli("run --model " + dir + " --input " + dir + ".expected.safetensors --output " + out.string() +
                            " --dtype bfloat16 --threads 1");
  ASSERT_EQ(bf16.status, 0) << bf16.err;
  const auto low = load_safetensors(out.string()).at("logits");
  EXPECT_EQ(low.scalar_type(), torch::kFloat32);
  EXPECT_LT(((low - expected).abs().max() / expected.abs().max()).item<double>(), 5e-2);
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Golden, VitRun,
                         ::testing::Values("timm_safetensors", "deit_distilled_nested_pth", "timm_ordereddict_bin",
                                           "vit_pytorch_pth"));

// Runs `vit ARGS` and returns its stdout.
std::string vit_stdout(const std::string& args) {
  std::string out;
  FILE* pipe = ::popen((std::string(VITCPP_VIT_BINARY) + " " + args + " 2>/dev/null").c_str(), "r");
  if (!pipe) return out;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  ::pclose(pipe);
  return out;
}

TEST(VitCli, ClassifyRanksAsTimmDoesOnPil) {
  // Probabilities that the Python reference computes with PIL preprocessing and the reference model.
  const auto images = testing::golden_dir() + "/images/";
  const auto expected = load_safetensors(images + "classify_expected.safetensors");
  std::string files;
  for (const auto& kv : expected.tensors) files += " " + images + kv.first;
  const auto out = vit_stdout("classify --model " + ckpt("timm_safetensors") + " --topk 7 --batch 4" + files);
  std::istringstream lines(out);
  std::string line, current;
  int checked = 0;
  std::vector<std::pair<std::string, double>> ranking;
  auto check = [&] {
    if (current.empty()) return;
    const auto probs = expected.at(current.substr(images.size()));
    const auto order = probs.argsort(0, /*descending=*/true);
    ASSERT_EQ(ranking.size(), 7u) << current;
    for (size_t k = 0; k < ranking.size(); ++k) {
      const auto cls = order[static_cast<int64_t>(k)].item<int64_t>();
      EXPECT_EQ(ranking[k].first, "class " + std::to_string(cls)) << current << " rank " << k;
      EXPECT_NEAR(ranking[k].second, 100. * probs[cls].item<double>(), 0.006) << current << " rank " << k;
      ++checked;
    }
    ranking.clear();
  };
  while (std::getline(lines, line)) {
    if (line.rfind("  ", 0) == 0) {
      std::istringstream fields(line);
      double percent;
      std::string pct, label;
      fields >> percent >> pct;
      std::getline(fields, label);
      ranking.emplace_back(label.substr(label.find_first_not_of(' ')), percent);
    } else {
      check();
      current = line;
    }
  }
  check();
  EXPECT_EQ(checked, 7 * static_cast<int>(expected.tensors.size()));
}

TEST(VitCli, EmbedWritesPooledFeaturesWhoseHeadGivesPythonsProbabilities) {
  // The reference's probabilities for these images (PIL preprocessing, the Python model): the head
  // applied to `vit embed`'s pooled features must reproduce them, image by image in the given order.
  const auto images = testing::golden_dir() + "/images/";
  const auto expected = load_safetensors(images + "classify_expected.safetensors");
  std::string files;
  std::vector<std::string> names;
  for (const auto& kv : expected.tensors) {
    files += " " + images + kv.first;
    names.push_back(kv.first);
  }
  const auto out = testing::scratch_path("embed.safetensors");
  const auto r = vit_cli("embed --model " + ckpt("timm_safetensors") + " --batch 4 --layers 0,-1 --output " + out + files);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto written = load_safetensors(out);
  std::filesystem::remove(out);
  const auto model = load_pretrained(ckpt("timm_safetensors"));
  const auto& embeddings = written.at("embeddings");
  ASSERT_EQ(embeddings.size(0), static_cast<int64_t>(names.size()));
  EXPECT_EQ(embeddings.size(1), model.module->num_features());
  EXPECT_EQ(written.metadata.at("embedding"), "pre_logits");  // a classifier's head is not a projection
  const auto head = model.module->named_parameters();
  const auto probs = torch::linear(embeddings, head["head.weight"], head["head.bias"]).softmax(-1);
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_TRUE(testing::all_close(probs[static_cast<int64_t>(i)], expected.at(names[i]), 1e-5)) << names[i];
  // block outputs as feature maps (N, D, gh, gw)
  const auto grid = model.module->feat_size(model.pretrained_cfg.input_size()[1], model.pretrained_cfg.input_size()[2]);
  for (const char* key : {"layers.0", "layers.-1"})
    EXPECT_EQ(written.at(key).sizes(), (std::vector<int64_t>{embeddings.size(0), embeddings.size(1), grid[0], grid[1]}));
  EXPECT_EQ(vit_cli("embed --model " + ckpt("timm_safetensors") + " --layers 9 " + images + "gray.png").err,
            "vit embed: error: [forward_intermediates] block index 9 out of range for 2 blocks\n");
}

// --layers in any order, negative, repeated: each name holds the map of the block it names
// (forward_intermediates' by block index), a repeated value written once.
TEST(VitCli, EmbedWritesEachRequestedLayerUnderItsOwnName) {
  const auto image = testing::golden_dir() + "/images/gray.png";
  const auto out = testing::scratch_path("embed_layers.safetensors");
  const auto r = vit_cli("embed --model " + ckpt("timm_safetensors") + " --layers 1,0,-1,1,-2 --output " + out + " " + image);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto written = load_safetensors(out);
  std::filesystem::remove(out);
  const auto model = load_pretrained(ckpt("timm_safetensors"));
  ASSERT_EQ(model.module->num_blocks(), 2);
  model.module->eval();
  torch::NoGradGuard no_grad;
  const auto x = preprocess(read_image(image), model.pretrained_cfg).unsqueeze(0);
  const auto blocks = model.module->forward_intermediates(x, {0, 1}, IntermediatesOptions().norm(true)).intermediates;
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(written.tensors.size(), 5u);  // embeddings, layers.1, layers.0, layers.-1, layers.-2
  for (const auto& [name, block] : std::vector<std::pair<std::string, size_t>>{
           {"layers.1", 1}, {"layers.0", 0}, {"layers.-1", 1}, {"layers.-2", 0}})
    EXPECT_TRUE(testing::all_close(written.at(name), blocks[block], 1e-5)) << name;
}

TEST(VitCli, RunFeaturesAreThePreLogitsOfTheLogits) {
  const auto dir = ckpt("timm_safetensors");
  const auto out = testing::scratch_path("features.safetensors");
  const auto r = vit_cli("run --features --model " + dir + " --input " + dir + ".expected.safetensors --output " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto features = load_safetensors(out).at("features");
  std::filesystem::remove(out);
  const auto head = load_pretrained(dir).module->named_parameters();
  EXPECT_TRUE(testing::all_close(torch::linear(features, head["head.weight"], head["head.bias"]),
                                 load_safetensors(dir + ".expected.safetensors").at("output"), 1e-5));
}

TEST(VitCli, AttentionWritesTheModelInputWithAHeatMap) {
  const auto out = testing::scratch_path("attention.png");
  for (const char* method : {"cls", "rollout"}) {
    const auto r = vit_cli(std::string("attention --method ") + method + " --model " + ckpt("timm_safetensors") + " " +
                           testing::golden_dir() + "/images/rgb_wide.png --output " + out);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto image = read_image(out);  // the model's 32x32 input
    EXPECT_EQ(image.width, 32);
    EXPECT_EQ(image.height, 32);
    std::filesystem::remove(out);
  }
  EXPECT_EQ(vit_cli("attention --model " + ckpt("timm_safetensors") + " /nonexistent.png").status, 1);
}

TEST(VitCli, InfoDescribesZooModelsAndCheckpoints) {
  const auto zoo = vit_stdout("info --model vit_base_patch16_224");
  EXPECT_NE(zoo.find("86.57 M"), std::string::npos) << zoo;  // timm: 86.57 M parameters
  EXPECT_NE(zoo.find("17.56 GMACs per image at 3x224x224"), std::string::npos) << zoo;
  EXPECT_NE(zoo.find("engine       InferenceModel runs the blocks"), std::string::npos) << zoo;
  const auto rms = vit_stdout("info --model test_vit4");  // timm's tiny RmsNorm test model
  EXPECT_NE(rms.find("the module runs the blocks (norm_layer 'rmsnorm' has no fast path)"), std::string::npos) << rms;
  const auto ckpt_info = vit_stdout("info --model " + ckpt("deit_distilled_nested_pth"));
  EXPECT_NE(ckpt_info.find("deit_small_distilled_patch16_224"), std::string::npos) << ckpt_info;
  EXPECT_NE(ckpt_info.find("torch.save, Float"), std::string::npos) << ckpt_info;
}

TEST(VitCli, BenchPrintsOneJsonObject) {
  const auto out = vit_stdout("bench --model " + ckpt("timm_safetensors") + " --batch 2 --iters 2 --threads 1 --json");
  const auto j = testing::json::parse(out);
  for (const char* key : {"median_ms", "images_per_s", "batch", "dtype", "threads", "device", "gflops", "peak_rss_mb",
                          "backend", "gemm_peak_gflops", "efficiency"})
    EXPECT_TRUE(j.contains(key)) << key << " missing from " << out;
  EXPECT_EQ(j["backend"], onednn_available() ? "onednn" : "torch");
  EXPECT_NEAR(j["efficiency"].get<double>(), j["gflops"].get<double>() / j["gemm_peak_gflops"].get<double>(), 1e-3);
  EXPECT_EQ(j["batch"], 2);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_GT(j["images_per_s"].get<double>(), 0.);
  if (!onednn_available()) return;
  // int8 with --accuracy: its backend, the s8 GEMM peak, and the agreement with the float32 module
  const auto q = testing::json::parse(
      vit_stdout("bench --model " + ckpt("timm_safetensors") + " --dtype int8 --iters 1 --threads 1 --accuracy 6 --json"));
  EXPECT_EQ(q["backend"], "onednn int8");
  EXPECT_EQ(q["accuracy_inputs"], 6);
  EXPECT_GE(q["top1_agreement"].get<double>(), 5. / 6.);
  EXPECT_GT(q["logit_max_error"].get<double>(), 0.);  // int8 is not float32 ...
  EXPECT_LT(q["logit_max_error"].get<double>(), 0.1);  // ... but close
}

TEST(VitCli, ConvertBetweenFormatsAndToTheHubLayout) {
  const std::filesystem::path tmp = testing::scratch_path("convert");
  std::filesystem::create_directories(tmp);
  const auto src = ckpt("deit_distilled_nested_pth");
  // nested .pth -> safetensors -> .pt: the tensors survive both ways
  ASSERT_EQ(vit_cli("convert " + src + "/checkpoint.pth " + (tmp / "w.safetensors").string()).status, 0);
  ASSERT_EQ(vit_cli("convert " + (tmp / "w.safetensors").string() + " " + (tmp / "w.pt").string()).status, 0);
  const auto a = load_safetensors((tmp / "w.safetensors").string());
  const auto b = load_torch_save((tmp / "w.pt").string());
  ASSERT_EQ(a.tensors.size(), b.size());
  for (size_t i = 0; i < b.size(); ++i) EXPECT_TRUE(torch::equal(a.tensors[i].second, b[i].second)) << b[i].first;
  // checkpoint directory -> hub layout: still the Python logits
  ASSERT_EQ(vit_cli("convert " + src + " " + (tmp / "hub").string()).status, 0);
  const auto out = (tmp / "logits.safetensors").string();
  ASSERT_EQ(vit_cli("run --model " + (tmp / "hub").string() + " --input " + src + ".expected.safetensors --output " + out).status, 0);
  EXPECT_TRUE(testing::all_close(load_safetensors(out).at("logits"), load_safetensors(src + ".expected.safetensors").at("output"), 1e-4));
  EXPECT_EQ(vit_cli("convert " + src + "/checkpoint.pth " + (tmp / "w.txt").string()).status, 2);
  std::filesystem::remove_all(tmp);
}

TEST(VitCli, TrainResumesToTheSameModelWhoseCheckpointClassifies) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const std::filesystem::path tmp = testing::scratch_path("train_cli");
  const std::string whole = (tmp / "whole").string(), split = (tmp / "split").string(), student = (tmp / "student").string();
  const std::string pair = (tmp / "pair").string();
  const std::string common = " --limit 256 --batch-size 64 --epochs 2 --dim 32 --depth 1 --heads 2";
  // One process on 2 threads; 2 processes (c10d on loopback) of 1 thread each; 2 processes stopped
  // mid-epoch and resumed as 1: the same weights. Average pooling and augmentation.
  const std::string settings = " --pool avg --crop-padding 1 --flip 1";
  ASSERT_EQ(vit_cli("train --out " + whole + common + settings + " --threads 2").status, 0);
  if (distributed_available()) {
    const auto two = vit_cli("train --out " + pair + common + settings + " --nproc 2");
    ASSERT_EQ(two.status, 0) << two.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "2 processes x 1 thread", two.err);
    const auto stopped = vit_cli("train --out " + split + common + settings + " --nproc 2 --max-steps 3");
    ASSERT_EQ(stopped.status, 0) << stopped.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "stopped at step 3 (--max-steps)", stopped.err);
    const auto resumed = vit_cli("train --resume " + split + " --limit 256 --threads 1");
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "resumed at step 3", resumed.err);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "1 process x 1 thread", resumed.err);
    const auto a = load_safetensors(whole + "/model.safetensors");
    for (const auto& dir : {pair, split}) {
      const auto b = load_safetensors(dir + "/model.safetensors");
      ASSERT_EQ(a.tensors.size(), b.tensors.size());
      for (const auto& [name, tensor] : a.tensors) EXPECT_TRUE(testing::all_close(b.at(name), tensor, 1e-5)) << dir << " " << name;
    }
  } else {
    ASSERT_EQ(vit_cli("train --out " + split + common + settings + " --max-steps 3").status, 0);
    const auto no_c10d = vit_cli("train --out " + pair + common + " --nproc 2");
    EXPECT_EQ(no_c10d.status, 1);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "needs a vitcpp built with c10d", no_c10d.err);
  }

  // vit evaluate: the test accuracy train reported for the model it saved last, and the same in int8
  const auto trained = vit_cli("train --out " + whole + "_eval --limit 256 --batch-size 64 --epochs 1 --dim 32 --depth 1 --heads 2 --threads 2");
  ASSERT_EQ(trained.status, 0) << trained.err;
  const auto accuracy = [](const std::string& text, const std::string& before) {
    const auto at = text.find(before);
    return at == std::string::npos ? std::string("(none)") : text.substr(at + before.size(), text.find('%', at) - at - before.size());
  };
  const auto evaluated = vit_cli("evaluate --model " + whole + "_eval --threads 2");
  ASSERT_EQ(evaluated.status, 0) << evaluated.err;
  EXPECT_EQ(accuracy(evaluated.out, "accuracy "), accuracy(trained.out, "test accuracy ")) << evaluated.out << trained.out;
  if (onednn_available()) {
    const auto int8 = vit_cli("evaluate --model " + whole + "_eval --dtype int8 --threads 2");
    ASSERT_EQ(int8.status, 0) << int8.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "int8  backend onednn int8", int8.out);
  }

  const auto labels = vit_cli("classify --topk 10 --model " + whole + " " + testing::golden_dir() + "/images/gray.png");
  EXPECT_EQ(labels.status, 0) << labels.err;
  for (const char* label : {"T-shirt/top", "Ankle boot", "Bag"}) EXPECT_NE(labels.out.find(label), std::string::npos) << labels.out;

  // DeiT distillation from the checkpoint just trained: the final line reports both heads.
  const auto distilled = vit_cli("train --out " + student + " --teacher " + whole + " --distillation soft --threads 1" + common);
  EXPECT_EQ(distilled.status, 0) << distilled.err;
  EXPECT_NE(distilled.out.find("(class head "), std::string::npos) << distilled.out;
  EXPECT_NE(distilled.out.find("distillation head "), std::string::npos) << distilled.out;

  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"train --resume " + split + " --lr 1", "--lr cannot change on --resume"},
           {"train --resume " + split + " --pool token", "--pool cannot change on --resume"},
           {"train --out " + student + " --pool max", "--pool must be one of 'auto', 'avg', 'token', got \"max\""},
           {"train --out " + student + " --pool avg --teacher " + whole, "pool avg cannot go with distillation"},
           {"train --out " + student + " --flip 2", "--flip must be true or false, got \"2\""},
           {"train --out " + student + " --crop-padding -1", "--crop-padding must be in [0, 1024], got -1"},
           {"train --out " + student + " --family keras", "--family must be one of 'timm', 'vit_pytorch', got \"keras\""},
           {"train --out " + student + " --distillation soft", "--distillation needs --teacher"},
           {"train --out " + student + " --teacher " + whole + " --family vit_pytorch", "distillation needs family timm"},
           {"train --out " + student + " --lr -1", "--lr must be in [1e-09, 10], got -1"},
           {"train --out " + student + " --resume " + split, "--out excludes --resume"},
           {"train --limit 4", "--out or --resume is required"}}) {
    const auto r = vit_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, message, r.err) << args;
  }
  const auto no_data = vit_cli("train --out " + student + " --data /nonexistent");
  EXPECT_EQ(no_data.status, 1);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "[ImageFolder] '/nonexistent': not a directory", no_data.err);
  std::filesystem::remove_all(tmp);
}

// vit train --model NAME|DIR --data FOLDER: fine-tuning on an image folder (train/ + val/) from a zoo
// architecture, then from the checkpoint it saved (linear probing), which classifies with the
// folder's class names.
TEST(VitCli, FineTunesOnAnImageFolderAndClassifiesWithItsClassNames) {
  const std::filesystem::path tmp = testing::scratch_path("fine_tune_cli");
  std::filesystem::remove_all(tmp);
  for (const char* split : {"train", "val"}) {
    for (int c = 0; c < 2; ++c) {
      const auto dir = tmp / "data" / split / (c == 0 ? "cat" : "dog");
      std::filesystem::create_directories(dir);
      for (int i = 0; i < 6; ++i) {
        Image image;
        image.width = 20;
        image.height = 18 + i;
        image.rgb.assign(static_cast<size_t>(image.width * image.height * 3), static_cast<uint8_t>(40 + 30 * i));
        for (size_t p = static_cast<size_t>(c); p < image.rgb.size(); p += 3) image.rgb[p] = 250;
        write_png((dir / (std::to_string(i) + ".png")).string(), image);
      }
    }
  }
  const std::string data = (tmp / "data").string(), first = (tmp / "first").string(), probe = (tmp / "probe").string();
  const std::string args = R"('{"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2}')";
  const auto trained = vit_cli("train --model vit_tiny_patch16_224 --model-args " + args + " --data " + data + " --out " + first +
                               " --epochs 2 --batch-size 4 --threads 2 --layer-decay 0.75 --amp 1 --loader-threads 2");
  ASSERT_EQ(trained.status, 0) << trained.err;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "test accuracy", trained.out);
  const auto probed = vit_cli("train --model " + first + " --data " + data + " --out " + probe + " --epochs 1 --batch-size 4 --freeze 1");
  ASSERT_EQ(probed.status, 0) << probed.err;
  const auto a = load_safetensors(first + "/model.safetensors"), b = load_safetensors(probe + "/model.safetensors");
  EXPECT_TRUE(b.at("blocks.0.mlp.fc1.weight").equal(a.at("blocks.0.mlp.fc1.weight")));
  EXPECT_FALSE(b.at("head.weight").equal(a.at("head.weight")));
  const auto classified = vit_cli("classify --topk 2 --model " + probe + " " + data + "/val/dog/0.png");
  ASSERT_EQ(classified.status, 0) << classified.err;
  for (const char* label : {"cat", "dog"}) EXPECT_NE(classified.out.find(label), std::string::npos) << classified.out;
  const auto evaluated = vit_cli("evaluate --model " + probe + " --data " + data);
  ASSERT_EQ(evaluated.status, 0) << evaluated.err;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "(12 test images)", evaluated.out);
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--model-args '{}'", "--model-args needs --model"},
           {"--model " + first + " --dim 8", "--dim shapes the built-in recipe; not with --model or --resume"},
           {"--limit 3", "--limit takes the first Fashion-MNIST images; not with an image folder"},
           {"--model " + first + " --model-args 7", "--model-args must be a JSON object, got '7'"}}) {
    const auto r = vit_cli("train --data " + data + " --out " + probe + " " + flags);
    EXPECT_EQ(r.status, 2) << flags << "\n" << r.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, message, r.err) << flags;
  }
  std::filesystem::create_directories(tmp / "data" / "train" / "empty");
  const auto empty = vit_cli("train --model " + first + " --data " + data + " --out " + probe);
  EXPECT_EQ(empty.status, 1);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "class folder 'empty' has no images", empty.err);
  std::filesystem::remove_all(tmp);
}

// Two classes of two 16x16 images under `dir`: enough for `vit train` to get going.
std::string tiny_image_folder(const std::filesystem::path& dir) {
  for (const char* cls : {"a", "b"}) {
    std::filesystem::create_directories(dir / cls);
    for (int i = 0; i < 2; ++i)
      write_png((dir / cls / (std::to_string(i) + ".png")).string(),
                Image{16, 16, std::vector<uint8_t>(16 * 16 * 3, static_cast<uint8_t>(40 + 60 * i))});
  }
  return dir.string();
}

const std::string kTinyModel = " --model vit_tiny_patch16_224 --batch-size 2 --epochs 1 --threads 1";
const std::string kTinyArgs = R"( --model-args '{"img_size": 16, "patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2}')";

// Something other than rank 0's TCPStore at MASTER_ADDR:MASTER_PORT, answering with garbage: rank 1
// ends with one line naming it, not with "terminate called ..." and an abort (LibTorch's store
// client reads on a thread of its own, where an exception cannot be caught).
TEST(VitCli, AGarbageAnswerAtMasterPortIsOneLineNotAnAbort) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const std::filesystem::path tmp = testing::scratch_path("garbage_store");
  const auto data = tiny_image_folder(tmp / "data");
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::atomic<bool> finished{false};
  std::thread server([&] {  // every connection gets garbage (a huge length first); 60 s at most
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::vector<int> clients;
    while (!finished && std::chrono::steady_clock::now() < deadline) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int client = ::accept(listener, nullptr, nullptr);
      if (client < 0) continue;
      const unsigned char garbage[] = {0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'g', 'a', 'r', 'b', 'a', 'g', 'e'};
      (void)::send(client, garbage, sizeof(garbage), MSG_NOSIGNAL);
      clients.push_back(client);
    }
    for (const int c : clients) ::close(c);
  });
  const auto r = vit_cli("train --data " + data + " --out " + (tmp / "out").string() + kTinyModel + kTinyArgs + " --timeout 10",
                         "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(ntohs(address.sin_port)));
  finished = true;
  server.join();
  ::close(listener);
  std::filesystem::remove_all(tmp);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "[ProcessGroup] rank 1: the service at 127.0.0.1:", r.err);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "is not a rendezvous store (it sent '\\x07\\xff", r.err);
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

// What a user typed is echoed cut short: a 100 KB --model-args or command name is not a 100 KB line.
TEST(VitCli, LongValuesAreCutShortInMessages) {
  const std::filesystem::path tmp = testing::scratch_path("long_values");
  const auto data = tiny_image_folder(tmp / "data");
  const std::string huge(100000, 'x');
  const auto args = vit_cli("train --data " + data + " --out " + (tmp / "out").string() + kTinyModel + " --model-args " + huge);
  std::filesystem::remove_all(tmp);
  EXPECT_EQ(args.status, 2) << args.err.substr(0, 2000);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "--model-args must be a JSON object, got 'xxxxx", args.err);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "... (100000 bytes)'", args.err);
  EXPECT_LT(args.err.size(), 1200u);
  const auto command = vit_cli(huge);
  EXPECT_EQ(command.status, 2);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "vit: unknown command 'xxxxx", command.err);
  EXPECT_LT(command.err.size(), 1200u);
  const auto threads = vit_cli("run --model " + ckpt("timm_safetensors") + " --input x --output y --threads " + std::string(50000, '9'));
  EXPECT_EQ(threads.status, 2);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "--threads must be in [1, 4096], got 99999", threads.err);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "... (50000 bytes)", threads.err);
  EXPECT_LT(threads.err.size(), 1200u);
}

// Ranks started as torchrun starts them (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT): when rank 1
// is killed mid-run, rank 0 ends with status 1 and an error naming rank 1, within the timeout; a
// rank whose peer never arrives ends the same way.
TEST(VitCli, ALostRankEndsTheRunWithAnErrorNamingIt) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const std::filesystem::path tmp = testing::scratch_path("lost_rank");
  std::filesystem::create_directories(tmp);
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const auto start = [&](int rank, int world, const std::string& timeout) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port + world).c_str(), 1);
      const std::string err = (tmp / ("err" + std::to_string(world) + std::to_string(rank))).string();
      const std::string out = (tmp / ("out" + std::to_string(rank))).string();
      if (!std::freopen(err.c_str(), "w", stderr) || !std::freopen(out.c_str(), "w", stdout)) std::_Exit(126);
      ::execl(VITCPP_VIT_BINARY, VITCPP_VIT_BINARY, "train", "--out", (tmp / "run").c_str(), "--limit", "256", "--batch-size", "32",
              "--epochs", "500", "--dim", "16", "--depth", "1", "--heads", "2", "--threads", "1", "--timeout", timeout.c_str(),
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    return pid;
  };
  const auto wait_for = [](pid_t pid, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;  // hung
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  const auto read = [](const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const pid_t rank0 = start(0, 2, "20"), rank1 = start(1, 2, "20");
  // wait until the run is under way: rank 0 has finished an epoch
  for (int i = 0; i < 1200 && read(tmp / "err20").find("epoch 1/500:") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(read(tmp / "err20").find("epoch 1/500:"), std::string::npos) << read(tmp / "err20") << read(tmp / "err21");
  ::kill(rank1, SIGKILL);
  ::waitpid(rank1, nullptr, 0);
  const auto killed = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_for(rank0, 40.), 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count(), 25.);
  const auto err = read(tmp / "err20");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "lost rank 1 of 2", err);
  EXPECT_EQ(err.find("Exception raised from"), std::string::npos) << err;

  const pid_t alone = start(0, 3, "2");
  EXPECT_EQ(wait_for(alone, 30.), 1);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "ranks 1 and 2 of 3 did not arrive", read(tmp / "err30"));
  std::filesystem::remove_all(tmp);
}

TEST(VitCli, ErrorsAreOneLineWithStatus1OrUsage2) {
  const auto dir = ckpt("timm_safetensors");
  const auto input = dir + ".expected.safetensors";
  struct Case {
    std::string args;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", 2, "vit: missing command"},
      {"frobnicate", 2, "vit: unknown command 'frobnicate'"},
      {"run --model " + dir, 2, "vit run: --input is required"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --bogus 1", 2, "The following arguments were not expected: 1 --bogus"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --dtype int4", 2, "--dtype must be one of 'float32', 'bfloat16', 'float16', 'int8', got \"int4\""},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --dtype int8 --backend torch", 1, "--dtype int8 runs on the oneDNN engine (--backend auto or onednn), not --backend torch"},
      {"evaluate --model " + dir + " --data /nonexistent", 1, "/nonexistent"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --threads 0", 2, "--threads must be in [1, 4096], got 0"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --device gpu", 2, "--device must be a device ('cpu', 'cuda' or 'cuda:N'), got \"gpu\""},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --dtype float16", 1, "--dtype float16 needs --device cuda"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --backend tvm", 2, "--backend must be one of 'auto', 'onednn', 'torch', 'plain', got \"tvm\""},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --max-parameters 100", 1, "more than the limit of 100"},
      {"run --model /nonexistent --input " + input + " --output /tmp/x", 1, "no such file or directory"},
      {"run --model " + dir + " --input " + dir + "/config.json --output /tmp/x", 1, "[load_safetensors]"},
      {"run --model " + dir + " --input " + testing::golden_dir() + "/timm_vit_rect_gray.safetensors --output /tmp/x", 1,
       "[PatchEmbed] expected images (B, 3, H, W), got [3, 1, 32, 48]"},
      {"run --model " + ckpt("timm_resampled_plain_dict") + " --input " + input + " --output /tmp/x", 1,
       "[PatchEmbed] input image size (32*32) doesn't match model (48*48)"},
      {"classify --model " + dir, 2, "vit classify: IMAGE is required"},
      {"bench --model vit_nano_patch3_7", 1, "[create_model] unknown architecture 'vit_nano_patch3_7'"},
      {"classify --model " + dir + " /nonexistent.png", 1, "[read_image] '/nonexistent.png': cannot open"},
      {"classify --model " + dir + " " + dir + "/config.json", 1, "not a PNG, JPEG, BMP, GIF or PPM image"},
      {"classify --model " + dir + " " + dir, 1, "[read_image] '" + dir + "': is a directory, not an image file"},
      {"run --model " + dir + " --input " + dir + " --output /tmp/x", 1, "': is a directory, not a regular file"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --max-parameters 9223372036854775807", 2,
       "--max-parameters must be in [1, 1000000000000000], got 9223372036854775807"},
      {"run --model " + dir + " --input " + input + " --output /tmp/x --max-parameters 18446744073709551615", 2,
       "--max-parameters must be in [1, 1000000000000000], got 18446744073709551615"},
  };
  for (const auto& c : cases) {
    const auto r = vit_cli(c.args);
    EXPECT_EQ(r.status, c.status) << c.args << "\n" << r.err;
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, c.message, r.err) << c.args;
    if (c.status == 1) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
      EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << r.err;
    }
  }
  for (const char* help : {"--help", "run --help", "classify --help", "info --help", "bench --help", "convert --help", "train --help",
                           "evaluate --help"}) {
    const auto r = vit_cli(help);
    EXPECT_EQ(r.status, 0) << help;
    EXPECT_NE(r.out.find("Usage: vit"), std::string::npos) << help << "\n" << r.out;
  }
  // the train flags and their defaults are the library's option tables
  const auto train_help = vit_cli("train --help").out;
  for (const char* flag : {"--batch-size VALUE", "images per optimiser step (default 64)", "--pool auto|avg|token", "--flip 0|1",
                           "--max-steps VALUE", "--threads VALUE"})
    EXPECT_NE(train_help.find(flag), std::string::npos) << flag << "\n" << train_help;
}

}  // namespace
}  // namespace vit
