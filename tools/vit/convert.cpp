// vit convert: checkpoints between torch.save and safetensors, and any supported checkpoint to the
// hub layout.
#include "common.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace vit::cli {

void add_convert(CLI::App& app) {
  struct Flags {
    std::string in, out;
  };
  auto f = std::make_shared<Flags>();
  auto* convert = app.add_subcommand("convert", "convert checkpoints (torch.save <-> safetensors, any layout -> the hub layout)");
  convert->footer("IN a checkpoint directory, OUT a directory: the hub layout (config.json + model.safetensors) of any supported "
                  "checkpoint (pytorch_model.bin, DeiT-style *.pth, DDP prefixes, vit-pytorch layouts). IN a weights file, OUT a "
                  "file: between torch.save (.pth, .pt, .bin) and safetensors (.safetensors), by OUT's extension; a nested "
                  "checkpoint ({'model': ...}) is reduced to its state dict. Every file is written atomically.");
  convert->add_option("IN", f->in, "checkpoint directory or weights file")->required();
  convert->add_option("OUT", f->out, "directory, or .safetensors / .pth / .pt / .bin file")->required();
  convert->callback([f] {
    namespace fs = std::filesystem;
    const fs::path in = f->in, out = f->out;
    TORCH_CHECK(fs::exists(in), "'", in.string(), "': no such file or directory");
    if (fs::is_directory(in)) {
      const auto p = load_pretrained(in.string());
      save_pretrained(p, out.string());
      std::cout << "wrote " << (out / "config.json").string() << " and " << (out / "model.safetensors").string() << " ("
                << p.architecture << ", " << count_parameters(*p.module) << " parameters)\n";
      return;
    }
    const auto ext = out.extension().string();
    if (ext != ".safetensors" && ext != ".pth" && ext != ".pt" && ext != ".bin")
      throw UsageError("OUT must end in .safetensors, .pth, .pt or .bin (or IN must be a directory)");
    std::string format;
    const auto state = read_weights(in.string(), &format);
    if (ext == ".safetensors") save_safetensors(out.string(), state, {{"format", "pt"}});
    else save_torch_save(out.string(), state);
    std::cout << "wrote " << out.string() << " (" << state.size() << " tensors, " << format << " -> "
              << (ext == ".safetensors" ? "safetensors" : "torch.save") << ")\n";
  });
}

}  // namespace vit::cli
