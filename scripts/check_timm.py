#!/usr/bin/env python3
"""Checks vitcpp against real timm on every architecture timm registers in its vision_transformer and
deit modules, each shrunk to tiny widths (depth 3, 4 heads, 64-128 wide, 3x2 patches) with perturbed
random weights, on a random input.

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

Numbers are compared as torch.allclose(ours, timm, rtol=1e-4, atol=1e-4 * max(1, max|timm|)); the
tables give the largest absolute difference. Needs only torch (timm's own imports: torchvision too).

usage: /usr/bin/python3 scripts/check_timm.py --reference [--timm-src PATH] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm.py --cpp build/vit [--backends plain,auto] [--keep DIR] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm.py --dump-args FILE   (our kwargs of every full-size name, JSON)
"""
import argparse
import copy
import fnmatch
import functools
import inspect
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

RTOL = 1e-4


# ---- timm's keyword arguments of a name --------------------------------------------------------

class _Captured(Exception):
    pass


def timm_kwargs(timm, name):
    """(class name, keyword arguments the entrypoint passes to build_model_with_cfg, pretrained_cfg):
    the builder is swapped for one that records and stops, so nothing is built."""
    import timm.models.vision_transformer as vt
    import timm.models.deit as deit
    record = {}

    def fake_builder(model_cls, variant, pretrained, **kwargs):
        record["cls"], record["kwargs"] = model_cls, kwargs
        raise _Captured()

    saved = vt.build_model_with_cfg, deit.build_model_with_cfg
    vt.build_model_with_cfg = deit.build_model_with_cfg = fake_builder
    try:
        timm.create_model(name)
    except _Captured:
        pass
    finally:
        vt.build_model_with_cfg, deit.build_model_with_cfg = saved
    model_params = set(inspect.signature(vt.VisionTransformer.__init__).parameters) - {"self"}
    kwargs = {k: v for k, v in record["kwargs"].items() if k in model_params}
    cfg = timm.models.get_pretrained_cfg(name).to_dict()
    # the defaults the builder adds from the pretrained_cfg: num_classes, in_chans, global_pool, and
    # img_size = input_size[1:] where fixed_input_size (all of these names)
    from timm.models._builder import _update_default_model_kwargs
    _update_default_model_kwargs(dict(cfg), kwargs, None)
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    return record["cls"].__name__, kwargs, cfg


# ---- timm's kwargs -> our option names (the mapping vitcpp's zoo uses) ------------------------------

_ACTS = {"gelu": "gelu", "gelu_tanh": "gelu_tanh", "quick_gelu": "quick_gelu", "silu": "silu", "swish": "silu",
         "GELU": "gelu", "GELUTanh": "gelu_tanh", "QuickGELU": "quick_gelu", "SiLU": "silu", "Swish": "silu"}
_BLOCKS = {"Block": "block", "ResPostBlock": "res_post", "ParallelScalingBlock": "parallel_scaling",
           "DiffParallelScalingBlock": "diff_parallel_scaling", "ParallelThingsBlock": "parallel_things"}
# timm keyword arguments that only matter in training or at init (timm's drop_rate is head dropout;
# ours means something else): dropped
_TRAINING_ONLY = ("drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "attn_drop_rate",
                  "drop_path_rate", "weight_init", "fix_init", "device", "dtype")
_PASS_THROUGH = ("img_size", "patch_size", "in_chans", "num_classes", "global_pool", "embed_dim", "depth",
                 "num_heads", "mlp_ratio", "qkv_bias", "qk_norm", "scale_attn_norm", "scale_mlp_norm", "proj_bias",
                 "init_values", "class_token", "pos_embed", "no_embed_class", "reg_tokens", "pre_norm",
                 "final_norm", "fc_norm", "pool_include_prefix", "dynamic_img_size", "dynamic_img_pad")


def _unpartial(layer):
    if isinstance(layer, functools.partial):
        return layer.func, dict(layer.keywords)
    return layer, {}


def norm_spec(layer):
    """timm norm layer (class, string or partial with eps) -> ("layernorm" | "rmsnorm", eps), or None."""
    layer, kw = _unpartial(layer)
    if layer is None or layer == "":
        return None
    default_eps = 1e-6  # timm's LayerNorm and RmsNorm
    if layer is nn.LayerNorm:
        default_eps = 1e-5  # torch's
    key = (layer if isinstance(layer, str) else layer.__name__).replace("_", "").lower()
    kind = {"layernorm": "layernorm", "rmsnorm": "rmsnorm"}.get(key)
    if kind is None:
        raise ValueError(f"unsupported norm layer {layer!r}")
    eps = kw.pop("eps", default_eps)
    if kw:
        raise ValueError(f"unsupported norm layer arguments {kw}")
    return kind, eps


def act_name(act):
    act, _ = _unpartial(act)
    name = act if isinstance(act, str) else act.__name__
    if name not in _ACTS:
        raise ValueError(f"unsupported act_layer {act!r}")
    return _ACTS[name]


def mlp_name(mlp):
    layer, kw = _unpartial(mlp)
    name = layer if isinstance(layer, str) else layer.__name__
    kw.pop("act_layer", None)  # the block passes its act_layer, which overrides the partial's
    if name == "Mlp" and not kw:
        return "mlp"
    if name == "SwiGLU" and not kw:
        return "swiglu"
    if name == "GluMlp":
        gate_last = kw.pop("gate_last", True)
        if not kw:
            return "glu" if gate_last else "swiglu_packed"
    raise ValueError(f"unsupported mlp_layer {mlp!r}")


def to_reference_kwargs(cls_name, kwargs):
    """Our VisionTransformer's keyword arguments for timm's (cls_name, kwargs)."""
    out = {}
    for key, value in kwargs.items():
        if key in _TRAINING_ONLY or value is None:
            continue
        if key in _PASS_THROUGH:
            out[key] = list(value) if isinstance(value, tuple) else value
        elif key == "norm_layer":
            spec = norm_spec(value)
            if spec:
                out["norm_layer"], out["norm_eps"] = spec
        elif key == "embed_norm_layer":
            spec = norm_spec(value)
            if spec:
                out["embed_norm_layer"], out["embed_norm_eps"] = spec
        elif key == "act_layer":
            out["act_layer"] = act_name(value)
        elif key == "mlp_layer":
            out["mlp_layer"] = mlp_name(value)
        elif key == "block_fn":
            name = value if isinstance(value, str) else value.__name__
            if name not in _BLOCKS:
                raise ValueError(f"unsupported block_fn {value!r}")
            out["block_fn"] = _BLOCKS[name]
        elif key == "attn_layer":
            name = value if isinstance(value, str) else value.__name__
            out["attn_layer"] = {"": "attn", "attn": "attn", "Attention": "attn", "diff": "diff",
                                 "DiffAttention": "diff"}[name]
        elif key == "embed_layer":
            if getattr(value, "__name__", "") != "PatchEmbed":
                raise ValueError(f"unsupported embed_layer {value!r}")
        else:
            raise ValueError(f"unsupported timm keyword argument {key}={value!r}")
    if cls_name == "VisionTransformerDistilled":
        out["distilled"] = True
    elif cls_name != "VisionTransformer":
        raise ValueError(f"unsupported model class {cls_name}")
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
    """Everything one name needs: timm's kwargs, the shrunk timm model (eval, perturbed), input, output."""
    cls_name, kwargs, cfg = timm_kwargs(timm, name)
    overrides, (h, w) = shrink(kwargs, cfg)
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **overrides)
    return _finish_case(model, seed, cls_name, kwargs, cfg, overrides, (h, w))


def extra_case(timm, label, kwargs, input_hw, distilled=False):
    """A configuration no registered name has, built from timm's classes directly (--reference only)."""
    from timm.models.vision_transformer import VisionTransformer
    from timm.models.deit import VisionTransformerDistilled
    cls = VisionTransformerDistilled if distilled else VisionTransformer
    kwargs = dict(EXTRA_BASE, **kwargs(timm))
    seed = zlib.crc32(label.encode())
    torch.manual_seed(seed)
    return _finish_case(cls(**kwargs), seed, cls.__name__, kwargs, {}, {}, input_hw)


def _finish_case(model, seed, cls_name, kwargs, cfg, overrides, hw):
    h, w = hw
    gen = torch.Generator().manual_seed(seed)
    perturb(model, gen)
    model.eval()
    x = torch.randn((2, 3, h, w), generator=gen)
    with torch.no_grad():
        y = model(x)
        features = model.forward_head(model.forward_features(x), pre_logits=True)
    return dict(cls=cls_name, kwargs=kwargs, cfg=cfg, overrides=overrides, model=model, input=x, output=y,
                features=features)


# Configurations beyond the registered names (options no name uses, and other combinations), as timm
# keyword arguments on top of EXTRA_BASE; each a function of the timm module, for its classes.
EXTRA_BASE = dict(img_size=[48, 32], patch_size=16, embed_dim=64, depth=3, num_heads=4, num_classes=5)


def _layers(timm):
    import timm.layers as L
    return L


EXTRAS = [
    ("pos_embed_none", lambda t: dict(pos_embed="none"), (48, 32), False),
    ("pos_embed_none_dynamic_reg", lambda t: dict(pos_embed="none", dynamic_img_size=True, reg_tokens=2,
                                                  class_token=False, global_pool="avg"), (32, 64), False),
    ("dynamic_img_pad", lambda t: dict(dynamic_img_size=True, dynamic_img_pad=True), (50, 21), False),
    ("dynamic_img_pad_no_embed_class_map", lambda t: dict(dynamic_img_size=True, dynamic_img_pad=True,
                                                          no_embed_class=True, reg_tokens=1, global_pool="map"),
     (17, 50), False),
    ("avg_pool_include_prefix", lambda t: dict(global_pool="avg", pool_include_prefix=True, reg_tokens=2), (48, 32), False),
    ("max_pool_include_prefix", lambda t: dict(global_pool="max", pool_include_prefix=True, fc_norm=False), (48, 32), False),
    ("avgmax_fc_norm_default", lambda t: dict(global_pool="avgmax", reg_tokens=1), (48, 32), False),
    ("map_with_class_token", lambda t: dict(global_pool="map", reg_tokens=1, norm_layer="rmsnorm",
                                            act_layer="quick_gelu"), (48, 32), False),
    ("map_include_prefix_fc_norm", lambda t: dict(global_pool="map", pool_include_prefix=True, fc_norm=True),
     (48, 32), False),
    ("no_pool_features", lambda t: dict(global_pool="", num_classes=0, class_token=False), (48, 32), False),
    ("parallel_things_diff_swiglu_scale_norms", lambda t: dict(
        block_fn=t.models.vision_transformer.ParallelThingsBlock, attn_layer="diff", mlp_layer=_layers(t).SwiGLU,
        scale_attn_norm=True, scale_mlp_norm=True, init_values=0.5, qk_norm=True), (48, 32), False),
    ("glu_gate_last_gelu_tanh_scale_mlp_norm", lambda t: dict(
        mlp_layer=functools.partial(_layers(t).GluMlp, gate_last=True), act_layer="gelu_tanh", scale_mlp_norm=True,
        proj_bias=False, qkv_bias=False), (48, 32), False),
    ("res_post_diff_qk_norm_rmsnorm", lambda t: dict(
        block_fn=t.models.vision_transformer.ResPostBlock, attn_layer="diff", qk_norm=True, norm_layer="rmsnorm",
        init_values=0.3, class_token=False, global_pool="avg"), (48, 32), False),
    ("parallel_scaling_qkv_bias_no_ls", lambda t: dict(
        block_fn=t.models.vision_transformer.ParallelScalingBlock, qkv_bias=True, qk_norm=True,
        act_layer="quick_gelu", proj_bias=False), (48, 32), False),
    ("diff_parallel_scaling_qkv_bias_ln", lambda t: dict(
        block_fn=t.models.vision_transformer.DiffParallelScalingBlock, qkv_bias=True, qk_norm=True,
        norm_layer=functools.partial(_layers(t).LayerNorm, eps=1e-5), init_values=0.2), (48, 32), False),
    ("embed_norm_pre_norm_no_final_norm", lambda t: dict(
        embed_norm_layer="layernorm", pre_norm=True, final_norm=False, fc_norm=True), (48, 32), False),
    ("diff_attention_scale_norm_torch_ln", lambda t: dict(
        attn_layer="diff", scale_attn_norm=True, norm_layer=nn.LayerNorm, act_layer=nn.SiLU,
        mlp_layer=_layers(t).SwiGLU), (48, 32), False),
    ("swiglu_packed_default_act", lambda t: dict(mlp_layer=_layers(t).SwiGLUPacked, init_values=1e-2), (48, 32), False),
    ("distilled_dynamic", lambda t: dict(dynamic_img_size=True), (32, 64), True),
    ("distilled_no_classes", lambda t: dict(num_classes=0), (48, 32), True),
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
    kwargs = dict(to_reference_kwargs(case["cls"], case["kwargs"]), **case["overrides"])
    torch.manual_seed(0)
    ours = ref.VisionTransformer(**kwargs).eval()
    theirs_sd, ours_sd = timm_model.state_dict(), ours.state_dict()
    if list(theirs_sd) != list(ours_sd):
        if set(theirs_sd) != set(ours_sd):
            raise Mismatch(f"keys: only timm {sorted(set(theirs_sd) - set(ours_sd))[:6]}, "
                           f"only ours {sorted(set(ours_sd) - set(theirs_sd))[:6]}")
        notes.append("key order differs")
    ours.load_state_dict(theirs_sd, strict=True)
    with torch.no_grad():
        compare("forward", ours(x), case["output"], errors)
        compare("pre_logits", ours.forward_head(ours.forward_features(x), pre_logits=True),
                timm_model.forward_head(timm_model.forward_features(x), pre_logits=True), errors)
        for i, call in enumerate(INTERMEDIATE_CALLS):
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
    keep_dir = (args.keep or tempfile.mkdtemp(prefix=tmp_prefix)) if args.cpp else None
    if args.reference:
        print(f"{'name':<{width}}  status  max_err   notes")
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
    print(f"{matched}/{len(names)} match (rtol {RTOL:g}; worst max |diff| of the matches {worst:.2e}"
          f"{f' ({worst_name})' if worst_name else ''}; {time.time() - start:.0f}s)")
    if failures:
        print("not matching: " + " ".join(failures))
    if args.cpp and not args.keep:
        shutil.rmtree(keep_dir, ignore_errors=True)
    elif args.cpp:
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
    add_driver_options(parser)
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.timm_src))
    import timm
    timm_banner(timm, args.timm_src)
    torch.set_num_threads(1)

    names = list(dict.fromkeys(timm.list_models(module="vision_transformer") + timm.list_models(module="deit")))
    total = len(names)
    if args.names:
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.names)]
    print(f"{len(names)} of timm's {total} vision_transformer + deit names")

    if args.dump_args:
        table = {}
        for name in names:
            cls_name, kwargs, cfg = timm_kwargs(timm, name)
            entry = dict(cls=cls_name, timm_kwargs={k: repr(v) for k, v in kwargs.items()},
                         pretrained_cfg={k: cfg.get(k) for k in ("input_size", "mean", "std", "crop_pct", "crop_mode",
                                                                  "interpolation", "num_classes")})
            try:
                entry["args"] = to_reference_kwargs(cls_name, kwargs)
            except ValueError as e:
                entry["error"] = str(e)
            table[name] = entry
        with open(args.dump_args, "w") as f:
            json.dump(table, f, indent=1, default=str)
        print(f"wrote {args.dump_args}")
        return 0

    width = max(len(n) for n in names) if names else 10
    matched = check_names(names, width, lambda name: timm_case(timm, name), check_reference, write_hub_dir, args,
                          tmp_prefix="check_timm_")
    extras_failed = 0
    if args.reference and not args.names:
        print("\nconfigurations no registered name has (timm's classes built directly):")
        extras_failed = check_extras(EXTRAS, lambda extra: check_reference(extra_case(timm, *extra)), width)
        print(f"{len(EXTRAS) - extras_failed}/{len(EXTRAS)} extra configurations match")
    return 0 if matched == len(names) and not extras_failed else 1


if __name__ == "__main__":
    sys.exit(main())
