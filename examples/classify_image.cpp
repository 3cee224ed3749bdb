// Classifies one image with a checkpoint directory and prints the top 5 labels.
//   usage: classify_image CHECKPOINT_DIR IMAGE
// The directory is the Hugging Face hub layout of a timm model (config.json + model.safetensors, or
// pytorch_model.bin); preprocessing follows its pretrained_cfg exactly as timm's eval transform.
#include <vit/vit.h>

#include <iomanip>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " CHECKPOINT_DIR IMAGE\n";
    return 2;
  }
  try {
    const torch::Device device = vit::default_device();
    const vit::Pretrained model = vit::load_pretrained(argv[1], device);  // eval mode, on the device
    const torch::Tensor input = vit::preprocess(vit::read_image(argv[2]), model.pretrained_cfg).unsqueeze(0);

    torch::InferenceMode inference;
    const torch::Tensor probs = model.forward(input.to(device)).softmax(-1).cpu();
    const auto [values, indices] = probs.topk(std::min<int64_t>(5, probs.size(1)), 1);
    for (int64_t k = 0; k < values.size(1); ++k) {
      const int64_t cls = indices[0][k].item<int64_t>();
      const std::string label = cls < static_cast<int64_t>(model.label_names.size()) ? model.label_names[cls] : std::to_string(cls);
      std::cout << std::fixed << std::setprecision(2) << std::setw(6) << 100. * values[0][k].item<double>() << "%  " << label << "\n";
    }
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
