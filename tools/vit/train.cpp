// vit train: the Fashion-MNIST recipe (vit::fashion_mnist_model) trained by vit::fit, with a
// progress bar; every training and model flag comes from the library's option tables, so the
// defaults are the library's.
#include "common.h"

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

namespace vit::cli {

namespace {

std::string clock_time(double seconds) {
  const auto s = static_cast<int64_t>(std::max(seconds, 0.));
  std::ostringstream out;
  out << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return out.str();
}

std::string heads(const EvalStats& e) {
  if (e.cls_accuracy < 0.) return "";
  return " (class head " + fixed(100. * e.cls_accuracy, 2) + "%, distillation head " + fixed(100. * e.dist_accuracy, 2) + "%)";
}

}  // namespace

#define VIT_CLI_TRAIN_FLAGS(X)                                                                                  \
  X(std::string, data, kFashionMnistDir, Any(), "directory of Fashion-MNIST's four .gz files")                    \
  X(std::optional<int64_t>, limit, std::nullopt, Range(1, 1 << 30), "train on the first N images only (tests and quick looks)") \
  X(std::optional<int64_t>, max_steps, std::nullopt, Range(1, 1e15), "stop (and save) after N steps in all; --resume continues the run") \
  X(std::optional<int64_t>, threads, std::nullopt, Range(1, 4096), "CPU threads; unset: every core")

struct TrainFlags {
  VIT_OPTIONS(TrainFlags, VIT_CLI_TRAIN_FLAGS)
};

void add_train(CLI::App& app) {
  struct Flags {
    TrainOptions options;
    FashionMnistModel recipe;
    TrainFlags run;
    std::map<std::string, CLI::Option*> option_flags, recipe_flags;
    std::string out, resume;
  };
  auto f = std::make_shared<Flags>();
  auto* train = app.add_subcommand("train", "train a ViT (or a distilled DeiT) on Fashion-MNIST");
  train->footer("Trains a ViT on Fashion-MNIST (Debian's dataset-fashion-mnist) with AdamW, linear warm-up + cosine learning "
                "rate, label smoothing, DropPath, random crop + flip and gradient clipping, from a fixed seed; with --teacher, a "
                "distilled DeiT student. Each epoch shows a progress bar, evaluates the 10k test images and saves DIR "
                "(config.json + model.safetensors for vit classify / vit run, optimizer.safetensors and trainer.json for "
                "--resume).");
  auto* out = train->add_option("--out", f->out, "directory to save the model in after each epoch");
  auto* resume = train->add_option("--resume", f->resume, "continue the run saved in this directory");
  out->excludes(resume);
  add_fields(*train, f->run.fields());
  f->recipe_flags = add_fields(*train, f->recipe.fields());
  f->option_flags = add_fields(*train, f->options.fields());

  train->callback([f] {
    // Every step frees and re-allocates the same activation buffers: keep them in the heap instead of
    // returning them to the kernel (glibc's default), which cost ~20% of the time in page faults.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
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
    auto train_data = load_fashion_mnist(f->run.data(), /*train=*/true);
    const auto test_data = load_fashion_mnist(f->run.data(), /*train=*/false);
    if (f->run.limit()) {
      const auto n = std::min(*f->run.limit(), train_data.size());
      train_data = {train_data.images.narrow(0, 0, n), train_data.labels.narrow(0, 0, n)};
    }
    std::optional<Trainer> trainer;
    const std::string dir = resuming ? f->resume : f->out;
    if (resuming) {
      std::optional<torch::Device> device;
      if (given(f->option_flags, "device")) device = f->options.device();
      trainer.emplace(Trainer::resume(dir, std::move(train_data), device));
    } else {
      Pretrained model;
      try {
        model = fashion_mnist_model(f->recipe, /*distilled=*/!f->options.teacher().empty(), f->options.seed());
      } catch (const c10::Error& e) {  // a combination of flags the recipe cannot build
        throw UsageError(e.what_without_backtrace());
      }
      trainer.emplace(std::move(model), std::move(train_data), f->options);
    }
    const auto& o = trainer->options();
    const int threads = torch::get_num_threads();
    std::cerr << "training " << trainer->model().architecture << " (" << fixed(count_parameters(*trainer->model().module) / 1e6, 2)
              << " M parameters) on " << trainer->steps_per_epoch() * o.batch_size() << " images x " << o.epochs()
              << " epochs, batch " << o.batch_size() << ", " << threads << (threads == 1 ? " thread, " : " threads, ")
              << o.workers() << (o.workers() == 1 ? " worker, " : " workers, ") << o.device()
              << (o.distillation() != "none" ? ", " + o.distillation() + " distillation from " + o.teacher() : "")
              << (resuming ? ", resumed at step " + std::to_string(trainer->step()) : "") << "\n";

    const bool tty = ::isatty(2);
    const auto start = std::chrono::steady_clock::now();
    int64_t epoch_of_sums = -1, steps = 0;
    double loss = 0., correct = 0.;
    FitCallbacks callbacks;
    callbacks.on_step = [&](const Trainer& t, const StepStats& stats, double rate) {
      const int64_t spe = t.steps_per_epoch(), epoch = (t.step() - 1) / spe, done = t.step() - epoch * spe;
      if (epoch != epoch_of_sums) {
        epoch_of_sums = epoch;
        steps = 0;
        loss = correct = 0.;
      }
      ++steps;
      loss += stats.loss;
      correct += stats.accuracy;
      if (!tty && done != spe) return;
      std::cerr << "\repoch " << epoch + 1 << "/" << o.epochs() << " " << bar(done, spe, 24) << "  loss "
                << fixed(loss / steps, 4) << "  acc " << fixed(100. * correct / steps, 2) << "%  lr " << std::scientific
                << std::setprecision(2) << stats.lr << std::defaultfloat << "  " << fixed(rate, 0) << " img/s  ETA "
                << clock_time(static_cast<double>((spe - done) * o.batch_size()) / rate) << "   " << std::flush;
      if (done == spe) std::cerr << "\n";
    };
    callbacks.on_epoch = [&](const Trainer& t, const EvalStats& e, double seconds) {
      const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << "epoch " << t.epoch() << "/" << o.epochs() << ": test loss " << fixed(e.loss, 4) << "  acc "
                << fixed(100. * e.accuracy, 2) << "%" << heads(e) << "  [" << fixed(seconds, 1) << " s, " << clock_time(all)
                << " in all]  saved " << dir << "\n";
    };
    const auto last = fit(*trainer, test_data, dir, f->run.max_steps().value_or(-1), callbacks);
    if (last.images == 0) {
      std::cerr << (tty ? "\n" : "") << "stopped at step " << trainer->step() << " (--max-steps); saved " << dir << "\n";
      return;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "test accuracy " << fixed(100. * last.accuracy, 2) << "%" << heads(last) << " after " << trainer->epoch()
              << " epochs, " << fixed(wall, 1) << " s wall time\n";
  });
}

}  // namespace vit::cli
