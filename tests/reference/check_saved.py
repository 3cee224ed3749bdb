#!/usr/bin/env python3
"""Checks directories written by vitcpp's save_pretrained from the Python side: builds the reference
model that config.json describes (architecture + model_args), loads model.safetensors with strict
load_state_dict, and compares its logits on the checkpoint's expected input at 1e-5; and loads the
weights.pt that vitcpp's save_torch_save wrote beside it with torch.load.
usage: /usr/bin/python3 check_saved.py SAVED_DIR GOLDEN_CHECKPOINTS_DIR"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vision_transformer as timm_ref  # noqa: E402
import vit_pytorch as lucid_ref  # noqa: E402
from generate_goldens import ZOO_BASE  # noqa: E402
from safetensors_io import load_file  # noqa: E402


def build(config, state):
    args = dict(config.get("model_args", {}))
    if config["architecture"] == "vit_pytorch":
        if "transformer.norm.weight" in state:  # the keys tell the vit-pytorch layout
            args["layout"] = "current"
        elif "to_patch_embedding.3.weight" in state:
            args["layout"] = "1.0"
        return lucid_ref.ViT(**args)
    return timm_ref.VisionTransformer(**dict(ZOO_BASE[config["architecture"]], **args))


def main():
    saved, golden = sys.argv[1], sys.argv[2]
    names = sorted(os.listdir(saved))
    assert names, f"nothing saved in {saved}"
    for name in names:
        d = os.path.join(saved, name)
        with open(os.path.join(d, "config.json")) as f:
            config = json.load(f)
        state, _ = load_file(os.path.join(d, "model.safetensors"))
        model = build(config, state).eval()
        model.load_state_dict(state, strict=True)
        # the torch.save copy written by vitcpp's save_torch_save: an OrderedDict of the same tensors
        pt = torch.load(os.path.join(d, "weights.pt"))
        assert type(pt).__name__ == "OrderedDict" and list(pt) == list(state), f"{name}: weights.pt keys differ"
        assert all(torch.equal(pt[k], state[k]) for k in state), f"{name}: weights.pt values differ"
        expected, _ = load_file(os.path.join(golden, name + ".expected.safetensors"))
        with torch.no_grad():
            y = model(expected["input"])
        if not torch.allclose(y, expected["output"], rtol=1e-5, atol=1e-5):
            print(f"FAIL {name}: max diff {(y - expected['output']).abs().max().item()}")
            sys.exit(1)
        print(f"ok {name}: {config['architecture']} {json.dumps(config.get('model_args'))}")
    print(f"{len(names)} saved directories load in the Python reference and give the same logits; "
          f"their weights.pt load with torch.load")


if __name__ == "__main__":
    main()
