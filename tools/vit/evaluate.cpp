// vit evaluate: a trained model's accuracy and loss on Fashion-MNIST's test (or training) images, in
// any dtype and backend: what bfloat16 or int8 inference costs the model in accuracy.
#include "common.h"

#include <vit/data.h>
#include <vit/train.h>

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
  auto* ev = app.add_subcommand("evaluate", "a model's accuracy on Fashion-MNIST");
  ev->footer("Evaluates a model (a directory vit train saved, or any 28x28 classifier of Fashion-MNIST's 10 classes) on "
             "the dataset's 10k test images, or with --train its 60k training images, through the same engine, dtype "
             "and backend as vit run: --dtype bfloat16 or int8 show what each costs in accuracy.");
  f->model.add(*ev, /*zoo=*/false);
  ev->add_option("--data", f->data, "directory of Fashion-MNIST's four .gz files")->capture_default_str();
  ev->add_flag("--train", f->train, "the 60k training images instead of the 10k test images");
  ev->add_option("--batch", f->batch, "images per forward")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  ev->callback([f] {
    std::string backend;
    const auto p = f->model.load(&backend);
    const auto data = load_fashion_mnist(f->data, f->train);
    const auto s = evaluate(p, data, f->batch);
    std::cout << p.architecture << "  " << f->model.dtype() << "  backend " << backend << "\n";
    std::cout << "  accuracy " << fixed(100. * s.accuracy, 2) << "%  loss " << fixed(s.loss, 4) << "  ("
              << data.size() << (f->train ? " training" : " test") << " images)\n";
  });
}

}  // namespace vit::cli
