// vit train: the Fashion-MNIST recipe (vit::fashion_mnist_model) trained by vit::fit, with a
// progress bar; every training and model flag comes from the library's option tables, so the
// defaults are the library's.
#include "common.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

namespace vit::cli {

namespace {

std::string clock_time(double seconds) {
  if (!std::isfinite(seconds)) return "--:--";  // no rate yet (the cast of inf or nan is undefined)
  const auto s = static_cast<int64_t>(std::clamp(seconds, 0., 1e9));
  std::ostringstream out;
  out << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return out.str();
}

std::string heads(const EvalStats& e) {
  if (e.cls_accuracy < 0.) return "";
  return " (class head " + fixed(100. * e.cls_accuracy, 2) + "%, distillation head " + fixed(100. * e.dist_accuracy, 2) + "%)";
}

// --model: a checkpoint directory (fine-tuned: another num_classes gives a new classifier, another
// img_size a resampled position embedding) or a zoo architecture with random weights, drawn after
// manual_seed(seed); num_classes defaults to the data's.
Pretrained start_from(const std::string& model, const std::string& model_args, int64_t classes, uint64_t seed) {
  auto args = nlohmann::json::parse(model_args, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object()) throw UsageError("--model-args must be a JSON object, got '" + excerpt(model_args) + "'");
  if (!args.contains("num_classes")) args["num_classes"] = classes;
  torch::manual_seed(seed);
  if (std::filesystem::is_directory(model)) return load_pretrained(model, LoadOptions().model_args(args.dump()));
  return make_pretrained(create_model(model, args.dump()), model);
}

// `vit train --nproc N`: this command line again in N processes, each with torchrun's variables
// (rank i of N, MASTER_ADDR 127.0.0.1 and a free port) and an N-th of the cores unless --threads says
// otherwise. Returns 0 when all succeed; when one fails, the others are stopped and 1 returned.
int launch(int64_t n, bool threads_given) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  std::vector<std::string> child{"/proc/self/exe"};
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") ++i;  // and its value
    else if (args[i].rfind("--nproc=", 0) != 0) child.push_back(args[i]);
  }
  if (!threads_given) {
    const auto cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
    child.push_back("--threads=" + std::to_string(std::max<int64_t>(1, cores / n)));
  }
  // a free port: bind to port 0, read what the kernel gave, release it for rank 0's store
  int port = 29500;
  if (const int fd = ::socket(AF_INET, SOCK_STREAM, 0); fd >= 0) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
      port = ntohs(address.sin_port);
    ::close(fd);
  }
  std::vector<pid_t> pids;
  for (int64_t rank = 0; rank < n; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << "vit train: error: cannot start process " << rank << " (" << std::strerror(errno) << ")\n";
      for (const auto p : pids) ::kill(p, SIGTERM);
      return 1;
    }
    if (pid == 0) {
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : child) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  int result = 0;
  for (size_t done = 0; done < pids.size(); ++done) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) break;
    const auto rank = std::find(pids.begin(), pids.end(), pid) - pids.begin();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (result == 0) {
      std::cerr << "vit train: error: rank " << rank << " of " << n
                << (WIFSIGNALED(status) ? " was killed by signal " + std::to_string(WTERMSIG(status))
                                        : " exited with status " + std::to_string(WEXITSTATUS(status)))
                << "; stopping the others\n";
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] != pid) ::kill(pids[r], SIGTERM);
    }
    result = 1;
  }
  return result;
}

}  // namespace

#define VIT_CLI_TRAIN_FLAGS(X)                                                                                  \
  X(std::string, data, kFashionMnistDir, Any(),                                                                   \
    "Fashion-MNIST's directory (its four .gz files), or a folder of images: DATA/<class>/<image>, or DATA/train/<class>/... with an optional DATA/val") \
  X(std::string, model, "", Any(),                                                                                \
    "start from this checkpoint directory or zoo architecture (random weights) instead of the built-in Fashion-MNIST recipe") \
  X(std::string, model_args, "{}", Any(),                                                                         \
    "with --model: a JSON object of keyword arguments over the model's (e.g. {\"img_size\": 28}); num_classes defaults to the data's classes, and another one gives a new classifier") \
  X(int64_t, loader_threads, 0, Range(0, 4096), "threads decoding an image folder's files; 0: one per core")       \
  X(std::optional<int64_t>, limit, std::nullopt, Range(1, 1 << 30), "train on the first N Fashion-MNIST images only (tests and quick looks)") \
  X(std::optional<int64_t>, max_steps, std::nullopt, Range(1, 1e15), "stop (and save) after N steps in all; --resume continues the run") \
  X(std::optional<int64_t>, nproc, std::nullopt, Range(1, 1024),                                                 \
    "start N local processes, each a rank of a data-parallel run (torchrun --nproc_per_node); a process started with torchrun's variables (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT, LOCAL_RANK) joins their run") \
  X(std::optional<int64_t>, threads, std::nullopt, Range(1, 4096), "CPU threads; unset: every core")

struct TrainFlags {
  VIT_OPTIONS(TrainFlags, VIT_CLI_TRAIN_FLAGS)
};

void add_train(CLI::App& app) {
  struct Flags {
    TrainOptions options;
    FashionMnistModel recipe;
    TrainFlags run;
    DistributedOptions distributed;
    std::map<std::string, CLI::Option*> option_flags, recipe_flags, run_flags, distributed_flags;
    std::string out, resume;
  };
  auto f = std::make_shared<Flags>();
  auto* train = app.add_subcommand("train", "train or fine-tune a ViT (or a distilled DeiT) on Fashion-MNIST or a folder of images");
  train->footer("Trains a ViT with AdamW, linear warm-up + cosine learning rate, label smoothing, DropPath, augmentation and "
                "gradient clipping, from a fixed seed: the built-in Fashion-MNIST recipe (Debian's dataset-fashion-mnist), or with "
                "--model a checkpoint or zoo architecture, fine-tuned on Fashion-MNIST or on an image folder (--data; timm's "
                "RandomResizedCrop + flip; --layer-decay, --freeze for linear probing, --amp for bfloat16 autocast); with "
                "--teacher, a distilled DeiT student. Each epoch shows a progress bar, evaluates the test images (an image "
                "folder's val/) and saves DIR (config.json + model.safetensors with the class names for vit classify / vit run, "
                "optimizer.safetensors and trainer.json for --resume).");
  auto* out = train->add_option("--out", f->out, "directory to save the model in after each epoch");
  auto* resume = train->add_option("--resume", f->resume, "continue the run saved in this directory");
  out->excludes(resume);
  f->run_flags = add_fields(*train, f->run.fields());
  f->distributed_flags = add_fields(*train, f->distributed.fields(), {"timeout", "bucket_mb"});
  f->recipe_flags = add_fields(*train, f->recipe.fields());
  f->option_flags = add_fields(*train, f->options.fields());

  train->callback([f] {
    // Every step frees and re-allocates the same activation buffers: keep them in the heap instead of
    // returning them to the kernel (glibc's default), which cost ~20% of the time in page faults.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (f->run.nproc() && !std::getenv("WORLD_SIZE")) {
      std::exit(launch(*f->run.nproc(), f->run.threads().has_value()));
    }
    const auto distributed = distributed_from_environment(f->distributed);
    if (distributed && !distributed_available())
      throw UsageError("data parallelism (WORLD_SIZE, --nproc) needs a vitcpp built with c10d (install libgloo-dev and rebuild)");
    const bool leader = !distributed || distributed->rank() == 0;
    set_threads(f->run.threads());
    const bool resuming = !f->resume.empty();
    if (!resuming && f->out.empty()) throw UsageError("--out or --resume is required");
    auto given = [](const std::map<std::string, CLI::Option*>& flags, const std::string& name) {
      return flags.at(name)->count() > 0;
    };
    if (resuming) {
      for (const auto* flags : {&f->recipe_flags, &f->option_flags})
        for (const auto& [name, option] : *flags)
          if (option->count() > 0 && name != "device")
            throw UsageError(option->get_name() + " cannot change on --resume");
    } else if (given(f->option_flags, "distillation") && f->options.distillation() != "none" && f->options.teacher().empty()) {
      throw UsageError("--distillation needs --teacher");
    }
    const auto& run = f->run;
    if (!run.model().empty() || resuming)
      for (const auto& [name, option] : f->recipe_flags)
        if (option->count() > 0) throw UsageError(option->get_name() + " shapes the built-in recipe; not with --model or --resume");
    if (run.model().empty() && given(f->run_flags, "model_args")) throw UsageError("--model-args needs --model");
    std::shared_ptr<const Dataset> train_data;
    std::shared_ptr<const Dataset> test_data = std::make_shared<ImageDataset>();
    std::vector<std::string> classes;
    if (std::filesystem::exists(std::filesystem::path(run.data()) / "train-images-idx3-ubyte.gz")) {
      auto data = load_fashion_mnist(run.data(), /*train=*/true);
      if (run.limit()) {
        const auto n = std::min(*run.limit(), data.size());
        data = {data.images.narrow(0, 0, n), data.labels.narrow(0, 0, n)};
      }
      train_data = std::make_shared<ImageDataset>(std::move(data));
      test_data = std::make_shared<ImageDataset>(load_fashion_mnist(run.data(), /*train=*/false));
      classes = fashion_mnist_classes();
    } else {
      if (run.limit()) throw UsageError("--limit takes the first Fashion-MNIST images; not with an image folder");
      auto split = open_image_folder(run.data(), run.loader_threads());
      train_data = split.train;
      if (split.val) test_data = split.val;
      classes = split.train->classes();
    }
    std::optional<Trainer> trainer;
    const std::string dir = resuming ? f->resume : f->out;
    if (resuming) {
      std::optional<torch::Device> device;
      if (given(f->option_flags, "device")) device = f->options.device();
      trainer.emplace(Trainer::resume(dir, train_data, device));
    } else {
      Pretrained model;
      if (!run.model().empty()) {
        model = start_from(run.model(), run.model_args(), static_cast<int64_t>(classes.size()), f->options.seed());
        if (model.num_classes() == static_cast<int64_t>(classes.size())) model.label_names = classes;
      } else {
        try {
          model = fashion_mnist_model(f->recipe, /*distilled=*/!f->options.teacher().empty(), f->options.seed());
        } catch (const c10::Error& e) {  // a combination of flags the recipe cannot build
          throw UsageError(e.what_without_backtrace());
        }
      }
      trainer.emplace(std::move(model), train_data, f->options);
    }
    if (distributed) trainer->distribute(std::make_shared<ProcessGroup>(*distributed));
    const auto& o = trainer->options();
    const int threads = torch::get_num_threads();
    const int64_t ranks = distributed ? distributed->world_size() : 1;
    if (leader)
    std::cerr << "training " << trainer->model().architecture << " (" << fixed(count_parameters(*trainer->model().module) / 1e6, 2)
              << " M parameters) on " << trainer->steps_per_epoch() * o.batch_size() << " images x " << o.epochs()
              << " epochs, batch " << o.batch_size() << ", " << ranks << (ranks == 1 ? " process x " : " processes x ")
              << threads << (threads == 1 ? " thread, " : " threads, ") << o.device()
              << (o.distillation() != "none" ? ", " + o.distillation() + " distillation from " + o.teacher() : "")
              << (resuming ? ", resumed at step " + std::to_string(trainer->step()) : "") << "\n";

    const bool tty = ::isatty(2);
    const auto start = std::chrono::steady_clock::now();
    int64_t epoch_of_sums = -1, steps = 0;
    double loss = 0., correct = 0., sync = 0.;
    FitCallbacks callbacks;
    callbacks.on_step = [&](const Trainer& t, const StepStats& stats, double rate) {
      const int64_t spe = t.steps_per_epoch(), epoch = (t.step() - 1) / spe, done = t.step() - epoch * spe;
      if (epoch != epoch_of_sums) {
        epoch_of_sums = epoch;
        steps = 0;
        loss = correct = sync = 0.;
      }
      ++steps;
      loss += stats.loss;
      correct += stats.accuracy;
      sync += stats.sync_seconds;
      if (!tty && done != spe) return;
      std::cerr << "\repoch " << epoch + 1 << "/" << o.epochs() << " " << bar(done, spe, 24) << "  loss "
                << fixed(loss / steps, 4) << "  acc " << fixed(100. * correct / steps, 2) << "%  lr " << std::scientific
                << std::setprecision(2) << stats.lr << std::defaultfloat << "  " << fixed(rate, 0) << " img/s  ETA "
                << clock_time(static_cast<double>((spe - done) * o.batch_size()) / rate);
      // the share of the epoch rank 0 spent waiting for gradient all-reduces after its backward
      if (ranks > 1) std::cerr << "  sync " << fixed(100. * sync * rate / static_cast<double>(steps * o.batch_size()), 1) << "%";
      std::cerr << "   " << std::flush;
      if (done == spe) std::cerr << "\n";
    };
    callbacks.on_epoch = [&](const Trainer& t, const EvalStats& e, double seconds) {
      const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << "epoch " << t.epoch() << "/" << o.epochs() << ": test loss " << fixed(e.loss, 4) << "  acc "
                << fixed(100. * e.accuracy, 2) << "%" << heads(e) << "  [" << fixed(seconds, 1) << " s, " << clock_time(all)
                << " in all]  saved " << dir << "\n";
    };
    const auto last = fit(*trainer, *test_data, dir, f->run.max_steps().value_or(-1), callbacks);
    if (!leader) return;
    for (const auto* data : {train_data.get(), test_data.get()})
      if (data->skipped() > 0)
        std::cerr << data->skipped() << " unreadable " << (data == train_data.get() ? "training" : "test") << " images skipped\n";
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!trainer->done()) {
      std::cerr << (tty ? "\n" : "") << "stopped at step " << trainer->step() << " (--max-steps); saved " << dir << "\n";
      return;
    }
    if (last.images == 0) {
      std::cout << "trained " << trainer->epoch() << " epochs (no test images), " << fixed(wall, 1) << " s wall time\n";
      return;
    }
    std::cout << "test accuracy " << fixed(100. * last.accuracy, 2) << "%" << heads(last) << " after " << trainer->epoch()
              << " epochs, " << fixed(wall, 1) << " s wall time\n";
  });
}

}  // namespace vit::cli
