#!/usr/bin/env python3
"""Checks vitcpp against real timm on every architecture timm registers in its vision_transformer, deit
and vision_transformer_relpos modules (--module: some of them), each shrunk to tiny widths (depth 3, 4
heads, 64-128 wide, 3x2 patches; the relative-position models keep their fixed input size, the shrunk
img_size) with perturbed random weights, on a random input.

  --reference        builds tests/reference/vision_transformer.py's VisionTransformer from timm's
                     keyword arguments of the name (mapped to our option names, as vitcpp's zoo maps
                     them), loads timm's state_dict strictly (the keys must be timm's, in timm's order)
                     and compares forward, forward_head(pre_logits=True), forward_intermediates
                     (NCHW/NLC, norm on/off, prefix tokens, stop_early), attention maps (timm's
                     softmax at attn_drop) and a pruned model.
  --cpp VIT_BINARY   writes a hub directory per name (config.json with timm's names and the shrunk
                     model_args, model.safetensors with timm's state_dict, input.safetensors) and runs
                     `VIT_BINARY run` on it with each --backends entry, comparing the logits with timm's
                     (a distilled model's: the mean of its heads), and, when the binary has it,
                     `VIT_BINARY run --features` against timm's forward_head(pre_logits=True).
  --goldens DIR      checks the golden files DIR/timm_*.safetensors of relative-position models (config
                     rel_pos_type; tests/reference/generate_goldens.py) against timm's
                     VisionTransformerRelPos built from the file's config and parameters: outputs and
                     gradients (train-mode files too, seeded as generated, timm's DropPath drawing as
                     timm 0.5 did, as our reference does; not those with attention dropout).
  --dry-run          timm's side only: each name mapped to our kwargs, shrunk, built, run and its hub
                     directory written (--keep DIR keeps them); nothing of ours runs.
  --dump-args FILE   writes {name: {class, timm kwargs, our kwargs, pretrained_cfg}} of the full-size names.

Numbers are compared as torch.allclose(ours, timm, rtol=1e-4, atol=1e-4 * max(1, max|timm|)); the
tables give the largest absolute difference. Needs only torch (timm's own imports: torchvision too).

The names' keyword arguments come from scripts/zoo_from_timm.py (timm's entrypoint kwargs, and
VisionTransformerRelPos's own defaults, in our option names: the mapping src/zoo.cpp's table is made with).

usage: /usr/bin/python3 scripts/check_timm.py --reference [--timm-src PATH] [--module M ...] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm.py --cpp build/vit [--backends plain,auto] [--keep DIR] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm.py --cpp build/vit --module vision_transformer_relpos
       /usr/bin/python3 scripts/check_timm.py --dump-args FILE   (our kwargs of every full-size name, JSON)
       /usr/bin/python3 scripts/check_timm.py --goldens tests/golden   (relative-position golden files vs timm)
       /usr/bin/python3 scripts/check_timm.py --dry-run [--module M ...]
"""
import argparse
import copy
import fnmatch
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_DIR = os.path.join(HERE, "..", "tests", "reference")
sys.path.insert(0, REFERENCE_DIR)
import vision_transformer as ref  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402
sys.path.insert(0, HERE)
import zoo_from_timm as zoo  # noqa: E402  (timm's kwargs of a name, and their mapping to our names)

RTOL = 1e-4

# timm's modules whose names are VisionTransformer-family names of the zoo
MODULES = ("vision_transformer", "deit", "vision_transformer_relpos")


# ---- timm's keyword arguments of a name, in our names ---------------------------------------------

def timm_kwargs(timm, name):
    """(model class, keyword arguments the entrypoint passes to build_model_with_cfg plus the defaults the
    builder adds from the pretrained_cfg (num_classes, in_chans, global_pool, and img_size where
    fixed_input_size), pretrained_cfg), nothing built: zoo_from_timm.timm_kwargs."""
    cls, kwargs, cfg = zoo.timm_kwargs(timm, name, with_cfg_defaults=True)
    return cls, {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}, cfg


# timm layers -> our names (shared with scripts/check_timm_eva.py)
norm_spec, act_name, mlp_name = zoo.norm_spec, zoo.act_name, zoo.mlp_name


def to_reference_kwargs(cls, kwargs):
    """Our VisionTransformer's keyword arguments for timm's model class (VisionTransformer,
    VisionTransformerDistilled, VisionTransformerRelPos) and keyword arguments: the zoo's mapping
    (zoo_from_timm.translate), the relative-position class's own defaults included."""
    family, out = zoo.translate(cls, kwargs)
    if family != "vision_transformer":
        raise ValueError(f"unsupported model class {getattr(cls, '__name__', cls)}")
    return out


# ---- the shrunk model ------------------------------------------------------------------------------

def shrink(kwargs, cfg):
    """timm-named overrides that make a name tiny, and the input size (H, W)."""
    patch = kwargs.get("patch_size", 16)
    ph, pw = patch if isinstance(patch, (tuple, list)) else (patch, patch)
    mlp_ratio = kwargs.get("mlp_ratio", 4.)
    packed = mlp_name(kwargs["mlp_layer"]) in ("glu", "swiglu_packed") if "mlp_layer" in kwargs else False
    num_heads = 4
    embed_dim = next(d for d in (64, 96, 128, 192) if not packed or int(d * mlp_ratio) % 2 == 0)
    num_classes = 0 if cfg.get("num_classes") == 0 else 7
    overrides = dict(depth=3, embed_dim=embed_dim, num_heads=num_heads, img_size=[3 * ph, 2 * pw],
                     num_classes=num_classes)
    input_hw = (2 * ph, 4 * pw) if kwargs.get("dynamic_img_size") else (3 * ph, 2 * pw)
    return overrides, input_hw


def perturb(model, gen):
    """Distinctive values everywhere: norm weights and LayerScale 1 + 0.1 randn, other vectors (biases,
    lambdas) 0.1 randn, tokens / position embedding / latent 0.5 randn, matrices randn / sqrt(fan_in)."""
    norm_weights = set()
    for module in model.modules():
        if "norm" in type(module).__name__.lower() and getattr(module, "weight", None) is not None:
            norm_weights.add(id(module.weight))
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if id(p) in norm_weights or leaf == "gamma":
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif leaf in ("cls_token", "dist_token", "reg_token", "pos_embed", "latent"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def timm_case(timm, name):
    """Everything one name needs: timm's kwargs, the shrunk timm model (eval, perturbed), input, output.
    The input is img_size unless the model takes any size (dynamic_img_size), so the fixed windows of
    the relative-position models are the shrunk grid's."""
    cls, kwargs, cfg = timm_kwargs(timm, name)
    overrides, (h, w) = shrink(kwargs, cfg)
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **overrides)
    return _finish_case(model, seed, cls, kwargs, cfg, overrides, (h, w))


# The module of each model class timm's names build (the extras of a class run with its module).
CLASS_MODULES = {"VisionTransformer": "vision_transformer", "VisionTransformerDistilled": "deit",
                 "VisionTransformerRelPos": "vision_transformer_relpos"}


def timm_class(name):
    """timm's model class of that name (one of CLASS_MODULES)."""
    import importlib
    return getattr(importlib.import_module(f"timm.models.{CLASS_MODULES[name]}"), name)


def extra_case(timm, label, kwargs, input_hw, cls_name="VisionTransformer"):
    """A configuration no registered name has, built from timm's classes directly (--reference only)."""
    cls = timm_class(cls_name)
    kwargs = dict(EXTRA_BASE, **kwargs(timm))
    seed = zlib.crc32(label.encode())
    torch.manual_seed(seed)
    return _finish_case(cls(**kwargs), seed, cls, kwargs, {}, {}, input_hw)


def _finish_case(model, seed, cls, kwargs, cfg, overrides, hw):
    h, w = hw
    gen = torch.Generator().manual_seed(seed)
    perturb(model, gen)
    model.eval()
    x = torch.randn((2, 3, h, w), generator=gen)
    with torch.no_grad():
        y = model(x)
        features = model.forward_head(model.forward_features(x), pre_logits=True)
    ours = dict(to_reference_kwargs(cls, kwargs), **overrides)
    return dict(cls=cls, kwargs=kwargs, cfg=cfg, overrides=overrides, ours=ours, model=model, input=x, output=y,
                features=features)


# Configurations beyond the registered names (options no name uses, and other combinations), as timm
# keyword arguments on top of EXTRA_BASE; each a function of the timm module, for its classes.
EXTRA_BASE = dict(img_size=[48, 32], patch_size=16, embed_dim=64, depth=3, num_heads=4, num_classes=5)


def _layers(timm):
    import timm.layers as L
    return L


VIT, DISTILLED, RELPOS = "VisionTransformer", "VisionTransformerDistilled", "VisionTransformerRelPos"
EXTRAS = [
    ("pos_embed_none", lambda t: dict(pos_embed="none"), (48, 32), VIT),
    ("pos_embed_none_dynamic_reg", lambda t: dict(pos_embed="none", dynamic_img_size=True, reg_tokens=2,
                                                  class_token=False, global_pool="avg"), (32, 64), VIT),
    ("dynamic_img_pad", lambda t: dict(dynamic_img_size=True, dynamic_img_pad=True), (50, 21), VIT),
    ("dynamic_img_pad_no_embed_class_map", lambda t: dict(dynamic_img_size=True, dynamic_img_pad=True,
                                                          no_embed_class=True, reg_tokens=1, global_pool="map"),
     (17, 50), VIT),
    ("avg_pool_include_prefix", lambda t: dict(global_pool="avg", pool_include_prefix=True, reg_tokens=2), (48, 32), VIT),
    ("max_pool_include_prefix", lambda t: dict(global_pool="max", pool_include_prefix=True, fc_norm=False), (48, 32), VIT),
    ("avgmax_fc_norm_default", lambda t: dict(global_pool="avgmax", reg_tokens=1), (48, 32), VIT),
    ("map_with_class_token", lambda t: dict(global_pool="map", reg_tokens=1, norm_layer="rmsnorm",
                                            act_layer="quick_gelu"), (48, 32), VIT),
    ("map_include_prefix_fc_norm", lambda t: dict(global_pool="map", pool_include_prefix=True, fc_norm=True),
     (48, 32), VIT),
    ("no_pool_features", lambda t: dict(global_pool="", num_classes=0, class_token=False), (48, 32), VIT),
    ("parallel_things_diff_swiglu_scale_norms", lambda t: dict(
        block_fn=t.models.vision_transformer.ParallelThingsBlock, attn_layer="diff", mlp_layer=_layers(t).SwiGLU,
        scale_attn_norm=True, scale_mlp_norm=True, init_values=0.5, qk_norm=True), (48, 32), VIT),
    ("glu_gate_last_gelu_tanh_scale_mlp_norm", lambda t: dict(
        mlp_layer=functools.partial(_layers(t).GluMlp, gate_last=True), act_layer="gelu_tanh", scale_mlp_norm=True,
        proj_bias=False, qkv_bias=False), (48, 32), VIT),
    ("res_post_diff_qk_norm_rmsnorm", lambda t: dict(
        block_fn=t.models.vision_transformer.ResPostBlock, attn_layer="diff", qk_norm=True, norm_layer="rmsnorm",
        init_values=0.3, class_token=False, global_pool="avg"), (48, 32), VIT),
    ("parallel_scaling_qkv_bias_no_ls", lambda t: dict(
        block_fn=t.models.vision_transformer.ParallelScalingBlock, qkv_bias=True, qk_norm=True,
        act_layer="quick_gelu", proj_bias=False), (48, 32), VIT),
    ("diff_parallel_scaling_qkv_bias_ln", lambda t: dict(
        block_fn=t.models.vision_transformer.DiffParallelScalingBlock, qkv_bias=True, qk_norm=True,
        norm_layer=functools.partial(_layers(t).LayerNorm, eps=1e-5), init_values=0.2), (48, 32), VIT),
    ("embed_norm_pre_norm_no_final_norm", lambda t: dict(
        embed_norm_layer="layernorm", pre_norm=True, final_norm=False, fc_norm=True), (48, 32), VIT),
    ("diff_attention_scale_norm_torch_ln", lambda t: dict(
        attn_layer="diff", scale_attn_norm=True, norm_layer=nn.LayerNorm, act_layer=nn.SiLU,
        mlp_layer=_layers(t).SwiGLU), (48, 32), VIT),
    ("swiglu_packed_default_act", lambda t: dict(mlp_layer=_layers(t).SwiGLUPacked, init_values=1e-2), (48, 32), VIT),
    ("distilled_dynamic", lambda t: dict(dynamic_img_size=True), (32, 64), DISTILLED),
    ("distilled_no_classes", lambda t: dict(num_classes=0), (48, 32), DISTILLED),
    # VisionTransformerRelPos (no absolute position embedding; its fixed window is the img_size grid, 3x2)
    ("relpos_bias_cls_token", lambda t: dict(rel_pos_type="bias", class_token=True, global_pool="token"), (48, 32),
     RELPOS),
    ("relpos_bias_shared_clsgap", lambda t: dict(rel_pos_type="bias", shared_rel_pos=True, class_token=True,
                                                 fc_norm=True), (48, 32), RELPOS),
    ("relpos_mlp_swin_dim32_cls_avg", lambda t: dict(rel_pos_type="mlp_swin", rel_pos_dim=32, class_token=True),
     (48, 32), RELPOS),
    ("relpos_mlp_swin_shared_qk_norm", lambda t: dict(rel_pos_type="mlp_swin", shared_rel_pos=True, qk_norm=True),
     (48, 32), RELPOS),
    ("relpos_res_post_bias_no_layerscale", lambda t: dict(
        block_fn=t.models.vision_transformer_relpos.ResPostRelPosBlock, rel_pos_type="bias", init_values=None),
     (48, 32), RELPOS),
    ("relpos_mlp_shared_cls_dim24_qkv_bias", lambda t: dict(shared_rel_pos=True, rel_pos_dim=24, class_token=True,
                                                            qkv_bias=True), (48, 32), RELPOS),
    ("relpos_mlp_no_pool_features", lambda t: dict(global_pool="", num_classes=0), (48, 32), RELPOS),
]


# ---- comparisons -----------------------------------------------------------------------------------

class Mismatch(Exception):
    pass


def compare(what, ours, theirs, errors):
    """Records the largest difference of `what`; raises Mismatch when not close."""
    if isinstance(theirs, (list, tuple)):
        if not isinstance(ours, (list, tuple)) or len(ours) != len(theirs):
            raise Mismatch(f"{what}: {type(ours).__name__} of {len(ours) if hasattr(ours, '__len__') else '?'} "
                           f"!= {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare(f"{what}[{i}]", a, b, errors)
        return
    if ours.shape != theirs.shape:
        raise Mismatch(f"{what}: shape {tuple(ours.shape)} != timm's {tuple(theirs.shape)}")
    err = (ours.double() - theirs.double()).abs().max().item() if theirs.numel() else 0.
    errors[what] = err
    atol = RTOL * max(1., theirs.abs().max().item() if theirs.numel() else 0.)
    if not torch.allclose(ours.double(), theirs.double(), rtol=RTOL, atol=atol):
        raise Mismatch(f"{what}: max |diff| {err:.3g}")


def timm_attention_maps(model, x):
    """The softmax attention maps timm's AttentionExtract captures (forward hooks on every
    blocks.*attn_drop: the input of a Dropout in eval), per block, concatenated on the head dim."""
    maps, hooks = {}, []
    for mname, module in model.named_modules():
        if mname.startswith("blocks.") and mname.endswith("attn_drop"):
            block = int(mname.split(".")[1])
            hooks.append(module.register_forward_hook(
                lambda m, inp, out, block=block: maps.setdefault(block, []).append(out)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hk in hooks:
            hk.remove()
    return [torch.cat(maps[i], dim=1) for i in sorted(maps)]


INTERMEDIATE_CALLS = [
    dict(indices=None, norm=False, output_fmt="NCHW"),
    dict(indices=None, norm=True, output_fmt="NLC"),
    dict(indices=[0, -1], norm=True, output_fmt="NCHW", return_prefix_tokens=True),
    dict(indices=2, norm=False, output_fmt="NLC", intermediates_only=True, stop_early=True),
]


def check_reference(case):
    """Returns (worst error, notes); raises on a mismatch."""
    errors, notes = {}, []
    timm_model, x = case["model"], case["input"]
    torch.manual_seed(0)
    ours = ref.VisionTransformer(**case["ours"]).eval()
    theirs_sd, ours_sd = timm_model.state_dict(), ours.state_dict()
    if list(theirs_sd) != list(ours_sd):
        if set(theirs_sd) != set(ours_sd):
            raise Mismatch(f"keys: only timm {sorted(set(theirs_sd) - set(ours_sd))[:6]}, "
                           f"only ours {sorted(set(ours_sd) - set(theirs_sd))[:6]}")
        notes.append("key order differs")
    ours.load_state_dict(theirs_sd, strict=True)
    no_prefix_relpos = type(timm_model).__name__ == "VisionTransformerRelPos" and not timm_model.num_prefix_tokens
    with torch.no_grad():
        compare("forward", ours(x), case["output"], errors)
        compare("pre_logits", ours.forward_head(ours.forward_features(x), pre_logits=True),
                timm_model.forward_head(timm_model.forward_features(x), pre_logits=True), errors)
        for i, call in enumerate(INTERMEDIATE_CALLS):
            if call.get("return_prefix_tokens") and no_prefix_relpos:
                # timm's VisionTransformerRelPos.forward_intermediates fails asked for prefix tokens it lacks
                call = dict(call, return_prefix_tokens=False)
            compare(f"intermediates{i}", ours.forward_intermediates(x, **call),
                    timm_model.forward_intermediates(x, **call), errors)
        compare("attention", ours.attention_maps(x), timm_attention_maps(timm_model, x), errors)
        compare("attention[1,-1]", ours.attention_maps(x, [1, -1]),
                [m for i, m in enumerate(timm_attention_maps(timm_model, x)) if i in (1, 2)], errors)
        pruned_ours, pruned_theirs = copy.deepcopy(ours), copy.deepcopy(timm_model)
        take = pruned_ours.prune_intermediate_layers([-2], prune_norm=True)
        if take != pruned_theirs.prune_intermediate_layers([-2], prune_norm=True):
            raise Mismatch("prune_intermediate_layers: taken indices differ")
        compare("pruned", pruned_ours(x), pruned_theirs(x), errors)
    return max(errors.values()), notes


# ---- golden files (tests/reference/generate_goldens.py) against timm (check_timm_eva.py uses it too) -----

def check_golden(path, build, check_keys=None):
    """Max error of timm against one golden file, or None for a train-mode file with attention dropout
    (the dropouts draw from torch's generator, seeded as the generator seeded it, except attention
    dropout, which timm's fused attention draws inside scaled_dot_product_attention). build(module,
    config, x) -> (timm's counterpart of the file's module, a function of no arguments running it on x);
    its parameters are loaded strictly (timm's keys in timm's order), then outputs (and gradients) are
    compared for the kinds forward, intermediates, prune, grids and attention; check_keys(path, config,
    meta) handles kind "keys"."""
    tensors, meta = load_file(path)
    kind, module, config = meta["kind"], meta["module"], json.loads(meta["config"])
    if kind == "keys":
        if check_keys is None:
            raise ValueError("no keys check here")
        return check_keys(path, config, meta)
    train = meta.get("mode") == "train"
    if train and (config.get("attn_drop_rate", 0.) > 0. or config.get("attn_drop", 0.) > 0.):
        return None
    params = {k[len("param/"):]: v for k, v in tensors.items() if k.startswith("param/")}
    x = tensors["input"].clone().requires_grad_("grad/input" in tensors)
    errors = {}
    model, run = build(module, config, x)
    if list(model.state_dict()) != list(params):
        raise Mismatch(f"keys: timm {list(model.state_dict())[:5]}..., golden {list(params)[:5]}...")
    model.load_state_dict(params, strict=True)
    model.train(train)
    if kind == "forward":
        torch.manual_seed(int(meta["seed"]))
        out = run()
    elif kind == "intermediates":
        call = json.loads(meta["call"])
        with torch.no_grad():
            got = model.forward_intermediates(x, **call)
        items = got if call.get("intermediates_only") else got[1]
        if not call.get("intermediates_only"):
            compare("output", tensors["output"], got[0], errors)
        for i, item in enumerate(items):
            if isinstance(item, tuple):
                compare(f"intermediates/{i}", tensors[f"intermediates/{i}"], item[0], errors)
                compare(f"prefix/{i}", tensors[f"prefix/{i}"], item[1], errors)
            else:
                compare(f"intermediates/{i}", tensors[f"intermediates/{i}"], item, errors)
        return max(errors.values())
    elif kind == "prune":
        take = model.prune_intermediate_layers(**json.loads(meta["prune"]))
        if take != json.loads(meta["take"]):
            raise Mismatch("prune: taken indices differ")
        with torch.no_grad():
            compare("output", tensors["output"], model(x), errors)
        return max(errors.values())
    elif kind == "grids":  # two inputs whose patch grids are each other's transpose
        with torch.no_grad():
            compare("output", tensors["output"], model(x), errors)
            compare("output_t", tensors["output_t"], model(tensors["input_t"]), errors)
        return max(errors.values())
    elif kind == "attention":
        maps = timm_attention_maps(model, x)
        for i, b in enumerate(json.loads(meta["blocks"])):
            compare(f"attention/{i}", tensors[f"attention/{i}"], maps[b], errors)
        return max(errors.values())
    else:
        raise ValueError(f"unknown kind {kind}")
    compare("output", tensors["output"], out.detach(), errors)
    if "grad_output" in tensors:
        out.backward(tensors["grad_output"])
        compare("grad/input", tensors["grad/input"], x.grad, errors)
        for k, p in model.named_parameters():
            compare(f"grad/{k}", tensors[f"grad/{k}"], p.grad, errors)
    return max(errors.values())


def check_golden_files(files, check_one, width=48):
    """A row per golden file: check_one(path) -> max error or None (skipped). Returns how many failed."""
    bad = 0
    for path in files:
        label = os.path.basename(path)[:-len(".safetensors")]
        try:
            err = check_one(path)
            print(f"{label:<{width}} {'skipped (attention dropout in train mode)' if err is None else f'ok  {err:.2e}'}",
                  flush=True)
        except Exception as e:  # noqa: BLE001 - reported per file
            bad += 1
            print(f"{label:<{width}} FAIL {type(e).__name__}: {str(e)[:200]}", flush=True)
            _maybe_traceback()
    print(f"{len(files) - bad}/{len(files)} golden files agree with timm")
    return bad


# timm's VisionTransformerRelPos keyword arguments that are ours too (the golden files' configs, our names)
_RELPOS_ARGS = ("img_size", "patch_size", "in_chans", "num_classes", "global_pool", "embed_dim", "depth", "num_heads",
                "mlp_ratio", "qkv_bias", "qk_norm", "init_values", "class_token", "rel_pos_type", "rel_pos_dim",
                "shared_rel_pos", "attn_drop_rate", "drop_path_rate")


def relpos_module_for(timm, config):
    """timm's VisionTransformerRelPos for one of our VisionTransformer configs with a rel_pos_type;
    every option it has no counterpart of must be at our default."""
    import inspect
    from timm.layers import RmsNorm, get_act_layer
    from timm.models.vision_transformer_relpos import ResPostRelPosBlock, RelPosBlock, VisionTransformerRelPos
    defaults = {k: p.default for k, p in inspect.signature(ref.VisionTransformer.__init__).parameters.items()
                if k != "self"}
    full = dict(defaults, **config)
    handled = set(_RELPOS_ARGS) | {"pos_embed", "fc_norm", "norm_layer", "norm_eps", "act_layer", "block_fn",
                                   "proj_drop_rate", "drop_rate", "pos_drop_rate"}
    for key, value in full.items():
        if key not in handled and value != defaults[key]:
            raise ValueError(f"timm's VisionTransformerRelPos has no counterpart of {key}={value!r}")
    if full["pos_embed"] not in ("none", ""):
        raise ValueError("timm's VisionTransformerRelPos has no absolute position embedding")
    if full["drop_rate"] or full["pos_drop_rate"]:
        raise ValueError("drop_rate / pos_drop_rate: timm's VisionTransformerRelPos has no such dropouts")
    if full["global_pool"] not in ("avg", "token", ""):
        raise ValueError(f"timm's VisionTransformerRelPos has no global_pool {full['global_pool']!r}")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in full.items() if k in _RELPOS_ARGS}
    kw["fc_norm"] = full["fc_norm"] if full["fc_norm"] is not None else full["global_pool"] in ("avg", "max", "avgmax")
    kw["proj_drop_rate"] = full["proj_drop_rate"] or 0.
    norm = RmsNorm if full["norm_layer"] == "rmsnorm" else nn.LayerNorm
    kw["norm_layer"] = functools.partial(norm, eps=full["norm_eps"])
    kw["act_layer"] = get_act_layer(full["act_layer"])
    kw["block_fn"] = {"block": RelPosBlock, "res_post": ResPostRelPosBlock}[full["block_fn"]]
    return VisionTransformerRelPos(**kw)


# ---- the C++ tool ------------------------------------------------------------------------------------

def write_hub_dir(d, name, case):
    os.makedirs(d, exist_ok=True)
    config = {"architecture": name, "num_classes": case["overrides"]["num_classes"],
              "model_args": case["overrides"]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({k: v.contiguous() for k, v in case["model"].state_dict().items()}, os.path.join(d, "model.safetensors"))
    save_file({"input": case["input"]}, os.path.join(d, "input.safetensors"))


def supports_features(binary):
    """Whether `binary run` has --features (the pooled pre-logits features as 'features')."""
    try:
        proc = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--features" in proc.stdout + proc.stderr


def check_cpp(binary, d, case, backends, timeout, extra):
    """{column: (status, max error)} for `binary run` on the hub directory d: one column per backend
    (the logits), and "features" (`run --features` against timm's forward_head(pre_logits=True))."""
    out = {}
    for backend in backends:
        logits_path = os.path.join(d, f"{backend}.safetensors")
        if os.path.exists(logits_path):
            os.remove(logits_path)
        cmd = [binary, "run", "--model", d, "--input", os.path.join(d, "input.safetensors"), "--output", logits_path]
        if backend == "features":
            cmd.append("--features")
            key, expected = "features", case["features"]
        else:
            cmd += ["--backend", backend]
            key, expected = "logits", case["output"]
        cmd += extra
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out[backend] = (f"timeout ({timeout}s)", None)
            continue
        if proc.returncode != 0:
            lines = [s for s in (proc.stderr + proc.stdout).strip().splitlines() if s.strip()]
            out[backend] = (f"exit {proc.returncode}: {lines[-1][:160] if lines else ''}", None)
            continue
        errors = {}
        try:
            compare(key, load_file(logits_path)[0][key], expected, errors)
            out[backend] = ("ok", errors[key])
        except Mismatch as e:
            out[backend] = (f"MISMATCH {e}", errors.get(key))
        except Exception as e:  # noqa: BLE001 - reported per name
            out[backend] = (f"error: {type(e).__name__}: {e}"[:200], None)
    return out


# ---- the driver (scripts/check_timm_eva.py's main uses it too) -------------------------------------

def driver_parser(doc, reference_help):
    """(parser, its mode group) with --reference and --cpp, described by doc's first paragraph; the
    caller adds its other modes, then add_driver_options."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--reference", action="store_true", help=reference_help)
    mode.add_argument("--cpp", metavar="VIT_BINARY", help="check `VIT_BINARY run`")
    mode.add_argument("--dry-run", action="store_true",
                      help="timm's side only: each name's kwargs mapped to ours, shrunk, built, run, and its hub "
                           "directory written (--keep DIR keeps them); nothing of ours runs")
    return parser, mode


def add_driver_options(parser):
    """The options the driver reads, and the name patterns."""
    parser.add_argument("--timm-src", default="/work/timm-src", help="timm's source tree (imported from there)")
    parser.add_argument("--backends", default="plain,auto",
                        help="comma-separated `vit run --backend` values (each compared on the logits)")
    parser.add_argument("--no-features", action="store_true",
                        help="skip `vit run --features` (checked when the binary has the flag)")
    parser.add_argument("--timeout", type=float, default=120., help="seconds per `vit run`")
    parser.add_argument("--vit-args", default="", help="extra arguments for `vit run`, e.g. '--threads 2'")
    parser.add_argument("--keep", metavar="DIR", help="write the hub directories here (default: a temp dir, removed)")
    parser.add_argument("names", nargs="*", help="fnmatch patterns of names to check (default: all)")


def timm_banner(timm, timm_src):
    """Prints timm's version, source tree and commit, and torch's version."""
    try:
        commit = subprocess.run(["git", "-C", timm_src, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    print(f"timm {timm.__version__} at {os.path.abspath(timm_src)}, commit {commit}; torch {torch.__version__}")


def cpp_backends(args):
    """The --cpp columns: the --backends entries, and "features" unless --no-features or the binary lacks it."""
    backends = [b for b in args.backends.split(",") if b]
    if not args.no_features:
        if supports_features(args.cpp):
            backends.append("features")
        else:
            print(f"{args.cpp} run has no --features: the pooled features are not checked")
    return backends


def _maybe_traceback():
    if os.environ.get("CHECK_TIMM_TRACEBACK"):
        traceback.print_exc()


def check_names(names, width, make_case, check_reference, write_hub_dir, args, tmp_prefix):
    """The per-name table. --reference: check_reference(make_case(name)) -> (max error, notes), raising
    on a mismatch. --cpp: write_hub_dir(d, name, case), then check_cpp on d for each cpp_backends(args)
    column, d being name's folder under --keep or under a temporary directory (prefix tmp_prefix,
    removed after). Prints a row per name and the summary; returns how many names match."""
    backends = cpp_backends(args) if args.cpp else []
    hub_dirs = args.cpp or args.dry_run
    keep_dir = (args.keep or tempfile.mkdtemp(prefix=tmp_prefix)) if hub_dirs else None
    if args.reference:
        print(f"{'name':<{width}}  status  max_err   notes")
    elif args.dry_run:
        print(f"{'name':<{width}}  status  input            output   our model_args (full size: the zoo's)")
    else:
        print(f"{'name':<{width}}  " + "  ".join(f"{b + ':status':<14} {'max_err':<9}" for b in backends))
    matched, worst, worst_name = 0, 0., ""
    failures = []
    start = time.time()
    for name in names:
        try:
            case = make_case(name)
        except Exception as e:  # noqa: BLE001 - reported per name
            failures.append(name)
            print(f"{name:<{width}}  TIMM-ERROR {type(e).__name__}: {str(e)[:160]}", flush=True)
            _maybe_traceback()
            continue
        if args.reference:
            try:
                err, notes = check_reference(case)
            except Mismatch as e:
                failures.append(name)
                print(f"{name:<{width}}  FAIL    {'':<9} {e}", flush=True)
                continue
            except Exception as e:  # noqa: BLE001 - reported per name
                failures.append(name)
                print(f"{name:<{width}}  ERROR   {'':<9} {type(e).__name__}: {str(e)[:200]}", flush=True)
                _maybe_traceback()
                continue
            print(f"{name:<{width}}  ok      {err:<9.2e} {'; '.join(notes)}", flush=True)
            errors = [err]
        elif args.dry_run:
            try:
                write_hub_dir(os.path.join(keep_dir, name), name, case)
            except Exception as e:  # noqa: BLE001 - reported per name
                failures.append(name)
                print(f"{name:<{width}}  ERROR   {type(e).__name__}: {str(e)[:200]}", flush=True)
                _maybe_traceback()
                continue
            shape = lambda t: "x".join(str(n) for n in t.shape)  # noqa: E731
            print(f"{name:<{width}}  ready   {shape(case['input']):<16} {shape(case['output']):<8} "
                  f"{json.dumps(case['ours'], separators=(',', ':'))}", flush=True)
            errors = [0.]
        else:
            d = os.path.join(keep_dir, name)
            try:
                write_hub_dir(d, name, case)
                results = check_cpp(args.cpp, d, case, backends, args.timeout, args.vit_args.split())
            except Exception as e:  # noqa: BLE001 - reported per name
                results = {b: (f"error: {type(e).__name__}: {e}"[:200], None) for b in backends}
            cells = [f"{(status if status == 'ok' else 'FAIL'):<14} {'' if err is None else f'{err:.2e}':<9}"
                     for status, err in (results[b] for b in backends)]
            problems = [f"{b}: {s}" for b, (s, _) in results.items() if s != "ok"]
            print(f"{name:<{width}}  " + "  ".join(cells) + ("  " + " | ".join(problems) if problems else ""),
                  flush=True)
            if problems:
                failures.append(name)
                continue
            errors = [err for _, err in results.values()]
        matched += 1
        for err in errors:
            if err >= worst:
                worst, worst_name = err, name
    if args.dry_run:
        print(f"{matched}/{len(names)} ready on timm's side ({time.time() - start:.0f}s)")
    else:
        print(f"{matched}/{len(names)} match (rtol {RTOL:g}; worst max |diff| of the matches {worst:.2e}"
              f"{f' ({worst_name})' if worst_name else ''}; {time.time() - start:.0f}s)")
    if failures:
        print("not matching: " + " ".join(failures))
    if hub_dirs and not args.keep:
        shutil.rmtree(keep_dir, ignore_errors=True)
    elif hub_dirs:
        print(f"hub directories kept in {keep_dir}")
    return matched


def check_extras(extras, run_one, width):
    """A row per configuration, its label being extra[0]: run_one(extra) -> (max error, notes), raising
    on a mismatch. Returns how many failed."""
    failed = 0
    for extra in extras:
        label = extra[0]
        try:
            err, notes = run_one(extra)
            print(f"{label:<{width}}  ok      {err:<9.2e} {'; '.join(notes)}", flush=True)
        except Exception as e:  # noqa: BLE001 - reported per configuration
            failed += 1
            print(f"{label:<{width}}  FAIL    {'':<9} {type(e).__name__}: {str(e)[:200]}", flush=True)
            _maybe_traceback()
    return failed


# ---- main ----------------------------------------------------------------------------------------

def main():
    parser, mode = driver_parser(__doc__, "check tests/reference/vision_transformer.py")
    mode.add_argument("--dump-args", metavar="FILE",
                      help="write {name: {class, timm kwargs (repr), our kwargs, pretrained_cfg}} of full-size names")
    mode.add_argument("--goldens", metavar="DIR",
                      help="check the golden files DIR/timm_*.safetensors of relative-position models (config "
                           "rel_pos_type) against timm's VisionTransformerRelPos")
    parser.add_argument("--module", action="append", choices=MODULES,
                        help=f"timm module whose names to check, repeatable (default: {', '.join(MODULES)})")
    add_driver_options(parser)
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.timm_src))
    import timm
    timm_banner(timm, args.timm_src)
    torch.set_num_threads(1)

    modules = args.module or list(MODULES)
    names = zoo.module_names(timm, modules)
    total = len(names)
    if args.names:
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.names)]
    print(f"{len(names)} of timm's {total} {' + '.join(modules)} names")

    if args.goldens:
        import glob
        files = [p for p in sorted(glob.glob(os.path.join(args.goldens, "timm_*.safetensors")))
                 if json.loads(load_file(p)[1].get("config", "{}")).get("rel_pos_type")]
        print(f"{len(files)} golden files of relative-position models (rel_pos_type) in {args.goldens}")

        def build(module, config, x):
            if module != "VisionTransformer":
                raise ValueError(f"no timm counterpart for {module}")
            model = relpos_module_for(timm, config)
            # our VisionTransformer draws stochastic depth as timm 0.5 did (rand + floor, not bernoulli_):
            # timm's DropPath modules are made to draw so too, for the train-mode files
            for m in model.modules():
                if type(m).__name__ == "DropPath":
                    m.forward = functools.partial(lambda m, y: ref.drop_path(y, m.drop_prob, m.training), m)
            return model, lambda: model(x)
        bad = check_golden_files(files, lambda path: check_golden(path, build))
        return 0 if files and not bad else 1

    if args.dump_args:
        table = {}
        for name in names:
            cls, kwargs, cfg = timm_kwargs(timm, name)
            entry = dict(cls=cls.__name__, timm_kwargs={k: repr(v) for k, v in kwargs.items()},
                         pretrained_cfg={k: cfg.get(k) for k in ("input_size", "mean", "std", "crop_pct", "crop_mode",
                                                                  "interpolation", "num_classes")})
            try:
                entry["args"] = to_reference_kwargs(cls, kwargs)
            except ValueError as e:
                entry["error"] = str(e)
            table[name] = entry
        with open(args.dump_args, "w") as f:
            json.dump(table, f, indent=1, default=str)
        print(f"wrote {args.dump_args}")
        return 0

    width = max([len(n) for n in names] + [len(e[0]) for e in EXTRAS if not args.names] + [10])
    matched = check_names(names, width, lambda name: timm_case(timm, name), check_reference, write_hub_dir, args,
                          tmp_prefix="check_timm_")
    extras_failed = 0
    extras = [e for e in EXTRAS if CLASS_MODULES[e[3]] in modules]
    if (args.reference or args.dry_run) and not args.names and extras:
        print("\nconfigurations no registered name has (timm's classes built directly):")
        check = (lambda extra: (0., [json.dumps(extra_case(timm, *extra)["ours"], separators=(",", ":"))])) \
            if args.dry_run else (lambda extra: check_reference(extra_case(timm, *extra)))
        extras_failed = check_extras(extras, check, width)
        print(f"{len(extras) - extras_failed}/{len(extras)} extra configurations "
              f"{'built on timm' if args.dry_run else 'match'}")
    return 0 if matched == len(names) and not extras_failed else 1


if __name__ == "__main__":
    sys.exit(main())
