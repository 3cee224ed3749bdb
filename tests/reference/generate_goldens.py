#!/usr/bin/env python3
"""Writes the golden files that vitcpp's C++ tests compare against (run with Debian's python3-torch:
/usr/bin/python3 tests/reference/generate_goldens.py OUT_DIR).

One safetensors file per case, named <family>_<case>.safetensors (family: timm | eva | vit_pytorch), with
metadata {family, module, kind, config (JSON of the Python keyword arguments), mode, seed} and:
  kind "forward": param/<state_dict key> (random values), input, output [, output_dist],
                  and with gradients grad_output, grad/input, grad/<key> (d(sum(output*grad_output))).
                  mode "train" cases call torch.manual_seed(seed) right before forward, so the C++
                  test reproduces dropout / drop-path masks with the same seed.
  kind "init":    param/<key> as the constructor initialises them after torch.manual_seed(seed).
  kind "keys":    no tensors; metadata "keys" = JSON [[key, shape], ...] of a full-size model.
  kind "intermediates" (module VisionTransformer or Eva, eval): param/<key>, input, and what
                  forward_intermediates(input, **call) returns: output (the final norm(x); absent when
                  call.intermediates_only), intermediates/<i> for i = 0..n-1 in returned order, and
                  prefix/<i> when the call returns prefix tokens (return_prefix_tokens and the model has
                  some); metadata "call" = JSON of the keyword arguments given (indices: null | int |
                  list, norm, output_fmt, intermediates_only, return_prefix_tokens, stop_early; absent
                  ones take forward_intermediates' defaults) and "blocks" = JSON list of the block index
                  of each intermediates/<i>.
  kind "prune" (module VisionTransformer or Eva, eval): param/<key> (the full model's), input, output = the
                  model's forward after prune_intermediate_layers(**prune); metadata "prune" = JSON of
                  its keyword arguments (indices, prune_norm, prune_head), "take" = JSON of what it
                  returned.
  kind "attention" (module VisionTransformer or Eva, eval): param/<key>, input, attention/<i> =
                  attention_maps(input, indices)[i]; metadata "indices" = JSON (null | int | list) and
                  "blocks" = JSON list of the block index of each attention/<i>.
  kind "int8" (module VisionTransformer, eval): param/<key>, input, output = the forward with every
                  block Linear quantised dynamically to int8 (quantize.py: InferenceModel's quantize
                  'int8'), output_float = the float32 forward.
With case names (fnmatch patterns) after OUT_DIR, writes only those cases (no checkpoints, no images).
"""
import fnmatch
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vision_transformer as timm_ref  # noqa: E402
import eva as eva_ref  # noqa: E402
import vit_pytorch as lucid_ref  # noqa: E402
import training  # noqa: E402
import quantize  # noqa: E402
from safetensors_io import save_file  # noqa: E402


def build(family, module, config):
    if family == "timm":
        return getattr(timm_ref, module)(**config)
    if family == "eva":
        return getattr(eva_ref, module)(**config)
    if module == "PreNorm":
        fn = dict(config["fn"])
        fn_module = fn.pop("module")
        return lucid_ref.PreNorm(config["dim"], getattr(lucid_ref, fn_module)(config["dim"], **fn))
    return getattr(lucid_ref, module)(**config)


def describe(family, module, config, **extra):
    return dict(family=family, module=module, config=json.dumps(config), **extra)


def randomize(model, gen):
    """Distinctive values everywhere (init alone leaves zero biases and unit norms). Eva modules also:
    LayerScale gamma_1/gamma_2 1 + 0.1 randn, reg_token 0.5 randn, rope.freqs (RoPE-Mixed) their init
    + 0.05 randn; q_bias/v_bias get the 0.1 randn of every vector. Relative-position tables
    (relative_position_bias_table, zeros or tiny at init) 0.5 randn."""
    eva = type(model).__module__ == eva_ref.__name__
    with torch.no_grad():
        norms = {id(m.weight) for m in model.modules() if isinstance(m, (torch.nn.LayerNorm, timm_ref.RmsNorm))}
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if id(p) in norms or (eva and leaf in ("gamma_1", "gamma_2")):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif eva and leaf == "reg_token":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif eva and leaf == "freqs":
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
            elif name.split(".")[-1] in ("cls_token", "dist_token", "pos_embed", "pos_embedding",
                                         "relative_position_bias_table"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def forward_case(family, module, config, input_shape, mode="eval", grads=False, seed=1234):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(family, module, config)
    randomize(model, gen)
    model.train(mode == "train")
    x = torch.randn(input_shape, generator=gen).requires_grad_(grads)
    tensors = {"param/" + k: v for k, v in model.state_dict().items()}
    tensors["input"] = x.detach()
    torch.manual_seed(seed)
    out = model(x)
    if isinstance(out, tuple):
        tensors["output"], tensors["output_dist"] = out[0].detach(), out[1].detach()
        assert not grads
    else:
        tensors["output"] = out.detach()
    if grads:
        grad_output = torch.randn(out.shape, generator=gen)
        out.backward(grad_output)
        tensors["grad_output"] = grad_output
        tensors["grad/input"] = x.grad
        for k, p in model.named_parameters():
            tensors["grad/" + k] = p.grad
    return tensors, describe(family, module, config, kind="forward", mode=mode, seed=seed)


def _eval_vit(config, input_shape, seed, family="timm", module=None):
    """A randomized model (default timm's VisionTransformer) in eval mode, its input, and the tensors every
    kind stores."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(family, module or VIT, config)
    randomize(model, gen)
    model.eval()
    x = torch.randn(input_shape, generator=gen)
    tensors = {"param/" + k: v.clone() for k, v in model.state_dict().items()}
    tensors["input"] = x
    return model, x, tensors


def intermediates_case(config, input_shape, call, seed=1234, family="timm", module=None):
    module = module or VIT
    model, x, tensors = _eval_vit(config, input_shape, seed, family, module)
    take, _ = timm_ref.feature_take_indices(len(model.blocks), call.get("indices"))
    with torch.no_grad():
        out = model.forward_intermediates(x, **call)
    items = out if call.get("intermediates_only") else out[1]
    if not call.get("intermediates_only"):
        tensors["output"] = out[0]
    for i, item in enumerate(items):
        if isinstance(item, tuple):
            tensors[f"intermediates/{i}"], tensors[f"prefix/{i}"] = item
        else:
            tensors[f"intermediates/{i}"] = item
    blocks = sorted(set(take))
    assert len(blocks) == len(items)
    return tensors, describe(family, module, config, kind="intermediates", mode="eval", seed=seed, call=json.dumps(call),
                             blocks=json.dumps(blocks))


def prune_case(config, input_shape, prune, seed=1234, family="timm", module=None):
    module = module or VIT
    model, x, tensors = _eval_vit(config, input_shape, seed, family, module)
    take = model.prune_intermediate_layers(**prune)
    with torch.no_grad():
        tensors["output"] = model(x)
    return tensors, describe(family, module, config, kind="prune", mode="eval", seed=seed, prune=json.dumps(prune),
                             take=json.dumps(take))


def attention_case(config, input_shape, indices=None, seed=1234, family="timm", module=None):
    module = module or VIT
    model, x, tensors = _eval_vit(config, input_shape, seed, family, module)
    take, _ = timm_ref.feature_take_indices(len(model.blocks), indices)
    with torch.no_grad():
        maps = model.attention_maps(x, indices)
    for i, m in enumerate(maps):
        tensors[f"attention/{i}"] = m
    blocks = sorted(set(take))
    assert len(blocks) == len(maps)
    return tensors, describe(family, module, config, kind="attention", mode="eval", seed=seed,
                             indices=json.dumps(indices), blocks=json.dumps(blocks))


def transposed_grids_case(config, input_shape, seed=1234):
    """An Eva and two inputs whose patch grids are each other's transpose, so with the same token count:
    input (B, C, H, W) and input_t (B, C, W, H), and the model's output for each."""
    model, x, tensors = _eval_vit(config, input_shape, seed, "eva", EVA)
    b, c, h, w = input_shape
    xt = torch.randn((b, c, w, h), generator=torch.Generator().manual_seed(seed + 1))
    tensors["input_t"] = xt
    with torch.no_grad():
        tensors["output"], tensors["output_t"] = model(x), model(xt)
    return tensors, describe("eva", EVA, config, kind="grids", mode="eval", seed=seed)


def int8_case(config, input_shape, seed=1234):
    model, x, tensors = _eval_vit(config, input_shape, seed)
    with torch.no_grad():
        tensors["output_float"] = model(x)
        tensors["output"] = quantize.quantize_blocks(model)(x)
    return tensors, describe("timm", VIT, config, kind="int8", mode="eval", seed=seed)


def init_case(family, module, config, seed=7):
    torch.manual_seed(seed)
    model = build(family, module, config)
    return {"param/" + k: v for k, v in model.state_dict().items()}, describe(family, module, config, kind="init", seed=seed)


def keys_case(family, module, config):
    model = build(family, module, config)
    keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    return {}, describe(family, module, config, kind="keys", keys=json.dumps(keys))


VIT = "VisionTransformer"
TINY_VIT = {"img_size": 32, "patch_size": 8, "num_classes": 10, "embed_dim": 64, "depth": 2, "num_heads": 4}
SMALL_VIT = {"img_size": 16, "patch_size": 4, "num_classes": 5, "embed_dim": 32, "depth": 2, "num_heads": 2}
NEW_VIT = {"img_size": 12, "patch_size": 4, "num_classes": 3, "embed_dim": 16, "depth": 2, "num_heads": 2}  # cases of current timm's options
TIMM_RELPOS = dict(pos_embed="none", class_token=False, global_pool="avg", fc_norm=False, init_values=1e-6)  # VisionTransformerRelPos's defaults


def relpos_vit(**kwargs):
    """NEW_VIT with timm's VisionTransformerRelPos defaults (TIMM_RELPOS), then kwargs."""
    return dict(NEW_VIT, **dict(TIMM_RELPOS, **kwargs))


EVA = "Eva"
TINY_EVA = {"img_size": 16, "patch_size": 4, "num_classes": 3, "embed_dim": 16, "depth": 2, "num_heads": 2}  # head_dim 8
EVA_RECT = dict(TINY_EVA, img_size=[12, 16])  # a 3x4 grid
EVA_ROPE_CAT = dict(use_rot_pos_emb=True)
EVA_ROPE_MIXED = dict(use_rot_pos_emb=True, rope_type="mixed", rope_grid_indexing="xy", rope_temperature=10.0, attn_type="rope")
EVA_DINOV3 = dict(dynamic_img_size=True, use_rot_pos_emb=True, use_abs_pos_emb=False, rope_type="dinov3", rope_temperature=100.0,
                  rope_rotate_half=True, num_reg_tokens=4, init_values=1e-5, use_fc_norm=False, norm_eps=1e-5)
EVA_PE = dict(attn_type="rope", use_pre_transformer_norm=True, use_rot_pos_emb=True, rope_grid_offset=1.0, rope_grid_indexing="xy", norm_eps=1e-5)
TINY_LUCID = {"image_size": 32, "patch_size": 8, "num_classes": 10, "dim": 64, "depth": 2, "heads": 4, "mlp_dim": 128}

CASES = {
    # ---- timm (timm 0.5.x, plus current timm's options) ----
    "timm_patch_embed": lambda: forward_case("timm", "PatchEmbed", {"img_size": 32, "patch_size": 8, "in_chans": 3, "embed_dim": 48}, (2, 3, 32, 32), grads=True),
    "timm_patch_embed_rect_norm": lambda: forward_case("timm", "PatchEmbed", {"img_size": [32, 48], "patch_size": [8, 16], "in_chans": 1, "embed_dim": 24, "norm_layer": "layernorm"}, (2, 1, 32, 48), grads=True),
    "timm_patch_embed_no_flatten": lambda: forward_case("timm", "PatchEmbed", {"img_size": 16, "patch_size": 4, "in_chans": 2, "embed_dim": 8, "flatten": False}, (1, 2, 16, 16)),
    "timm_attention": lambda: forward_case("timm", "Attention", {"dim": 48, "num_heads": 4, "qkv_bias": True}, (2, 17, 48), grads=True),
    "timm_attention_no_qkv_bias": lambda: forward_case("timm", "Attention", {"dim": 48, "num_heads": 3}, (3, 5, 48)),
    "timm_attention_dropout_train": lambda: forward_case("timm", "Attention", {"dim": 32, "num_heads": 2, "qkv_bias": True, "attn_drop": 0.2, "proj_drop": 0.1}, (2, 9, 32), mode="train", grads=True),
    "timm_mlp": lambda: forward_case("timm", "Mlp", {"in_features": 48, "hidden_features": 96, "out_features": 40}, (2, 7, 48), grads=True),
    "timm_mlp_default_widths": lambda: forward_case("timm", "Mlp", {"in_features": 24}, (4, 24)),
    "timm_mlp_dropout_train": lambda: forward_case("timm", "Mlp", {"in_features": 32, "hidden_features": 64, "drop": 0.3}, (3, 4, 32), mode="train"),
    "timm_drop_path_train": lambda: forward_case("timm", "DropPath", {"drop_prob": 0.25}, (16, 5, 6), mode="train", grads=True),
    "timm_drop_path_eval": lambda: forward_case("timm", "DropPath", {"drop_prob": 0.5}, (4, 3, 2)),
    "timm_block": lambda: forward_case("timm", "Block", {"dim": 48, "num_heads": 4, "mlp_ratio": 2.5, "qkv_bias": True}, (2, 10, 48), grads=True),
    "timm_block_train": lambda: forward_case("timm", "Block", {"dim": 32, "num_heads": 4, "qkv_bias": True, "drop": 0.1, "attn_drop": 0.1, "drop_path": 0.2}, (4, 6, 32), mode="train", grads=True),
    "timm_vit": lambda: forward_case("timm", VIT, TINY_VIT, (2, 3, 32, 32), grads=True),
    "timm_vit_rect_gray": lambda: forward_case("timm", VIT, {"img_size": [32, 48], "patch_size": [8, 16], "in_chans": 1, "num_classes": 7, "embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_ratio": 2.0, "qkv_bias": False}, (3, 1, 32, 48)),
    "timm_vit_pre_logits": lambda: forward_case("timm", VIT, dict(SMALL_VIT, representation_size=40), (2, 3, 16, 16), grads=True),
    "timm_vit_features": lambda: forward_case("timm", VIT, dict(SMALL_VIT, num_classes=0), (2, 3, 16, 16)),
    "timm_vit_distilled": lambda: forward_case("timm", VIT, dict(SMALL_VIT, distilled=True, representation_size=40), (3, 3, 16, 16), grads=True),
    "timm_vit_distilled_train": lambda: forward_case("timm", VIT, dict(SMALL_VIT, distilled=True, drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.2), (4, 3, 16, 16), mode="train"),
    "timm_vit_distilled_features": lambda: forward_case("timm", VIT, dict(SMALL_VIT, distilled=True, num_classes=0), (2, 3, 16, 16)),
    "timm_vit_train_pos_proj_patch_drop": lambda: forward_case("timm", VIT, dict(SMALL_VIT, reg_tokens=1, drop_rate=0.3, pos_drop_rate=0.1, proj_drop_rate=0.2, patch_drop_rate=0.4), (4, 3, 16, 16), mode="train", grads=True),
    "timm_vit_train": lambda: forward_case("timm", VIT, dict(SMALL_VIT, depth=3, drop_rate=0.1, attn_drop_rate=0.05, drop_path_rate=0.3), (6, 3, 16, 16), mode="train", grads=True),
    # current timm (1.0.x) options
    "timm_vit_avg_pool_fc_norm": lambda: forward_case("timm", VIT, dict(SMALL_VIT, global_pool="avg"), (2, 3, 16, 16), grads=True),
    "timm_vit_no_class_token": lambda: forward_case("timm", VIT, dict(SMALL_VIT, class_token=False, global_pool="avg", fc_norm=False), (2, 3, 16, 16)),
    "timm_vit_reg_tokens_no_embed_class": lambda: forward_case("timm", VIT, dict(SMALL_VIT, reg_tokens=3, no_embed_class=True), (2, 3, 16, 16), grads=True),
    "timm_vit_layerscale_qk_norm_pre_norm": lambda: forward_case("timm", VIT, dict(SMALL_VIT, init_values=0.1, qk_norm=True, pre_norm=True), (2, 3, 16, 16), grads=True),
    "timm_vit_no_final_norm_no_pool": lambda: forward_case("timm", VIT, dict(SMALL_VIT, final_norm=False, global_pool=""), (2, 3, 16, 16)),
    "timm_vit_avgmax_pool": lambda: forward_case("timm", VIT, dict(SMALL_VIT, global_pool="avgmax", reg_tokens=1), (2, 3, 16, 16)),
    "timm_vit_max_pool": lambda: forward_case("timm", VIT, dict(SMALL_VIT, global_pool="max"), (2, 3, 16, 16)),
    "timm_vit_dynamic_img_size": lambda: forward_case("timm", VIT, dict(SMALL_VIT, dynamic_img_size=True), (2, 3, 24, 32), grads=True),
    "timm_vit_dynamic_no_embed_class": lambda: forward_case("timm", VIT, dict(SMALL_VIT, dynamic_img_size=True, no_embed_class=True, reg_tokens=1, global_pool="avg"), (1, 3, 20, 12)),
    "timm_vit_distilled_dynamic": lambda: forward_case("timm", VIT, dict(SMALL_VIT, distilled=True, dynamic_img_size=True), (2, 3, 8, 28)),
    "timm_resample_pos_embed": lambda: forward_case("timm", "ResamplePosEmbed", {"new_size": [7, 5], "old_size": [4, 3], "num_prefix_tokens": 2}, (1, 14, 6)),
    "timm_resample_pos_embed_down": lambda: forward_case("timm", "ResamplePosEmbed", {"new_size": [3, 2], "num_prefix_tokens": 1}, (1, 37, 4)),
    "timm_init_vit_reg_layerscale": lambda: init_case("timm", VIT, dict(SMALL_VIT, reg_tokens=2, init_values=1e-5, qk_norm=True, global_pool="avg")),
    "timm_init_vit": lambda: init_case("timm", VIT, dict(SMALL_VIT, representation_size=24)),
    "timm_init_vit_distilled": lambda: init_case("timm", VIT, dict(SMALL_VIT, distilled=True)),
    "timm_keys_vit_base_patch16_224": lambda: keys_case("timm", VIT, {}),
    "timm_keys_vit_base_patch16_384_pre_logits": lambda: keys_case("timm", VIT, {"img_size": 384, "representation_size": 768}),
    "timm_keys_deit_base_distilled_patch16_224": lambda: keys_case("timm", VIT, {"distilled": True}),
    # current timm's layers: norms, activations, gated mlps, differential attention, other blocks
    "timm_rms_norm": lambda: forward_case("timm", "RmsNorm", {"dim": 24, "eps": 1e-5}, (2, 5, 24), grads=True),
    "timm_patch_embed_rms_norm": lambda: forward_case("timm", "PatchEmbed", {"img_size": 12, "patch_size": 4, "in_chans": 3, "embed_dim": 24, "norm_layer": "rmsnorm", "norm_eps": 1e-6}, (2, 3, 12, 12), grads=True),
    "timm_patch_embed_dynamic_pad": lambda: forward_case("timm", "PatchEmbed", {"img_size": 16, "patch_size": 4, "in_chans": 3, "embed_dim": 16, "strict_img_size": False, "dynamic_img_pad": True, "norm_layer": "layernorm", "norm_eps": 1e-6}, (2, 3, 18, 13), grads=True),
    "timm_attention_scale_norm_rms_qk_norm": lambda: forward_case("timm", "Attention", {"dim": 24, "num_heads": 4, "qkv_bias": True, "qk_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-6, "scale_norm": True, "proj_bias": False}, (2, 7, 24), grads=True),
    "timm_attention_scale_norm_layernorm": lambda: forward_case("timm", "Attention", {"dim": 16, "num_heads": 2, "scale_norm": True, "norm_eps": 1e-6}, (2, 5, 16)),
    "timm_diff_attention": lambda: forward_case("timm", "DiffAttention", {"dim": 24, "num_heads": 3, "qkv_bias": True, "depth": 2}, (2, 9, 24), grads=True),
    "timm_diff_attention_qk_scale_norm": lambda: forward_case("timm", "DiffAttention", {"dim": 16, "num_heads": 2, "qk_norm": True, "scale_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-6, "proj_bias": False}, (2, 5, 16), grads=True),
    "timm_diff_attention_layernorm_depth5": lambda: forward_case("timm", "DiffAttention", {"dim": 16, "num_heads": 4, "qk_norm": True, "norm_eps": 1e-6, "depth": 5}, (3, 4, 16)),
    "timm_mlp_gelu_tanh_scale_norm_no_bias": lambda: forward_case("timm", "Mlp", {"in_features": 16, "hidden_features": 24, "act_layer": "gelu_tanh", "scale_norm": True, "bias": False}, (2, 5, 16), grads=True),
    "timm_mlp_quick_gelu": lambda: forward_case("timm", "Mlp", {"in_features": 24, "hidden_features": 40, "out_features": 16, "act_layer": "quick_gelu"}, (2, 5, 24), grads=True),
    "timm_mlp_silu_rms_scale_norm": lambda: forward_case("timm", "Mlp", {"in_features": 24, "act_layer": "silu", "scale_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-6}, (3, 24)),
    "timm_glu_mlp": lambda: forward_case("timm", "GluMlp", {"in_features": 16, "hidden_features": 32, "act_layer": "sigmoid"}, (2, 5, 16), grads=True),
    "timm_glu_mlp_gate_first_scale_norm_no_bias": lambda: forward_case("timm", "GluMlp", {"in_features": 16, "hidden_features": 24, "out_features": 12, "gate_last": False, "act_layer": "gelu", "scale_norm": True, "bias": False}, (2, 5, 16), grads=True),
    "timm_swiglu": lambda: forward_case("timm", "SwiGLU", {"in_features": 16, "hidden_features": 20, "act_layer": "silu", "scale_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-5}, (2, 5, 16), grads=True),
    "timm_swiglu_no_bias_gelu": lambda: forward_case("timm", "SwiGLU", {"in_features": 24, "hidden_features": 32, "out_features": 20, "bias": False, "act_layer": "gelu"}, (2, 3, 24)),
    "timm_block_glu": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 2, "mlp_ratio": 3.0, "qkv_bias": True, "mlp_layer": "glu", "act_layer": "gelu_tanh"}, (2, 5, 16), grads=True),
    "timm_block_swiglu_rmsnorm": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 4, "mlp_ratio": 2.75, "mlp_layer": "swiglu", "act_layer": "silu", "norm_layer": "rmsnorm", "norm_eps": 1e-5, "proj_bias": False}, (2, 5, 16), grads=True),
    "timm_block_swiglu_packed_layerscale": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 2, "mlp_ratio": 5.25, "qkv_bias": True, "mlp_layer": "swiglu_packed", "act_layer": "silu", "init_values": 1e-5, "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_block_mlp_scale_norms_quick_gelu": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 2, "qkv_bias": True, "scale_attn_norm": True, "scale_mlp_norm": True, "act_layer": "quick_gelu", "norm_eps": 1e-5}, (2, 5, 16), grads=True),
    "timm_block_diff_attention": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 2, "mlp_ratio": 5.0, "attn_layer": "diff", "init_values": 1e-5, "depth": 3, "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_block_diff_attention_qk_norm_rms": lambda: forward_case("timm", "Block", {"dim": 16, "num_heads": 4, "attn_layer": "diff", "qk_norm": True, "scale_attn_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-6, "mlp_layer": "swiglu", "depth": 1}, (2, 5, 16)),
    "timm_res_post_block": lambda: forward_case("timm", "ResPostBlock", {"dim": 16, "num_heads": 2, "init_values": 0.5, "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_res_post_block_qkv_bias_swiglu": lambda: forward_case("timm", "ResPostBlock", {"dim": 16, "num_heads": 4, "qkv_bias": True, "mlp_layer": "swiglu", "act_layer": "silu", "qk_norm": True}, (2, 5, 16)),
    "timm_parallel_scaling_block": lambda: forward_case("timm", "ParallelScalingBlock", {"dim": 16, "num_heads": 2, "init_values": 0.1, "qk_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_parallel_scaling_block_qkv_bias_no_ls": lambda: forward_case("timm", "ParallelScalingBlock", {"dim": 16, "num_heads": 4, "mlp_ratio": 2.5, "qkv_bias": True, "act_layer": "gelu_tanh", "proj_bias": False}, (2, 5, 16), grads=True),
    "timm_diff_parallel_scaling_block": lambda: forward_case("timm", "DiffParallelScalingBlock", {"dim": 16, "num_heads": 2, "mlp_ratio": 5.0, "init_values": 1e-5, "depth": 1, "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_diff_parallel_scaling_block_qkv_bias_qk_norm": lambda: forward_case("timm", "DiffParallelScalingBlock", {"dim": 16, "num_heads": 4, "qkv_bias": True, "qk_norm": True, "norm_layer": "rmsnorm", "act_layer": "silu", "proj_bias": False}, (2, 5, 16)),
    "timm_parallel_things_block": lambda: forward_case("timm", "ParallelThingsBlock", {"dim": 16, "num_heads": 2, "qkv_bias": True, "init_values": 1e-5, "norm_eps": 1e-6}, (2, 5, 16), grads=True),
    "timm_parallel_things_block_diff_swiglu": lambda: forward_case("timm", "ParallelThingsBlock", {"dim": 16, "num_heads": 2, "attn_layer": "diff", "mlp_layer": "swiglu", "act_layer": "silu", "depth": 2, "scale_mlp_norm": True}, (2, 5, 16), grads=True),
    "timm_attention_pool_latent": lambda: forward_case("timm", "AttentionPoolLatent", {"in_features": 16, "num_heads": 4, "mlp_ratio": 3.0, "norm_layer": "rmsnorm", "norm_eps": 1e-6, "act_layer": "gelu_tanh"}, (2, 7, 16), grads=True),
    # whole models with current timm's options (<arch>_like: shaped after that timm architecture, tiny)
    "timm_vit_map_pool": lambda: forward_case("timm", VIT, dict(NEW_VIT, class_token=False, global_pool="map"), (2, 3, 12, 12), grads=True),
    "timm_vit_map_pool_include_prefix_reg_tokens": lambda: forward_case("timm", VIT, dict(NEW_VIT, global_pool="map", reg_tokens=2, pool_include_prefix=True), (2, 3, 12, 12), grads=True),
    "timm_vit_map_pool_reg_tokens": lambda: forward_case("timm", VIT, dict(NEW_VIT, class_token=False, global_pool="map", reg_tokens=4, mlp_ratio=2.572), (2, 3, 12, 12)),  # so150m reg4 map
    "timm_vit_aimv2_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, class_token=False, global_pool="avg", fc_norm=False, qkv_bias=False, proj_bias=False, act_layer="silu", norm_layer="rmsnorm", norm_eps=1e-5, embed_norm_layer="rmsnorm", embed_norm_eps=1e-5, mlp_layer="swiglu", mlp_ratio=2.75), (2, 3, 12, 12), grads=True),
    "timm_vit_clip_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, pre_norm=True, norm_eps=1e-5, act_layer="quick_gelu"), (2, 3, 12, 12), grads=True),
    "timm_vit_siglip_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, class_token=False, global_pool="map", act_layer="gelu_tanh", mlp_ratio=3.7362), (2, 3, 12, 12), grads=True),
    "timm_vit_siglip_gap_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, class_token=False, global_pool="avg", fc_norm=False, act_layer="gelu_tanh", num_classes=0), (2, 3, 12, 12)),
    "timm_vit_dinov2_giant_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, embed_dim=24, mlp_layer="swiglu_packed", act_layer="silu", init_values=1e-5, mlp_ratio=5.33334, reg_tokens=4, no_embed_class=True), (2, 3, 12, 12), grads=True),
    "timm_vit_beit3_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, scale_attn_norm=True, scale_mlp_norm=True, global_pool="avg", norm_eps=1e-5), (2, 3, 12, 12), grads=True),
    "timm_vit_xp_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, block_fn="parallel_scaling", norm_layer="rmsnorm", qk_norm=True, pre_norm=True, no_embed_class=True, qkv_bias=False), (2, 3, 12, 12), grads=True),
    "timm_vit_pwee_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, block_fn="parallel_scaling", init_values=1e-5, mlp_ratio=5.0, class_token=False, no_embed_class=True, reg_tokens=1, global_pool="avg"), (2, 3, 12, 12)),
    "timm_vit_dpwee_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, block_fn="diff_parallel_scaling", init_values=1e-5, mlp_ratio=5.0, class_token=False, no_embed_class=True, reg_tokens=1, global_pool="avg"), (2, 3, 12, 12), grads=True),
    "timm_vit_dwee_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, depth=3, attn_layer="diff", init_values=1e-5, mlp_ratio=5.0, class_token=False, no_embed_class=True, reg_tokens=1, global_pool="avg"), (2, 3, 12, 12), grads=True),
    "timm_vit_res_post_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, block_fn="res_post", qkv_bias=False, init_values=1e-5, class_token=False, global_pool="avg"), (2, 3, 12, 12), grads=True),
    "timm_vit_parallel_things_like": lambda: forward_case("timm", VIT, dict(NEW_VIT, block_fn="parallel_things", init_values=1e-5), (2, 3, 12, 12), grads=True),
    "timm_vit_pos_embed_none": lambda: forward_case("timm", VIT, dict(NEW_VIT, pos_embed="none"), (2, 3, 12, 12), grads=True),
    "timm_vit_dynamic_img_pad": lambda: forward_case("timm", VIT, dict(NEW_VIT, dynamic_img_size=True, dynamic_img_pad=True), (2, 3, 18, 13), grads=True),
    "timm_vit_dynamic_img_pad_pos_embed_none_max": lambda: forward_case("timm", VIT, dict(NEW_VIT, dynamic_img_size=True, dynamic_img_pad=True, pos_embed="none", class_token=False, reg_tokens=1, global_pool="max"), (1, 3, 10, 23)),
    "timm_vit_avg_pool_include_prefix": lambda: forward_case("timm", VIT, dict(NEW_VIT, global_pool="avg", pool_include_prefix=True, reg_tokens=1), (2, 3, 12, 12)),
    "timm_vit_embed_layernorm_no_final_norm": lambda: forward_case("timm", VIT, dict(NEW_VIT, embed_norm_layer="layernorm", pre_norm=True, final_norm=False, global_pool="avgmax"), (2, 3, 12, 12)),
    # forward_intermediates, prune_intermediate_layers, attention_maps
    "timm_intermediates_all_nchw": lambda: intermediates_case(dict(NEW_VIT, reg_tokens=1), (2, 3, 12, 12), dict(indices=None, norm=False, output_fmt="NCHW")),
    "timm_intermediates_first_last_norm_nlc_prefix": lambda: intermediates_case(dict(NEW_VIT, depth=3, reg_tokens=2), (2, 3, 12, 12), dict(indices=[0, -1], norm=True, output_fmt="NLC", return_prefix_tokens=True)),
    "timm_intermediates_stop_early_dynamic_pad": lambda: intermediates_case(dict(NEW_VIT, depth=3, dynamic_img_size=True, dynamic_img_pad=True), (2, 3, 18, 13), dict(indices=[1], norm=True, output_fmt="NCHW", intermediates_only=True, stop_early=True)),
    "timm_intermediates_last2_fc_norm_no_prefix": lambda: intermediates_case(dict(NEW_VIT, depth=3, class_token=False, global_pool="avg"), (2, 3, 12, 12), dict(indices=2, norm=True, output_fmt="NCHW", return_prefix_tokens=True)),
    "timm_intermediates_distilled_unordered": lambda: intermediates_case(dict(NEW_VIT, depth=3, distilled=True), (2, 3, 12, 12), dict(indices=[2, 0], norm=True, output_fmt="NLC", return_prefix_tokens=True)),
    "timm_intermediates_stop_early_final": lambda: intermediates_case(dict(NEW_VIT, depth=3, block_fn="diff_parallel_scaling", class_token=False, global_pool="avg", fc_norm=False), (2, 3, 12, 12), dict(indices=[-2], output_fmt="NCHW", stop_early=True)),
    "timm_prune_map_head": lambda: prune_case(dict(NEW_VIT, depth=3, class_token=False, global_pool="map"), (2, 3, 12, 12), dict(indices=[-2], prune_norm=True, prune_head=True)),
    "timm_prune_keep_head": lambda: prune_case(dict(NEW_VIT, depth=3, global_pool="avg"), (2, 3, 12, 12), dict(indices=2, prune_norm=False, prune_head=False)),
    "timm_prune_distilled": lambda: prune_case(dict(NEW_VIT, depth=3, distilled=True), (2, 3, 12, 12), dict(indices=[0], prune_norm=False, prune_head=True)),
    "timm_attention_maps_all": lambda: attention_case(dict(NEW_VIT, reg_tokens=1), (2, 3, 12, 12)),
    "timm_attention_maps_last_diff": lambda: attention_case(dict(NEW_VIT, depth=3, attn_layer="diff", class_token=False, global_pool="avg"), (2, 3, 12, 12), indices=1),
    "timm_attention_maps_parallel_things_diff": lambda: attention_case(dict(NEW_VIT, block_fn="parallel_things", attn_layer="diff"), (2, 3, 12, 12), indices=[-1, 0]),
    "timm_attention_maps_parallel_scaling": lambda: attention_case(dict(NEW_VIT, depth=3, block_fn="parallel_scaling", qk_norm=True), (1, 3, 12, 12), indices=[1]),
    "timm_attention_maps_diff_parallel_scaling_dynamic": lambda: attention_case(dict(NEW_VIT, block_fn="diff_parallel_scaling", dynamic_img_size=True, reg_tokens=1), (2, 3, 12, 20), indices=None),
    "timm_attention_maps_res_post": lambda: attention_case(dict(NEW_VIT, block_fn="res_post", init_values=0.5), (2, 3, 12, 12), indices=2),
    # relative-position biases (timm's VisionTransformerRelPos: relpos_vit, rel_pos_type, rel_pos_dim, shared_rel_pos)
    "timm_relpos_mlp_avg": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="mlp"), (2, 3, 12, 12), grads=True),
    "timm_relpos_mlp_cls_token": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="mlp", rel_pos_dim=24, class_token=True, global_pool="token", qkv_bias=False), (2, 3, 12, 12), grads=True),
    "timm_relpos_bias_clsgap": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="bias", class_token=True, fc_norm=True, qkv_bias=False), (2, 3, 12, 12), grads=True),
    "timm_relpos_bias_qk_norm": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="bias", qk_norm=True), (2, 3, 12, 12)),
    "timm_relpos_shared_mlp": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="mlp", rel_pos_dim=16, shared_rel_pos=True, qkv_bias=False), (2, 3, 12, 12), grads=True),
    "timm_relpos_shared_bias_cls_token": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="bias", shared_rel_pos=True, class_token=True, global_pool="token"), (2, 3, 12, 12), grads=True),
    "timm_relpos_res_post": lambda: forward_case("timm", VIT, relpos_vit(rel_pos_type="mlp", block_fn="res_post", qkv_bias=False), (2, 3, 12, 12), grads=True),
    "timm_relpos_mlp_swin_rect": lambda: forward_case("timm", VIT, relpos_vit(img_size=[12, 16], rel_pos_type="mlp_swin", rel_pos_dim=32, class_token=True), (2, 3, 12, 16), grads=True),
    "timm_relpos_train": lambda: forward_case("timm", VIT, relpos_vit(depth=3, rel_pos_type="mlp", rel_pos_dim=32, class_token=True, proj_drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.3), (4, 3, 12, 12), mode="train", grads=True),
    "timm_relpos_shared_mlp_swin_train": lambda: forward_case("timm", VIT, relpos_vit(img_size=[12, 16], rel_pos_type="mlp_swin", rel_pos_dim=16, shared_rel_pos=True, drop_path_rate=0.2), (3, 3, 12, 16), mode="train", grads=True),
    "timm_relpos_intermediates_bias_prefix": lambda: intermediates_case(relpos_vit(depth=3, rel_pos_type="bias", class_token=True), (2, 3, 12, 12), dict(indices=[0, -1], norm=True, output_fmt="NCHW", return_prefix_tokens=True)),
    "timm_relpos_attention_maps_shared_mlp": lambda: attention_case(relpos_vit(depth=3, rel_pos_type="mlp", rel_pos_dim=16, shared_rel_pos=True, class_token=True, global_pool="token"), (2, 3, 12, 12), indices=[-1, 0]),
    # dynamic int8 quantisation of the block GEMMs (InferenceModel's quantize 'int8')
    "timm_int8_vit": lambda: int8_case(dict(TINY_VIT, embed_dim=96, num_heads=3, depth=3), (3, 3, 32, 32)),
    "timm_int8_vit_layerscale_qk_norm": lambda: int8_case(dict(TINY_VIT, embed_dim=96, num_heads=3, init_values=0.1, qk_norm=True, reg_tokens=2, global_pool="avg", act_layer="quick_gelu", proj_bias=False), (2, 3, 32, 32)),
    "timm_int8_relpos_mlp_cls_token": lambda: int8_case(relpos_vit(embed_dim=96, num_heads=3, depth=3, img_size=[16, 12], rel_pos_type="mlp", rel_pos_dim=32, class_token=True, global_pool="token", init_values=0.1), (2, 3, 16, 12)),
    "timm_int8_relpos_shared_bias": lambda: int8_case(relpos_vit(embed_dim=96, num_heads=3, depth=3, rel_pos_type="bias", shared_rel_pos=True, init_values=0.1), (2, 3, 12, 12)),
    # full-size key layouts of current timm architectures (our kwargs for them: scripts/check_timm.py --dump-args)
    "timm_keys_vit_base_patch16_siglip_224": lambda: keys_case("timm", VIT, {"class_token": False, "global_pool": "map", "num_classes": 0}),
    "timm_keys_vit_base_patch16_xp_224": lambda: keys_case("timm", VIT, {"pre_norm": True, "no_embed_class": True, "norm_layer": "rmsnorm", "block_fn": "parallel_scaling", "qkv_bias": False, "qk_norm": True}),
    "timm_keys_vit_small_patch16_18x2_224": lambda: keys_case("timm", VIT, {"embed_dim": 384, "depth": 18, "num_heads": 6, "init_values": 1e-5, "block_fn": "parallel_things"}),
    "timm_keys_vit_dpwee_patch16_reg1_gap_256": lambda: keys_case("timm", VIT, {"img_size": 256, "embed_dim": 256, "depth": 16, "num_heads": 4, "init_values": 1e-5, "mlp_ratio": 5, "class_token": False, "no_embed_class": True, "reg_tokens": 1, "global_pool": "avg", "block_fn": "diff_parallel_scaling"}),
    "timm_keys_vit_dwee_patch16_reg1_gap_256": lambda: keys_case("timm", VIT, {"img_size": 256, "embed_dim": 256, "depth": 14, "num_heads": 4, "init_values": 1e-5, "mlp_ratio": 5, "class_token": False, "no_embed_class": True, "reg_tokens": 1, "global_pool": "avg", "attn_layer": "diff"}),
    "timm_keys_beit3_base_patch16_224": lambda: keys_case("timm", VIT, {"mlp_ratio": 4, "scale_attn_norm": True, "scale_mlp_norm": True, "class_token": True, "global_pool": "avg", "norm_layer": "layernorm", "norm_eps": 1e-5}),
    "timm_keys_vit_base_patch16_rpn_224": lambda: keys_case("timm", VIT, {"qkv_bias": False, "init_values": 1e-5, "class_token": False, "block_fn": "res_post", "global_pool": "avg"}),
    # ---- eva (timm's Eva family: tests/reference/eva.py, checked against timm by scripts/check_timm_eva.py) ----
    # RopeApply: a rotary embedding applied to (B, heads, h*w, head_dim) as Eva's attention applies it
    "eva_rope_cat_ij_ref": lambda: forward_case("eva", "RopeApply", {"rope_type": "cat", "embed_dim": 32, "num_heads": 2, "grid": [3, 4], "ref_feat_shape": [5, 5]}, (2, 2, 12, 16), grads=True),
    "eva_rope_cat_xy_offset_rect": lambda: forward_case("eva", "RopeApply", {"rope_type": "cat", "embed_dim": 32, "num_heads": 2, "grid": [2, 5], "grid_offset": 1.0, "grid_indexing": "xy", "ref_feat_shape": [4, 6], "temperature": 100.0}, (2, 2, 10, 16)),
    "eva_rope_mixed_xy": lambda: forward_case("eva", "RopeApply", {"rope_type": "mixed", "embed_dim": 32, "num_heads": 2, "depth": 3, "block": 1, "grid": [3, 4], "grid_indexing": "xy", "temperature": 10.0}, (2, 2, 12, 16), grads=True),
    "eva_rope_mixed_ij_block0": lambda: forward_case("eva", "RopeApply", {"rope_type": "mixed", "embed_dim": 16, "num_heads": 2, "depth": 2, "block": 0, "grid": [4, 2], "temperature": 10.0}, (2, 2, 8, 8), grads=True),
    "eva_rope_dinov3_rotate_half_rect": lambda: forward_case("eva", "RopeApply", {"rope_type": "dinov3", "embed_dim": 32, "num_heads": 2, "grid": [3, 5], "temperature": 100.0, "rotate_half": True}, (2, 2, 15, 16), grads=True),
    "eva_rope_dinov3_interleaved_xy": lambda: forward_case("eva", "RopeApply", {"rope_type": "dinov3", "embed_dim": 16, "num_heads": 2, "grid": [5, 2], "temperature": 100.0, "grid_indexing": "xy"}, (2, 2, 10, 8)),
    # EvaAttention ('eva' = timm's EvaAttention, 'rope' = timm's AttentionRope), without rope: the projections
    "eva_attention_fused_qv_bias": lambda: forward_case("eva", "EvaAttention", {"dim": 16, "num_heads": 2, "qkv_bias": True, "qkv_fused": True, "attn_type": "eva"}, (2, 7, 16), grads=True),
    "eva_attention_fused_no_bias": lambda: forward_case("eva", "EvaAttention", {"dim": 16, "num_heads": 2, "qkv_bias": False, "qkv_fused": True, "attn_type": "eva"}, (2, 5, 16)),
    "eva_attention_separate_scale_norm": lambda: forward_case("eva", "EvaAttention", {"dim": 24, "num_heads": 3, "qkv_bias": True, "qkv_fused": False, "attn_type": "eva", "scale_norm": True, "norm_eps": 1e-6}, (2, 6, 24), grads=True),
    "eva_attention_rope_type_fused": lambda: forward_case("eva", "EvaAttention", {"dim": 16, "num_heads": 2, "qkv_bias": True, "qkv_fused": True, "attn_type": "rope"}, (2, 7, 16), grads=True),
    "eva_attention_rope_type_separate_rms_scale_norm": lambda: forward_case("eva", "EvaAttention", {"dim": 16, "num_heads": 4, "qkv_bias": True, "qkv_fused": False, "attn_type": "rope", "scale_norm": True, "norm_layer": "rmsnorm", "norm_eps": 1e-5}, (2, 5, 16), grads=True),
    # EvaBlock (pre-norm, or post-norm with use_post_norm)
    "eva_block_swiglu_scale_mlp": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "qkv_fused": False, "mlp_ratio": 8 / 3, "swiglu_mlp": True, "scale_mlp": True}, (2, 7, 16), grads=True),
    "eva_block_swiglu_packed_layerscale": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "mlp_ratio": 8 / 3, "swiglu_mlp": True, "init_values": 0.1}, (2, 7, 16), grads=True),
    "eva_block_swiglu_align_to": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "mlp_ratio": 2.5, "swiglu_mlp": True, "swiglu_align_to": 16, "init_values": 1e-5, "norm_eps": 1e-5}, (2, 5, 16), grads=True),
    "eva_block_post_norm": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "mlp_ratio": 3.0, "use_post_norm": True}, (2, 7, 16), grads=True),
    "eva_block_post_norm_swiglu_align_ignored": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "mlp_ratio": 2.5, "use_post_norm": True, "swiglu_mlp": True, "swiglu_align_to": 16, "init_values": 0.5}, (2, 5, 16)),
    "eva_block_rope_attn_scale_inner": lambda: forward_case("eva", "EvaBlock", {"dim": 16, "num_heads": 2, "attn_type": "rope", "scale_attn_inner": True, "norm_eps": 1e-5}, (2, 7, 16), grads=True),
    # whole models (<arch>_like: shaped after that timm architecture's kwargs, tiny)
    "eva_eva02_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, qkv_fused=False, mlp_ratio=8 / 3, swiglu_mlp=True, scale_mlp=True, ref_feat_shape=[3, 3]), (2, 3, 16, 16), grads=True),
    "eva_eva02_clip_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_ROPE_CAT, qkv_fused=False, mlp_ratio=8 / 3, swiglu_mlp=True, scale_mlp=True, scale_attn_inner=True, ref_feat_shape=[4, 4], global_pool="token"), (2, 3, 12, 16), grads=True),
    "eva_giant_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, mlp_ratio=6144 / 1408), (2, 3, 16, 16), grads=True),
    "eva_eva02_enormous_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, mlp_ratio=15360 / 1792, use_post_norm=True, global_pool="token"), (2, 3, 16, 16), grads=True),
    "eva_vit_pe_core_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_PE, ref_feat_shape=[6, 6], global_pool="map", attn_pool_num_heads=4, attn_pool_mlp_ratio=2.0), (2, 3, 12, 16), grads=True),
    "eva_vit_pe_lang_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_PE, class_token=False, ref_feat_shape=[3, 3], use_post_transformer_norm=False, use_fc_norm=False, init_values=0.1), (2, 3, 12, 16), grads=True),
    "eva_vit_pe_spatial_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_PE, ref_feat_shape=[8, 8], use_post_transformer_norm=False, use_fc_norm=False, num_classes=0), (2, 3, 16, 16)),
    "eva_vit_dinov3_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_DINOV3, qkv_bias=False, swiglu_mlp=True, swiglu_align_to=8, mlp_ratio=2.3), (2, 3, 12, 20), grads=True),
    "eva_vit_dinov3_qkvb_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_DINOV3, qkv_bias=True), (2, 3, 16, 12), grads=True),
    "eva_vit_rope_mixed_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_ROPE_MIXED, init_values=1e-5, global_pool="token", use_abs_pos_emb=False), (2, 3, 12, 16), grads=True),
    "eva_vit_rope_mixed_ape_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_ROPE_MIXED, init_values=1e-5, global_pool="token", no_embed_class=True), (2, 3, 12, 16), grads=True),
    "eva_vit_rope_ape_like": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_ROPE_CAT, attn_type="rope", init_values=1e-5, global_pool="token", no_embed_class=True, rope_grid_indexing="xy", rope_temperature=100.0), (2, 3, 12, 16)),
    "eva_vit_rope_reg1_gap_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, init_values=1e-5, class_token=False, num_reg_tokens=1, use_abs_pos_emb=False, ref_feat_shape=[3, 3]), (2, 3, 16, 16), grads=True),
    "eva_dynamic_cat_rope_abs_pos": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, dynamic_img_size=True, ref_feat_shape=[4, 4]), (2, 3, 12, 20), grads=True),
    "eva_dynamic_img_pad": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, dynamic_img_size=True, dynamic_img_pad=True, num_reg_tokens=1, rope_grid_offset=0.5), (2, 3, 18, 13), grads=True),
    "eva_transposed_grids_cat": lambda: transposed_grids_case(dict(TINY_EVA, **EVA_ROPE_CAT, dynamic_img_size=True, ref_feat_shape=[4, 4]), (2, 3, 12, 20)),
    "eva_transposed_grids_mixed": lambda: transposed_grids_case(dict(TINY_EVA, **EVA_ROPE_MIXED, dynamic_img_size=True, global_pool="token"), (1, 3, 8, 24)),
    "eva_max_pool": lambda: forward_case("eva", EVA, dict(TINY_EVA, global_pool="max", qkv_bias=False), (2, 3, 16, 16)),
    "eva_avgmax_pool_reg_no_embed_class": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, global_pool="avgmax", num_reg_tokens=2, no_embed_class=True), (2, 3, 16, 16), grads=True),
    "eva_features_num_classes_0": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, num_classes=0), (2, 3, 16, 16)),
    "eva_no_pool_rmsnorm": lambda: forward_case("eva", EVA, dict(TINY_EVA, global_pool="", norm_layer="rmsnorm", use_pre_transformer_norm=True), (2, 3, 16, 16)),
    "eva_train_patch_drop_cat": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, num_reg_tokens=1, patch_drop_rate=0.3, proj_drop_rate=0.1), (3, 3, 16, 16), mode="train", grads=True),
    "eva_train_patch_drop_mixed": lambda: forward_case("eva", EVA, dict(EVA_RECT, **EVA_ROPE_MIXED, patch_drop_rate=0.5, global_pool="token"), (3, 3, 12, 16), mode="train", grads=True),
    "eva_train": lambda: forward_case("eva", EVA, dict(TINY_EVA, **EVA_ROPE_CAT, depth=3, init_values=0.1, drop_rate=0.2, pos_drop_rate=0.1, proj_drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.3), (4, 3, 16, 16), mode="train", grads=True),
    # forward_intermediates, prune_intermediate_layers, attention_maps
    "eva_intermediates_rope_cat_all_nchw": lambda: intermediates_case(dict(EVA_RECT, **EVA_ROPE_CAT, num_reg_tokens=1, ref_feat_shape=[3, 3]), (2, 3, 12, 16), dict(indices=None, norm=False, output_fmt="NCHW"), family="eva", module=EVA),
    "eva_intermediates_mixed_stop_early_prefix": lambda: intermediates_case(dict(EVA_RECT, **EVA_ROPE_MIXED, depth=3, global_pool="token"), (2, 3, 12, 16), dict(indices=[1], norm=True, output_fmt="NLC", return_prefix_tokens=True, stop_early=True), family="eva", module=EVA),
    "eva_intermediates_dinov3_last2_prefix": lambda: intermediates_case(dict(TINY_EVA, **EVA_DINOV3, depth=3), (2, 3, 12, 20), dict(indices=2, norm=True, output_fmt="NCHW", return_prefix_tokens=True, intermediates_only=True), family="eva", module=EVA),
    "eva_prune_mixed": lambda: prune_case(dict(EVA_RECT, **EVA_ROPE_MIXED, depth=3, global_pool="token"), (2, 3, 12, 16), dict(indices=[-2], prune_norm=True, prune_head=True), family="eva", module=EVA),
    "eva_prune_map_head": lambda: prune_case(dict(EVA_RECT, **EVA_PE, depth=3, ref_feat_shape=[6, 6], global_pool="map", attn_pool_num_heads=4, attn_pool_mlp_ratio=2.0), (2, 3, 12, 16), dict(indices=[0], prune_norm=False, prune_head=True), family="eva", module=EVA),
    "eva_attention_maps_rope_cat": lambda: attention_case(dict(TINY_EVA, **EVA_ROPE_CAT, qkv_fused=False, ref_feat_shape=[3, 3]), (2, 3, 16, 16), family="eva", module=EVA),
    "eva_attention_maps_mixed": lambda: attention_case(dict(EVA_RECT, **EVA_ROPE_MIXED, depth=3, global_pool="token"), (2, 3, 12, 16), indices=[-1, 0], family="eva", module=EVA),
    "eva_attention_maps_dinov3_reg": lambda: attention_case(dict(TINY_EVA, **EVA_DINOV3, depth=3), (2, 3, 12, 20), indices=1, family="eva", module=EVA),
    # BEiT (timm's Beit): relative-position bias tables, per block (use_rel_pos_bias) and shared (use_shared_rel_pos_bias)
    "eva_beit_attention_rel_pos_window": lambda: forward_case("eva", "EvaAttention", {"dim": 16, "num_heads": 2, "qkv_bias": True, "rel_pos_window": [2, 3]}, (2, 7, 16), grads=True),
    "eva_beit_like": lambda: forward_case("eva", EVA, dict(TINY_EVA, use_abs_pos_emb=False, use_rel_pos_bias=True, init_values=0.1, global_pool="avg"), (2, 3, 16, 16), grads=True),
    "eva_beit_shared_abs_pos": lambda: forward_case("eva", EVA, dict(TINY_EVA, use_shared_rel_pos_bias=True), (2, 3, 16, 16), grads=True),
    "eva_beit_both_rect_token": lambda: forward_case("eva", EVA, dict(EVA_RECT, use_rel_pos_bias=True, use_shared_rel_pos_bias=True, init_values=0.1, global_pool="token"), (2, 3, 12, 16), grads=True),
    "eva_beit_swiglu_scale_mlp": lambda: forward_case("eva", EVA, dict(TINY_EVA, use_abs_pos_emb=False, use_rel_pos_bias=True, swiglu_mlp=True, scale_mlp=True, mlp_ratio=8 / 3, init_values=0.1), (2, 3, 16, 16), grads=True),
    "eva_beit_train": lambda: forward_case("eva", EVA, dict(TINY_EVA, use_rel_pos_bias=True, use_shared_rel_pos_bias=True, init_values=0.1, proj_drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.2), (3, 3, 16, 16), mode="train", grads=True),
    "eva_beit_attention_maps_both": lambda: attention_case(dict(EVA_RECT, depth=3, use_rel_pos_bias=True, use_shared_rel_pos_bias=True, global_pool="token"), (2, 3, 12, 16), indices=[0, -1], family="eva", module=EVA),
    # full-size key layouts (our kwargs of each name: scripts/check_timm_eva.py --dump-zoo)
    "eva_keys_eva02_base_patch14_224": lambda: keys_case("eva", EVA, {"img_size": 224, "patch_size": 14, "embed_dim": 768, "depth": 12, "num_heads": 12, "qkv_fused": False, "mlp_ratio": 4 * 2 / 3, "swiglu_mlp": True, "scale_mlp": True, "use_rot_pos_emb": True, "ref_feat_shape": [16, 16], "num_classes": 0}),
    "eva_keys_vit_pe_core_large_patch14_336": lambda: keys_case("eva", EVA, {"img_size": [336, 336], "patch_size": 14, "embed_dim": 1024, "depth": 24, "num_heads": 16, "mlp_ratio": 4.0, "global_pool": "map", "attn_type": "rope", "use_pre_transformer_norm": True, "use_rot_pos_emb": True, "ref_feat_shape": [24, 24], "rope_grid_offset": 1.0, "rope_grid_indexing": "xy", "attn_pool_num_heads": 8, "attn_pool_mlp_ratio": 4.0, "norm_eps": 1e-5, "num_classes": 1024}),
    "eva_keys_vit_base_patch16_dinov3_qkvb": lambda: keys_case("eva", EVA, {"img_size": [256, 256], "patch_size": 16, "dynamic_img_size": True, "embed_dim": 768, "depth": 12, "num_heads": 12, "qkv_bias": True, "init_values": 1e-5, "rope_type": "dinov3", "rope_temperature": 100, "rope_rotate_half": True, "use_rot_pos_emb": True, "use_abs_pos_emb": False, "num_reg_tokens": 4, "use_fc_norm": False, "norm_eps": 1e-5, "num_classes": 0}),
    "eva_keys_vit_base_patch16_rope_mixed_224": lambda: keys_case("eva", EVA, {"img_size": [224, 224], "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4, "qkv_bias": True, "attn_type": "rope", "init_values": 1e-5, "class_token": True, "global_pool": "token", "use_abs_pos_emb": False, "use_rot_pos_emb": True, "rope_grid_indexing": "xy", "rope_temperature": 10.0, "rope_type": "mixed", "num_classes": 1000}),
    # ---- vit-pytorch (0.35.x, and the 1.0.x and current layouts) ----
    "vit_pytorch_patch_rearrange": lambda: forward_case("vit_pytorch", "PatchRearrange", {"p1": 4, "p2": 8}, (2, 3, 16, 32)),
    "vit_pytorch_prenorm_feedforward": lambda: forward_case("vit_pytorch", "PreNorm", {"dim": 32, "fn": {"module": "FeedForward", "hidden_dim": 64}}, (2, 5, 32), grads=True),
    "vit_pytorch_prenorm_attention": lambda: forward_case("vit_pytorch", "PreNorm", {"dim": 32, "fn": {"module": "Attention", "heads": 2, "dim_head": 8}}, (2, 5, 32)),
    "vit_pytorch_attention": lambda: forward_case("vit_pytorch", "Attention", {"dim": 32, "heads": 4, "dim_head": 16}, (2, 9, 32), grads=True),
    "vit_pytorch_attention_no_project": lambda: forward_case("vit_pytorch", "Attention", {"dim": 32, "heads": 1, "dim_head": 32}, (2, 9, 32), grads=True),
    "vit_pytorch_attention_dropout_train": lambda: forward_case("vit_pytorch", "Attention", {"dim": 32, "heads": 2, "dim_head": 8, "dropout": 0.25}, (2, 9, 32), mode="train"),
    "vit_pytorch_feedforward": lambda: forward_case("vit_pytorch", "FeedForward", {"dim": 32, "hidden_dim": 48}, (3, 4, 32), grads=True),
    "vit_pytorch_feedforward_dropout_train": lambda: forward_case("vit_pytorch", "FeedForward", {"dim": 32, "hidden_dim": 48, "dropout": 0.2}, (3, 4, 32), mode="train"),
    "vit_pytorch_transformer": lambda: forward_case("vit_pytorch", "Transformer", {"dim": 32, "depth": 2, "heads": 2, "dim_head": 8, "mlp_dim": 64}, (2, 6, 32), grads=True),
    "vit_pytorch_vit": lambda: forward_case("vit_pytorch", "ViT", TINY_LUCID, (2, 3, 32, 32), grads=True),
    "vit_pytorch_vit_mean_rect_gray": lambda: forward_case("vit_pytorch", "ViT", {"image_size": [32, 48], "patch_size": [8, 16], "num_classes": 6, "dim": 48, "depth": 2, "heads": 3, "mlp_dim": 96, "pool": "mean", "channels": 1, "dim_head": 16}, (3, 1, 32, 48), grads=True),
    "vit_pytorch_vit_dropout_train": lambda: forward_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, dropout=0.1, emb_dropout=0.1), (4, 3, 32, 32), mode="train", grads=True),
    "vit_pytorch_vit_smaller_input": lambda: forward_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, depth=1), (2, 3, 16, 24)),
    "vit_pytorch_vit_layout_1_0": lambda: forward_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, layout="1.0"), (2, 3, 32, 32), grads=True),
    "vit_pytorch_vit_layout_current": lambda: forward_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, layout="current"), (2, 3, 32, 32), grads=True),
    "vit_pytorch_vit_layout_current_mean": lambda: forward_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, layout="current", pool="mean", channels=2), (2, 2, 32, 32)),
    "vit_pytorch_transformer_current_train": lambda: forward_case("vit_pytorch", "Transformer", {"dim": 32, "depth": 2, "heads": 2, "dim_head": 8, "mlp_dim": 64, "dropout": 0.2, "layout": "current"}, (2, 6, 32), mode="train"),
    "vit_pytorch_init_vit_current": lambda: init_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, layout="current")),
    "vit_pytorch_init_vit_1_0": lambda: init_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16, layout="1.0")),
    "vit_pytorch_init_vit": lambda: init_case("vit_pytorch", "ViT", dict(TINY_LUCID, dim_head=16)),
    "vit_pytorch_keys_seed_example": lambda: keys_case("vit_pytorch", "ViT", {"image_size": 256, "patch_size": 32, "num_classes": 1000, "dim": 1024, "depth": 6, "heads": 16, "mlp_dim": 2048, "dropout": 0.1, "emb_dropout": 0.1}),
    # ---- training (tests/test_train.cpp) ----
    "training_losses": lambda: training_losses_case(),
    "training_steps": lambda: training_steps_case(),
    "training_param_groups_timm_layer_decay": lambda: param_groups_case(
        "timm", VIT, dict(SMALL_VIT, depth=3, reg_tokens=2, class_token=False, global_pool="avg", fc_norm=True, init_values=0.1),
        layer_decay=0.75),
    "training_param_groups_timm_pre_norm_map": lambda: param_groups_case(
        "timm", VIT, dict(SMALL_VIT, pre_norm=True, global_pool="map"), layer_decay=0.6),
    "training_param_groups_deit_distilled": lambda: param_groups_case("timm", VIT, dict(SMALL_VIT, distilled=True), layer_decay=0.65),
    "training_param_groups_deit_freeze": lambda: param_groups_case("timm", VIT, dict(SMALL_VIT, distilled=True), freeze=True),
    "training_param_groups_vit_pytorch": lambda: param_groups_case("vit_pytorch", "ViT", dict(TINY_LUCID, layout="current"), layer_decay=0.8),
    "training_random_resized_crop": lambda: random_resized_crop_case(),
    "training_buckets": lambda: buckets_case(),
}

# ---- checkpoint directories in the Hugging Face hub layout, written by real torch.save ----------
# Each is OUT/checkpoints/<name>/ with config.json and weights, and OUT/checkpoints/<name>.expected.safetensors
# holds an input and the logits the Python reference computes from exactly those weights.

def _timm_model(arch_args, seed):
    torch.manual_seed(seed)
    model = timm_ref.VisionTransformer(**arch_args)
    randomize(model, torch.Generator().manual_seed(seed))
    return model.eval()


ZOO_BASE = {  # the zoo entries the checkpoint cases name (D, depth, heads, patch, img, distilled)
    "vit_tiny_patch16_224": dict(embed_dim=192, depth=12, num_heads=3, patch_size=16, img_size=224),
    "deit_small_distilled_patch16_224": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16, img_size=224, distilled=True),
    "vit_small_patch16_224": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16, img_size=224),
}
SMALL_OVERRIDES = dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=7)


def checkpoint_case(out, name, architecture, model_args, weights, seed=11, dtype=None, input_hw=(32, 32),
                    label_names=None, resample_from=None):
    d = os.path.join(out, "checkpoints", name)
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(seed + 1)
    if architecture == "vit_pytorch":
        torch.manual_seed(seed)
        model = lucid_ref.ViT(**model_args).eval()
        randomize(model, torch.Generator().manual_seed(seed))
        channels = model_args.get("channels", 3)
    else:
        arch_args = dict(ZOO_BASE[architecture], **model_args)
        model = _timm_model(arch_args, seed)
        channels = arch_args.get("in_chans", 3)
    sd = model.state_dict()
    if dtype is not None:  # the file stores reduced precision; the reference computes from the rounded values
        sd = {k: v.to(dtype) for k, v in sd.items()}
        model.load_state_dict({k: v.float() for k, v in sd.items()})
    saved_sd = sd
    if resample_from is not None:  # the file holds a checkpoint trained at another size
        small = _timm_model(dict(ZOO_BASE[architecture], **dict(model_args, img_size=resample_from)), seed)
        saved_sd = small.state_dict()
        pos = timm_ref.resample_abs_pos_embed(saved_sd["pos_embed"], model.patch_embed.grid_size,
                                              num_prefix_tokens=model.num_prefix_tokens)
        model.load_state_dict(dict(saved_sd, pos_embed=pos))
    x = torch.randn((2, channels) + tuple(input_hw), generator=gen)
    with torch.no_grad():
        y = model(x)
    config = {"architecture": architecture,
              "model_args": {k: v for k, v in model_args.items() if k != "layout"}}
    if label_names:
        config["label_names"] = label_names
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    kind, fname = weights
    if kind == "safetensors":
        save_file(dict(saved_sd), os.path.join(d, fname))
    elif kind == "state_dict":  # torch.save(model.state_dict()): an OrderedDict
        torch.save(saved_sd, os.path.join(d, fname))
    elif kind == "plain_dict":
        torch.save(dict(saved_sd), os.path.join(d, fname))
    elif kind == "deit":  # as DeiT's main.py saves: nested, with optimizer state and argparse args
        import argparse
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        torch.save({"model": saved_sd, "optimizer": opt.state_dict(), "epoch": 3, "max_accuracy": 81.2,
                    "args": argparse.Namespace(lr=5e-4, model=architecture)}, os.path.join(d, fname))
    elif kind == "ddp":  # a DistributedDataParallel state dict
        torch.save({"state_dict": {"module." + k: v for k, v in saved_sd.items()}}, os.path.join(d, fname))
    save_file({"input": x, "output": y}, d + ".expected.safetensors")


def checkpoints(out):
    checkpoint_case(out, "timm_safetensors", "vit_tiny_patch16_224", SMALL_OVERRIDES, ("safetensors", "model.safetensors"),
                    label_names=[f"class {i}" for i in range(7)])
    checkpoint_case(out, "timm_ordereddict_bin", "vit_small_patch16_224", dict(SMALL_OVERRIDES, global_pool="avg", reg_tokens=2, init_values=0.1, qk_norm=True),
                    ("state_dict", "pytorch_model.bin"))
    checkpoint_case(out, "deit_distilled_nested_pth", "deit_small_distilled_patch16_224", SMALL_OVERRIDES, ("deit", "checkpoint.pth"))
    checkpoint_case(out, "timm_ddp_pt", "vit_tiny_patch16_224", dict(SMALL_OVERRIDES, representation_size=20), ("ddp", "weights.pt"))
    checkpoint_case(out, "timm_bf16_safetensors", "vit_tiny_patch16_224", dict(SMALL_OVERRIDES, no_embed_class=True, class_token=False, global_pool="avg"),
                    ("safetensors", "model.safetensors"), dtype=torch.bfloat16)
    checkpoint_case(out, "timm_resampled_plain_dict", "vit_tiny_patch16_224", dict(SMALL_OVERRIDES, img_size=48), ("plain_dict", "pytorch_model.bin"),
                    input_hw=(48, 48), resample_from=32)
    lucid = dict(image_size=32, patch_size=8, num_classes=5, dim=32, depth=2, heads=2, mlp_dim=64, dim_head=16)
    checkpoint_case(out, "vit_pytorch_1_0_safetensors", "vit_pytorch", dict(lucid, layout="1.0"), ("safetensors", "model.safetensors"))
    checkpoint_case(out, "vit_pytorch_current_bin", "vit_pytorch", dict(lucid, layout="current"), ("state_dict", "pytorch_model.bin"))
    checkpoint_case(out, "vit_pytorch_current_mean_pth", "vit_pytorch", dict(lucid, layout="current", pool="mean"), ("plain_dict", "model.pth"))
    checkpoint_case(out, "vit_pytorch_pth", "vit_pytorch", dict(image_size=32, patch_size=8, num_classes=5, dim=32, depth=2, heads=2, mlp_dim=64, dim_head=16, pool="mean"),
                    ("plain_dict", "model.pth"))


# ---- images and their preprocessing (tests/reference/preprocess.py) --------------------------------

def images(out):
    from PIL import Image
    import numpy as np
    from preprocess import preprocess
    d = os.path.join(out, "images")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(5)
    # smooth gradients plus noise, so resampling and JPEG have something to do
    def picture(w, h, channels):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 / max(w - 1, 1)), (yy * 255 / max(h - 1, 1)), ((xx + yy) * 127 / max(w + h - 2, 1))], -1)
        noisy = base[..., :channels] + rng.normal(0, 25, (h, w, channels))
        return np.clip(noisy, 0, 255).astype(np.uint8)
    files = {
        "rgb_wide.png": Image.fromarray(picture(97, 61, 3)),
        "rgb_tall.jpg": Image.fromarray(picture(50, 83, 3)),
        "gray.png": Image.fromarray(picture(45, 45, 1)[..., 0], "L"),
        "gray.jpg": Image.fromarray(picture(71, 40, 1)[..., 0], "L"),
        "rgba.png": Image.fromarray(picture(40, 52, 3)).convert("RGBA"),
        "small_upscaled.png": Image.fromarray(picture(21, 17, 3)),
    }
    cases = {}
    for name, img in files.items():
        path = os.path.join(d, name)
        if name.endswith(".jpg"):
            img.save(path, quality=90)
        else:
            img.save(path)
        for size, crop_pct, interp in ((32, 0.875, "bicubic"), (24, 0.9, "bicubic"), (32, 1.0, "bilinear")):
            cases[f"{name}/{size}/{crop_pct}/{interp}"] = preprocess(path, size, crop_pct, interpolation=interp)
        for size, crop_pct, interp in ((32, 0.9, "bicubic"), (24, 1.0, "bilinear")):  # SigLIP's squash
            cases[f"{name}/{size}/{crop_pct}/{interp}/squash"] = preprocess(path, size, crop_pct, interpolation=interp,
                                                                            crop_mode="squash")
    save_file(cases, os.path.join(d, "expected.safetensors"))

    # what `vit classify` must report for the timm_safetensors checkpoint: its probabilities per image,
    # preprocessed as its config.json leaves it to the architecture: timm's default pretrained_cfg of
    # vit_tiny_patch16_224 (crop_pct 0.9, bicubic, mean = std = 0.5) at the model's input size 32
    from check_saved import build
    from safetensors_io import load_file
    ckpt = os.path.join(out, "checkpoints", "timm_safetensors")
    with open(os.path.join(ckpt, "config.json")) as f:
        config = json.load(f)
    state, _ = load_file(os.path.join(ckpt, "model.safetensors"))
    model = build(config, state).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        probs = {name: model(preprocess(os.path.join(d, name), 32, 0.9, mean=(0.5,) * 3, std=(0.5,) * 3).unsqueeze(0)).softmax(-1)[0]
                 for name in files}
    save_file(probs, os.path.join(d, "classify_expected.safetensors"))


def training_losses_case(seed=21):
    """Loss values on random logits: label-smoothed cross-entropy and both DeiT distillation losses."""
    gen = torch.Generator().manual_seed(seed)
    cls, dist, teacher = (3 * torch.randn(6, 10, generator=gen) for _ in range(3))
    labels = torch.randint(0, 10, (6,), generator=gen)
    config = dict(smoothing=0.1, alpha=0.3, tau=2.5)
    tensors = dict(cls=cls, dist=dist, teacher=teacher, labels=labels,
                   smoothed=training.smoothed_cross_entropy(cls, labels, 0.1).reshape(1),
                   hard=training.distillation_loss(cls, dist, labels, teacher, "hard", 0.3, 2.5, 0.1).reshape(1),
                   soft=training.distillation_loss(cls, dist, labels, teacher, "soft", 0.3, 2.5, 0.1).reshape(1))
    return tensors, describe("timm", "DistillationLoss", config, kind="training", seed=seed)


def training_steps_case(seed=22):
    """Two full-batch Trainer steps of a small timm ViT on uint8 images (constant lr, no augmentation)."""
    config = dict(img_size=28, patch_size=7, in_chans=3, num_classes=10, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build("timm", VIT, config)
    randomize(model, gen)
    images = torch.randint(0, 256, (16, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (16,), generator=gen)
    tensors = {"param/" + k: v.clone() for k, v in model.state_dict().items()}
    train = dict(lr=3e-3, weight_decay=0.05, smoothing=0.1, clip=0.5, mean=0.2860, std=0.3530)
    losses = training.train_steps(model, images, labels, 2, **train)
    tensors.update({"after/" + k: v for k, v in model.state_dict().items()})
    tensors.update(images=images, labels=labels, losses=losses)
    return tensors, describe("timm", VIT, config, kind="training", seed=seed, train=json.dumps(train))


def param_groups_case(family, module, config, layer_decay=1., freeze=False, weight_decay=0.05):
    """Each trained parameter's learning-rate scale and weight decay (timm's layer-decay groups)."""
    model = build(family, module, config)
    distilled = bool(config.get("distilled"))
    classifier = ("head", "head_dist") if distilled else ("head",) if family == "timm" else ("mlp_head",)
    groups = training.param_groups(model, family, weight_decay, layer_decay, freeze, classifier, distilled)
    names = list(groups)
    tensors = dict(lr_scale=torch.tensor([groups[n][0] for n in names], dtype=torch.float64),
                   weight_decay=torch.tensor([groups[n][1] for n in names], dtype=torch.float64))
    return tensors, describe(family, module, config, kind="param_groups", names=json.dumps(names),
                             options=json.dumps(dict(weight_decay=weight_decay, layer_decay=layer_decay, freeze=freeze)))


def random_resized_crop_case(seed=23):
    """RandomResizedCrop boxes for images of many sizes and scales, from given uniform numbers (one
    row each: up to 10 tries of two, then two offsets), and the whole training transform of two
    images (crop, resize to a non-square size with both filters, flip) from given numbers."""
    from PIL import Image
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 400, (300, 2), generator=gen)
    sizes[::7, 0] = sizes[::7, 1] * 9  # very wide: the center-crop fallback
    sizes[3::7, 1] = sizes[3::7, 0] * 9  # very tall
    scales = torch.tensor([0.08, 0.3, 0.9, 1.0], dtype=torch.float64)[torch.randint(0, 4, (300,), generator=gen)]
    uniforms = torch.rand(300, 22, generator=gen, dtype=torch.float64)
    boxes = []
    for (w, h), lo, us in zip(sizes.tolist(), scales.tolist(), uniforms.tolist()):
        it = iter(us)
        boxes.append(training.random_resized_crop_box(w, h, (lo, 1.), (3 / 4, 4 / 3), lambda: next(it)))
    tensors = dict(sizes=sizes, scales=scales, uniforms=uniforms, boxes=torch.tensor(boxes, dtype=torch.int64))
    images_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "images")
    transforms = []
    for k, (name, interpolation, crop_scale) in enumerate([("rgb_tall.jpg", "bicubic", 0.08), ("rgb_wide.png", "bilinear", 0.5),
                                                           ("rgba.png", "bicubic", 1.0)]):
        us = torch.rand(22, generator=gen, dtype=torch.float64)
        it = iter(us.tolist())
        img = Image.open(os.path.join(images_dir, name)).convert("RGB")
        tensors[f"transform{k}/uniforms"] = us
        tensors[f"transform{k}/pixels"] = training.train_transform(img, (24, 40), crop_scale, True, lambda: next(it), interpolation,
                                                                  mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
        transforms.append(dict(image=name, interpolation=interpolation, crop_scale=crop_scale))
    return tensors, describe("timm", "RandomResizedCrop", dict(ratio=[3 / 4, 4 / 3], input_size=[3, 24, 40], mean=[0.5, 0.4, 0.3],
                                                              std=[0.2, 0.25, 0.3]),
                             kind="training", seed=seed, transforms=json.dumps(transforms))


def buckets_case(seed=24):
    """DDP's bucket assignment of a small ViT's parameters at a 4 KiB cap, and the bucketed sum of two
    ranks' gradients (one batch each), which must be the plain sum."""
    config = dict(img_size=28, patch_size=7, in_chans=3, num_classes=10, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.)
    gen = torch.Generator().manual_seed(seed)
    model = build("timm", VIT, config)
    randomize(model, gen)
    images = torch.randint(0, 256, (2, 4, 1, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (2, 4), generator=gen)
    grads = []
    for r in range(2):
        model.zero_grad()
        x = training.normalise(images[r], 0.2860, 0.3530)
        training.smoothed_cross_entropy(model(x), labels[r], 0.1).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    numels = [p.numel() for p in model.parameters()]
    buckets = training.bucket_assignment(numels, 4096)
    summed = training.bucketed_sum(grads, buckets)
    for a, b, c in zip(summed, grads[0], grads[1]):
        assert torch.allclose(a, b + c, rtol=0, atol=1e-6)
    tensors = {"param/" + k: v.clone() for k, v in model.state_dict().items()}
    tensors.update(images=images, labels=labels)
    names = [n for n, _ in model.named_parameters()]
    tensors.update({"sum/" + n: g for n, g in zip(names, summed)})
    return tensors, describe("timm", VIT, config, kind="training", seed=seed, cap_bytes="4096",
                             buckets=json.dumps(buckets))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "golden")
    patterns = sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    names = [n for n in CASES if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]
    assert names, f"no case matches {patterns}"
    for name in names:
        tensors, meta = CASES[name]()
        save_file(tensors, os.path.join(out_dir, name + ".safetensors"), meta)
    if patterns:
        print(f"wrote {len(names)} golden cases to {out_dir}")
        return
    checkpoints(out_dir)
    images(out_dir)
    print(f"wrote {len(CASES)} golden cases and checkpoint directories to {out_dir}")


if __name__ == "__main__":
    main()
