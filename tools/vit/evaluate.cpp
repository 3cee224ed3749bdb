// vit evaluate: a trained model's accuracy and loss on Fashion-MNIST's test (or training) images or
// an image folder's, in any dtype and backend: what bfloat16 or int8 inference costs the model in accuracy.
#include "common.h"

#include <vit/data.h>
#include <vit/train.h>

#include <filesystem>
#include <iostream>
#include <memory>

namespace vit::cli {

void add_evaluate(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string data = kFashionMnistDir;
    bool train = false;
    int64_t batch = 500;
  };
  auto f = std::make_shared<Flags>();
  auto* ev = app.add_subcommand("evaluate", "a model's accuracy on Fashion-MNIST or an image folder");
  ev->footer("Evaluates a model (a directory vit train saved, or any 28x28 classifier of Fashion-MNIST's 10 classes) on "
             "the dataset's 10k test images, or with --train its 60k training images, or on an image folder (DATA/val, or "
             "with --train DATA/train; DATA itself when it has no train/), through the same engine, dtype and backend as "
             "vit run: --dtype bfloat16 or int8 show what each costs in accuracy.");
  f->model.add(*ev, /*zoo=*/false);
  ev->add_option("--data", f->data, "directory of Fashion-MNIST's four .gz files, or an image folder")->capture_default_str();
  ev->add_flag("--train", f->train, "the training images instead of the test images");
  ev->add_option("--batch", f->batch, "images per forward")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  ev->callback([f] {
    std::string backend;
    const auto p = f->model.load(&backend);
    std::shared_ptr<const Dataset> data;
    if (std::filesystem::exists(std::filesystem::path(f->data) / "train-images-idx3-ubyte.gz")) {
      data = std::make_shared<ImageDataset>(load_fashion_mnist(f->data, f->train));
    } else {
      auto split = open_image_folder(f->data);
      if (!f->train && !split.val && std::filesystem::is_directory(std::filesystem::path(f->data) / "train"))
        throw UsageError("'" + f->data + "' has train/ but no val/: pass --train to evaluate on the training images");
      data = f->train || !split.val ? split.train : split.val;
    }
    const auto s = evaluate(p, *data, f->batch);
    std::cout << p.architecture << "  " << f->model.dtype() << "  backend " << backend << "\n";
    std::cout << "  accuracy " << fixed(100. * s.accuracy, 2) << "%  loss " << fixed(s.loss, 4) << "  (" << s.images
              << (f->train ? " training" : " test") << " images";
    if (data->skipped() > 0) std::cout << ", " << data->skipped() << " unreadable skipped";
    std::cout << ")\n";
  });
}

}  // namespace vit::cli
