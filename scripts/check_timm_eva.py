#!/usr/bin/env python3
"""Checks vitcpp's Eva against real timm on every architecture timm registers in its eva and beit modules
(--module: one of them), each shrunk to tiny widths (depth 3, 4 heads, 64 wide, 3x2 patches;
dynamic-size models get a 2x4-patch input, fixed-size ones, BEiT's relative-position windows among them,
their shrunk img_size) with perturbed random weights, on a random input. timm's Beit names are Eva
configurations (use_rel_pos_bias, use_shared_rel_pos_bias), their kwargs mapped by scripts/zoo_from_timm.py.

  --reference        builds tests/reference/eva.py's Eva from timm's keyword arguments of the name
                     (mapped to our option names, as vitcpp's zoo maps them), loads timm's state_dict
                     strictly (the keys must be timm's, in timm's order) and compares forward,
                     forward_head(pre_logits=True), forward_intermediates (NCHW/NLC, norm on/off, prefix
                     tokens, stop_early), attention maps (timm's softmax at attn_drop) and a pruned model.
  --cpp VIT_BINARY   writes a hub directory per name (config.json {"architecture": name, "model_args":
                     the shrinking overrides in our names (--full-model-args: all our kwargs)},
                     model.safetensors with timm's state_dict, input.safetensors) and runs
                     `VIT_BINARY run` on it with each --backends entry, comparing the logits with timm's,
                     and, when the binary has it, `VIT_BINARY run --features` against timm's
                     forward_head(pre_logits=True) (exactly as scripts/check_timm.py does).
  --goldens DIR      checks the golden files DIR/eva_*.safetensors (tests/reference/generate_goldens.py)
                     against timm: each module rebuilt from timm's classes (with a relative-position
                     bias: timm's Beit, its Block or Attention) with the file's parameters,
                     outputs and gradients compared (train-mode files too, seeded as generated, unless
                     they have attention dropout, which timm draws inside its fused attention); keys
                     cases against timm's full-size state_dict.
  --dump-zoo         prints {name: our kwargs} of every full-size name as JSON (--with-cfg: {name:
                     {"model_args": ..., "pretrained_cfg": {input_size, mean, std, crop_pct, ...}}}).
  --dry-run          timm's side only: each name mapped, shrunk, built, run and its hub directory written.

Numbers are compared as torch.allclose(ours, timm, rtol=1e-4, atol=1e-4 * max(1, max|timm|)); the
tables give the largest absolute difference. Needs only torch (timm's own imports: torchvision too).

usage: /usr/bin/python3 scripts/check_timm_eva.py --reference [--timm-src PATH] [--module eva|beit] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm_eva.py --cpp build/vit [--backends plain,auto] [--keep DIR] [NAME_PATTERN ...]
       /usr/bin/python3 scripts/check_timm_eva.py --cpp build/vit --module beit
       /usr/bin/python3 scripts/check_timm_eva.py --dry-run [--module beit]
       /usr/bin/python3 scripts/check_timm_eva.py --goldens tests/golden
       /usr/bin/python3 scripts/check_timm_eva.py --dump-zoo [--with-cfg] [NAME_PATTERN ...]
"""
import copy
import fnmatch
import inspect
import json
import os
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import check_timm as vit_check  # noqa: E402  (shared: compare, attention hooks, the driver)
import eva as ref  # noqa: E402
from safetensors_io import save_file  # noqa: E402
import zoo_from_timm as zoo  # noqa: E402  (timm's kwargs of a name, and their mapping to our names)

RTOL = vit_check.RTOL
Mismatch = vit_check.Mismatch
compare = vit_check.compare

# timm's modules whose names are Eva-family names of the zoo, and the model class each builds
MODULES = ("eva", "beit")
CLASS_MODULES = {"Eva": "eva", "Beit": "beit"}


# ---- timm's keyword arguments of a name, in our names ---------------------------------------------

def timm_kwargs(timm, name):
    """(model class, keyword arguments the entrypoint passes to build_model_with_cfg plus the defaults the
    builder adds from the pretrained_cfg, pretrained_cfg), nothing built: zoo_from_timm.timm_kwargs."""
    cls, kwargs, cfg = zoo.timm_kwargs(timm, name, with_cfg_defaults=True)
    return cls, {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}, cfg


def to_reference_kwargs(cls, kwargs):
    """Our Eva's keyword arguments for timm's model class (Eva or Beit) and keyword arguments: the zoo's
    mapping (zoo_from_timm.translate; training-only ones and head_init_scale dropped)."""
    family, out = zoo.translate(cls, kwargs)
    if family != "eva":
        raise ValueError(f"unsupported model class {getattr(cls, '__name__', cls)}")
    return out


# ---- the shrunk model ------------------------------------------------------------------------------

EMBED_DIM, NUM_HEADS, DEPTH, NUM_CLASSES = 64, 4, 3, 7


def shrink(kwargs):
    """timm-named overrides that make a name tiny (timm's and our names agree on these), and the
    input size (H, W). ref_feat_shape stays as timm has it."""
    patch = kwargs.get("patch_size", 16)
    ph, pw = patch if isinstance(patch, (tuple, list)) else (patch, patch)
    overrides = dict(depth=DEPTH, embed_dim=EMBED_DIM, num_heads=NUM_HEADS, img_size=[3 * ph, 2 * pw],
                     num_classes=NUM_CLASSES)
    pool_heads = kwargs.get("attn_pool_num_heads")
    if pool_heads and EMBED_DIM % pool_heads:
        overrides["attn_pool_num_heads"] = NUM_HEADS
    input_hw = (2 * ph, 4 * pw) if kwargs.get("dynamic_img_size") else (3 * ph, 2 * pw)
    return overrides, input_hw


def perturb(model, gen):
    """Distinctive values everywhere: norm weights and gammas 1 + 0.1 randn, other vectors (biases,
    q/v biases) 0.1 randn, tokens / position embedding / latent 0.5 randn, rope.freqs its init + 0.05
    randn, other matrices randn / sqrt(fan_in)."""
    norm_weights = set()
    for module in model.modules():
        if "norm" in type(module).__name__.lower() and getattr(module, "weight", None) is not None:
            norm_weights.add(id(module.weight))
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if id(p) in norm_weights or leaf in ("gamma", "gamma_1", "gamma_2"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif leaf in ("cls_token", "reg_token", "pos_embed", "latent"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif leaf == "freqs":
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def timm_case(timm, name):
    cls, kwargs, cfg = timm_kwargs(timm, name)
    overrides, (h, w) = shrink(kwargs)
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **overrides)
    gen = torch.Generator().manual_seed(seed)
    perturb(model, gen)
    model.eval()
    x = torch.randn((2, 3, h, w), generator=gen)
    with torch.no_grad():
        y = model(x)
        features = model.forward_head(model.forward_features(x), pre_logits=True)
    ours = dict(to_reference_kwargs(cls, kwargs), **overrides)
    return dict(cls=cls, kwargs=kwargs, cfg=cfg, overrides=overrides, ours=ours, model=model, input=x,
                output=y, features=features)


# Configurations beyond the registered names, built from timm's Eva (or Beit) class directly (--reference
# with no name patterns): timm keyword arguments on top of EXTRA_BASE (a function of the timm module, for
# its classes), the input (H, W), and the class when not Eva.
EXTRA_BASE = dict(img_size=[48, 32], patch_size=16, embed_dim=64, depth=3, num_heads=4, num_classes=5)
_ROPE = dict(use_rot_pos_emb=True)
_MIXED = dict(use_rot_pos_emb=True, rope_type='mixed', rope_temperature=10., attn_type='rope')
_DINO = dict(use_rot_pos_emb=True, use_abs_pos_emb=False, rope_type='dinov3', rope_temperature=100.)
EXTRAS = [
    ("rope_attn_separate_qkv_scale_inner", lambda t: dict(_ROPE, attn_type='rope', qkv_fused=False,
                                                          scale_attn_inner=True, ref_feat_shape=[4, 4]), (48, 32)),
    ("eva_attn_fused_no_bias_max_pool", lambda t: dict(qkv_bias=False, global_pool='max'), (48, 32)),
    ("eva_attn_separate_no_bias_scale_mlp", lambda t: dict(qkv_fused=False, qkv_bias=False, scale_mlp=True,
                                                           global_pool='token'), (48, 32)),
    ("avgmax_reg_no_embed_class_cat_rope", lambda t: dict(_ROPE, global_pool='avgmax', num_reg_tokens=2,
                                                          no_embed_class=True), (48, 32)),
    ("no_pool_no_classes", lambda t: dict(global_pool='', num_classes=0, class_token=False), (48, 32)),
    ("dynamic_img_pad_cat_rope_offset", lambda t: dict(_ROPE, dynamic_img_size=True, dynamic_img_pad=True,
                                                       rope_grid_offset=0.5), (50, 21)),
    ("dynamic_cat_rope_xy_ref", lambda t: dict(_ROPE, dynamic_img_size=True, rope_grid_indexing='xy',
                                               ref_feat_shape=[3, 5]), (32, 64)),
    ("dynamic_square_same_count", lambda t: dict(img_size=[32, 128], dynamic_img_size=True), (64, 64)),
    ("post_norm_swiglu_align_ignored", lambda t: dict(use_post_norm=True, swiglu_mlp=True, swiglu_align_to=16,
                                                      mlp_ratio=2.3, init_values=0.5), (48, 32)),
    ("post_norm_swiglu_scale_mlp_mixed", lambda t: dict(_MIXED, use_post_norm=True, swiglu_mlp=True, scale_mlp=True,
                                                        swiglu_align_to=16, rope_grid_indexing='ij'), (48, 32)),
    ("pre_norm_swiglu_align_rope_attn", lambda t: dict(_ROPE, attn_type='rope', swiglu_mlp=True, swiglu_align_to=24,
                                                       mlp_ratio=2.5, init_values=0.3), (48, 32)),
    ("rmsnorm_pre_norm_map", lambda t: dict(norm_layer=t.layers.RmsNorm, use_pre_transformer_norm=True,
                                            global_pool='map', attn_pool_num_heads=2, attn_pool_mlp_ratio=2.),
     (48, 32)),
    ("map_with_reg_tokens_no_class", lambda t: dict(_ROPE, class_token=False, num_reg_tokens=2, global_pool='map',
                                                    attn_type='rope'), (48, 32)),
    ("dinov3_xy_interleaved_token", lambda t: dict(_DINO, dynamic_img_size=True, rope_grid_indexing='xy',
                                                   rope_rotate_half=False, global_pool='token', num_reg_tokens=1),
     (32, 64)),
    ("dinov3_fixed_size_rotate_half", lambda t: dict(_DINO, rope_rotate_half=True, use_fc_norm=False,
                                                     class_token=False, num_reg_tokens=3), (48, 32)),
    ("mixed_dynamic_ape_no_embed_class", lambda t: dict(_MIXED, dynamic_img_size=True, rope_grid_indexing='xy',
                                                        no_embed_class=True, global_pool='token'), (32, 64)),
    ("cat_rotate_half_no_class_no_norms", lambda t: dict(_ROPE, class_token=False, rope_rotate_half=True,
                                                         use_fc_norm=False, use_post_transformer_norm=False),
     (48, 32)),
    # timm's Beit (fixed input size: the relative-position windows are the img_size grid, 3x2)
    ("beit_rel_pos_bias_abs_pos", lambda t: dict(use_rel_pos_bias=True, init_values=0.1), (48, 32), "Beit"),
    ("beit_shared_rel_pos_bias", lambda t: dict(use_abs_pos_emb=False, use_shared_rel_pos_bias=True), (48, 32),
     "Beit"),
    ("beit_both_rel_pos_token_pool", lambda t: dict(use_rel_pos_bias=True, use_shared_rel_pos_bias=True,
                                                    global_pool='token', init_values=0.2), (48, 32), "Beit"),
    ("beit_no_qkv_bias_scale_mlp", lambda t: dict(use_abs_pos_emb=False, use_rel_pos_bias=True, qkv_bias=False,
                                                  scale_mlp=True), (48, 32), "Beit"),
    ("beit_swiglu_scale_mlp", lambda t: dict(use_rel_pos_bias=True, swiglu_mlp=True, scale_mlp=True,
                                             mlp_ratio=8 / 3, init_values=0.1), (48, 32), "Beit"),
    ("beit_swiglu_unpacked_align_1", lambda t: dict(use_abs_pos_emb=False, use_rel_pos_bias=True, swiglu_mlp=True,
                                                    mlp_ratio=2.5), (48, 32), "Beit"),
    ("beit_no_pool_features", lambda t: dict(use_rel_pos_bias=True, global_pool='', num_classes=0), (48, 32),
     "Beit"),
]


def timm_class(name):
    """timm's model class of that name (one of CLASS_MODULES)."""
    import importlib
    return getattr(importlib.import_module(f"timm.models.{CLASS_MODULES[name]}"), name)


def extra_case(timm, label, make_kwargs, input_hw, cls_name="Eva"):
    cls = timm_class(cls_name)
    kwargs = dict(EXTRA_BASE, **make_kwargs(timm))
    seed = zlib.crc32(label.encode())
    torch.manual_seed(seed)
    model = cls(**kwargs)
    gen = torch.Generator().manual_seed(seed)
    perturb(model, gen)
    model.eval()
    x = torch.randn((2, 3) + tuple(input_hw), generator=gen)
    with torch.no_grad():
        y = model(x)
        features = model.forward_head(model.forward_features(x), pre_logits=True)
    ours = to_reference_kwargs(cls, {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()})
    return dict(cls=cls, kwargs=kwargs, cfg={}, overrides={}, ours=ours, model=model, input=x, output=y,
                features=features)


# RopeApply (tests/reference/eva.py) against timm's rope modules and apply_rot_embed_cat:
# (label, RopeApply kwargs)
ROPE_CHECKS = [
    ("cat_ij_ref", dict(rope_type='cat', embed_dim=64, num_heads=4, grid=[3, 4], ref_feat_shape=[5, 3])),
    ("cat_xy_offset_ref_rect", dict(rope_type='cat', embed_dim=48, num_heads=2, grid=[2, 5], grid_offset=1.,
                                    grid_indexing='xy', ref_feat_shape=[4, 6], temperature=100.)),
    ("cat_ij_rotate_half", dict(rope_type='cat', embed_dim=32, num_heads=2, grid=[4, 3], rotate_half=True)),
    ("mixed_xy_block2", dict(rope_type='mixed', embed_dim=64, num_heads=4, depth=3, block=2, grid=[3, 5],
                             grid_indexing='xy', temperature=10.)),
    ("mixed_ij_block0", dict(rope_type='mixed', embed_dim=32, num_heads=2, depth=2, block=0, grid=[4, 2],
                             temperature=10.)),
    ("dinov3_rotate_half_rect", dict(rope_type='dinov3', embed_dim=64, num_heads=4, grid=[3, 5], temperature=100.,
                                     rotate_half=True)),
    ("dinov3_interleaved_xy", dict(rope_type='dinov3', embed_dim=32, num_heads=2, grid=[5, 2], temperature=100.,
                                   grid_indexing='xy')),
]


def check_rope(timm, kw):
    """Max error of RopeApply(**kw) against timm's rope table applied by apply_rot_embed_cat (for 'cat'
    both timm's cached table and its per-shape table)."""
    from timm.layers import apply_rot_embed_cat, create_rope_embed
    ours = ref.RopeApply(**kw)
    grid = list(kw["grid"])
    common = dict(dim=kw["embed_dim"], num_heads=kw["num_heads"], temperature=kw.get("temperature", 10000.),
                  grid_indexing=kw.get("grid_indexing", 'ij'))
    hd = kw["embed_dim"] // kw["num_heads"]
    gen = torch.Generator().manual_seed(zlib.crc32(repr(kw).encode()))
    x = torch.randn((2, kw["num_heads"], grid[0] * grid[1], hd), generator=gen)
    half = kw.get("rotate_half", False)
    ref_shape = kw.get("ref_feat_shape")
    tables = []
    if kw["rope_type"] == 'cat':
        for feat_shape in (grid, None):
            rope = create_rope_embed('cat', in_pixels=False, feat_shape=feat_shape, grid_offset=kw.get("grid_offset", 0.),
                                     ref_feat_shape=tuple(ref_shape) if ref_shape else None, **common)
            tables.append(rope.get_embed() if feat_shape else rope.get_embed(shape=grid))
    elif kw["rope_type"] == 'mixed':
        rope = create_rope_embed('mixed', depth=kw["depth"], feat_shape=None, **common)
        with torch.no_grad():
            rope.freqs.add_(0.05 * torch.randn(rope.freqs.shape, generator=gen))
        ours.load_state_dict(rope.state_dict(), strict=True)
        tables.append(rope.get_embed(shape=grid)[kw.get("block", 0)])
    else:
        rope = create_rope_embed('dinov3', feat_shape=grid, **common)
        tables.append(rope.get_embed())
    errors = {}
    with torch.no_grad():
        mine = ours(x)
        for i, table in enumerate(tables):
            compare(f"rope{i}", mine, apply_rot_embed_cat(x, table, half=half), errors)
    return max(errors.values())


# ---- comparisons -----------------------------------------------------------------------------------

INTERMEDIATE_CALLS = [
    dict(indices=None, norm=False, output_fmt="NCHW"),
    dict(indices=None, norm=True, output_fmt="NLC"),
    dict(indices=[0, -1], norm=True, output_fmt="NCHW", return_prefix_tokens=True),
    dict(indices=2, norm=False, output_fmt="NLC", intermediates_only=True, stop_early=True),
    dict(indices=[1], norm=True, output_fmt="NCHW", return_prefix_tokens=True, stop_early=True),
]


def check_reference(case):
    """Returns (worst error, notes); raises on a mismatch."""
    errors, notes = {}, []
    timm_model, x = case["model"], case["input"]
    torch.manual_seed(0)
    ours = ref.Eva(**case["ours"]).eval()
    theirs_sd, ours_sd = timm_model.state_dict(), ours.state_dict()
    if list(theirs_sd) != list(ours_sd):
        only_t, only_o = [k for k in theirs_sd if k not in ours_sd], [k for k in ours_sd if k not in theirs_sd]
        if only_t or only_o:
            raise Mismatch(f"keys: only timm {only_t[:6]}, only ours {only_o[:6]}")
        first = next(i for i, (a, b) in enumerate(zip(theirs_sd, ours_sd)) if a != b)
        raise Mismatch(f"key order differs at {first}: timm {list(theirs_sd)[first]}, ours {list(ours_sd)[first]}")
    ours.load_state_dict(theirs_sd, strict=True)
    npt = timm_model.num_prefix_tokens
    with torch.no_grad():
        compare("forward", ours(x), case["output"], errors)
        compare("pre_logits", ours.forward_head(ours.forward_features(x), pre_logits=True), case["features"], errors)
        for i, call in enumerate(INTERMEDIATE_CALLS):
            if call.get("return_prefix_tokens") and not npt:
                call = dict(call, return_prefix_tokens=False)  # timm raises (no prefix tokens to return)
            compare(f"intermediates{i}", ours.forward_intermediates(x, **call),
                    timm_model.forward_intermediates(x, **call), errors)
        maps = vit_check.timm_attention_maps(timm_model, x)
        compare("attention", ours.attention_maps(x), maps, errors)
        compare("attention[1,-1]", ours.attention_maps(x, [1, -1]),
                [m for i, m in enumerate(maps) if i in (1, len(maps) - 1)], errors)
        pruned_ours, pruned_theirs = copy.deepcopy(ours), copy.deepcopy(timm_model)
        take = pruned_ours.prune_intermediate_layers([-2], prune_norm=True)
        if take != pruned_theirs.prune_intermediate_layers([-2], prune_norm=True):
            raise Mismatch("prune_intermediate_layers: taken indices differ")
        compare("pruned", pruned_ours(x), pruned_theirs(x), errors)
        pruned_ours, pruned_theirs = copy.deepcopy(ours), copy.deepcopy(timm_model)
        pruned_ours.prune_intermediate_layers(1, prune_head=False)
        pruned_theirs.prune_intermediate_layers(1, prune_head=False)
        compare("pruned_keep_head", pruned_ours(x), pruned_theirs(x), errors)
    return max(errors.values()), notes


# ---- the golden files (tests/golden/eva_*.safetensors) against timm ------------------------------------

def _timm_norm(timm, kind, eps):
    import functools
    return functools.partial(timm.layers.LayerNorm if kind == "layernorm" else timm.layers.RmsNorm, eps=eps)


def canonical(kwargs):
    """All of our Eva keyword arguments (defaults filled in, sizes as pairs), for comparing configs."""
    defaults = {k: p.default for k, p in inspect.signature(ref.Eva.__init__).parameters.items() if k != "self"}
    out = dict(defaults, **kwargs)
    for k in ("img_size", "patch_size", "ref_feat_shape"):
        if out[k] is not None:
            out[k] = list(ref._pair(out[k]))
    return out


# What timm's Beit, its Block and its Attention take, in our names (their counterparts of our Eva,
# EvaBlock and EvaAttention with a relative-position bias); every other option must be at its default.
_BEIT_ARGS = {
    "Eva": ("img_size", "patch_size", "in_chans", "num_classes", "global_pool", "embed_dim", "depth", "num_heads",
            "qkv_bias", "mlp_ratio", "swiglu_mlp", "scale_mlp", "drop_rate", "pos_drop_rate", "proj_drop_rate",
            "attn_drop_rate", "drop_path_rate", "init_values", "use_abs_pos_emb", "use_rel_pos_bias",
            "use_shared_rel_pos_bias"),
    "EvaBlock": ("dim", "num_heads", "qkv_bias", "mlp_ratio", "scale_mlp", "swiglu_mlp", "proj_drop", "attn_drop",
                 "drop_path", "init_values", "rel_pos_window"),
    "EvaAttention": ("dim", "num_heads", "qkv_bias", "attn_drop", "proj_drop", "rel_pos_window"),
}


def _beit_module(timm, module, config, norm):
    """timm's Beit / beit Block / beit Attention for one of our Eva modules with a relative-position bias."""
    import timm.models.beit as beit
    ours = getattr(ref, module)
    defaults = {k: p.default for k, p in inspect.signature(ours.__init__).parameters.items()
                if k != "self" and p.default is not inspect.Parameter.empty}
    full = dict(defaults, **{k: v for k, v in config.items() if k not in ("norm_layer", "norm_eps")})
    unpacked_swiglu = full.get("swiglu_mlp") and not full.get("scale_mlp")
    for key, value in full.items():
        if key in _BEIT_ARGS[module] or key in ("norm_layer", "norm_eps"):
            continue
        if key == "swiglu_align_to" and unpacked_swiglu and value == 1:
            continue  # Beit's SwiGLU is never packed; Eva's neither when aligned (to 1: no change)
        if value != defaults.get(key) and not (key == "num_prefix_tokens" and value == 1):
            raise ValueError(f"timm's Beit has no counterpart of {module} {key}={value!r}")
    if unpacked_swiglu and full.get("swiglu_align_to", 0) != 1:
        raise ValueError("a packed SwiGLU (swiglu_mlp without scale_mlp or swiglu_align_to): timm's Beit has none")
    if module == "Eva" and full["global_pool"] not in ("avg", "token", ""):
        raise ValueError(f"timm's Beit has no global_pool {full['global_pool']!r}")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in full.items() if k in _BEIT_ARGS[module]}
    if module == "Eva":
        return beit.Beit(norm_layer=norm, **kw)
    window = kw.pop("rel_pos_window")
    dim = kw.pop("dim")
    if module == "EvaBlock":
        return beit.Block(dim, norm_layer=norm, window_size=window, **kw)
    return beit.Attention(dim, window_size=window, **kw)


def timm_module_for(timm, module, config):
    """timm's counterpart of one of our golden modules (Eva, EvaBlock, EvaAttention; with a
    relative-position bias timm's Beit, its Block, its Attention; RopeApply is handled by golden_rope)."""
    from timm.models.eva import Eva, EvaAttention, EvaBlock, EvaBlockPostNorm
    from timm.layers import AttentionRope
    cfg = dict(config)
    norm = _timm_norm(timm, cfg.pop("norm_layer", "layernorm"), cfg.pop("norm_eps", 1e-6))
    if cfg.get("use_rel_pos_bias") or cfg.get("use_shared_rel_pos_bias") or cfg.get("rel_pos_window"):
        return _beit_module(timm, module, config, norm)
    cfg.pop("rel_pos_window", None)
    cfg.pop("use_rel_pos_bias", None)
    cfg.pop("use_shared_rel_pos_bias", None)
    if module == "Eva":
        cfg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
        return Eva(norm_layer=norm, **cfg)
    if module == "EvaBlock":
        block = EvaBlockPostNorm if cfg.pop("use_post_norm", False) else EvaBlock
        dim, heads = cfg.pop("dim"), cfg.pop("num_heads")
        return block(dim, heads, norm_layer=norm, **cfg)
    if module == "EvaAttention":
        attn = AttentionRope if cfg.pop("attn_type", "eva") == "rope" else EvaAttention
        cfg["scale_norm"] = cfg.get("scale_norm", False)
        return attn(norm_layer=norm, **cfg)
    raise ValueError(f"no timm counterpart for {module}")


def golden_rope(timm, config, x):
    """timm's rope table of a RopeApply config (with its freqs for 'mixed') applied to x."""
    from timm.layers import apply_rot_embed_cat, create_rope_embed
    common = dict(dim=config["embed_dim"], num_heads=config["num_heads"],
                  temperature=config.get("temperature", 10000.), grid_indexing=config.get("grid_indexing", 'ij'))
    grid, kind = list(config["grid"]), config["rope_type"]
    if kind == 'cat':
        ref_shape = config.get("ref_feat_shape")
        rope = create_rope_embed('cat', in_pixels=False, feat_shape=grid, grid_offset=config.get("grid_offset", 0.),
                                 ref_feat_shape=tuple(ref_shape) if ref_shape else None, **common)
        table = rope.get_embed()
    elif kind == 'mixed':
        rope = create_rope_embed('mixed', depth=config.get("depth", 1), feat_shape=None, **common)
        table = None
    else:
        rope = create_rope_embed('dinov3', feat_shape=grid, **common)
        table = rope.get_embed()
    return rope, lambda: apply_rot_embed_cat(
        x, table if table is not None else rope.get_embed(shape=grid)[config.get("block", 0)],
        half=config.get("rotate_half", False))


def check_golden(timm, path):
    """Max error of timm against one golden file (None: skipped, see check_timm.check_golden)."""
    def build(module, config, x):
        if module == "RopeApply":
            rope, run = golden_rope(timm, config, x)
            rope.requires_grad_(True)
            return rope, run
        model = timm_module_for(timm, module, config)
        return model, lambda: model(x)

    def check_keys(path, config, meta):  # the config must be the name's (full size), the keys and shapes timm's
        name = os.path.basename(path)[len("eva_keys_"):-len(".safetensors")]
        cls, kwargs, _ = timm_kwargs(timm, name)
        if canonical(to_reference_kwargs(cls, kwargs)) != canonical(config):
            raise Mismatch(f"keys config is not timm's {name}")
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
        theirs = [[k, list(v.shape)] for k, v in cls(**kwargs, device="meta").state_dict().items()]
        if theirs != json.loads(meta["keys"]):
            raise Mismatch(f"keys differ from timm's {name}")
        return 0.

    return vit_check.check_golden(path, build, check_keys)


# ---- the C++ tool ------------------------------------------------------------------------------------

def write_hub_dir(d, name, case, full_args=False):
    os.makedirs(d, exist_ok=True)
    model_args = case["ours"] if full_args else case["overrides"]
    config = {"architecture": name, "num_classes": case["overrides"]["num_classes"], "model_args": model_args}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file({k: v.contiguous() for k, v in case["model"].state_dict().items()}, os.path.join(d, "model.safetensors"))
    save_file({"input": case["input"]}, os.path.join(d, "input.safetensors"))


# ---- main ----------------------------------------------------------------------------------------

def main():
    parser, mode = vit_check.driver_parser(__doc__, "check tests/reference/eva.py")
    mode.add_argument("--dump-zoo", action="store_true", help="print our kwargs of every full-size name (JSON)")
    mode.add_argument("--goldens", metavar="DIR", help="check DIR/eva_*.safetensors (the golden files) against timm")
    parser.add_argument("--with-cfg", action="store_true", help="--dump-zoo: add each name's pretrained_cfg")
    parser.add_argument("--module", action="append", choices=MODULES,
                        help=f"timm module whose names to check, repeatable (default: {', '.join(MODULES)})")
    vit_check.add_driver_options(parser)
    parser.add_argument("--full-model-args", action="store_true",
                        help="--cpp: config.json model_args = all our kwargs (default: the shrinking overrides)")
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.timm_src))
    import timm
    torch.set_num_threads(1)
    modules = args.module or list(MODULES)
    names = zoo.module_names(timm, modules)
    total = len(names)
    if args.names:
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.names)]

    if args.goldens:
        import glob
        files = sorted(glob.glob(os.path.join(args.goldens, "eva_*.safetensors")))
        bad = vit_check.check_golden_files(files, lambda path: check_golden(timm, path))
        return 0 if files and not bad else 1

    if args.dump_zoo:
        table = {}
        for name in names:
            cls, kwargs, cfg = timm_kwargs(timm, name)
            ours = to_reference_kwargs(cls, kwargs)
            if args.with_cfg:
                table[name] = dict(model_args=ours, pretrained_cfg={
                    k: cfg.get(k) for k in ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation",
                                            "num_classes")})
            else:
                table[name] = ours
        print(json.dumps(table, indent=1, default=list))
        return 0

    vit_check.timm_banner(timm, args.timm_src)
    print(f"{len(names)} of timm's {total} {' + '.join(modules)} names")

    width = max([len(n) for n in names] + [len(e[0]) for e in EXTRAS if not args.names] + [10])
    matched = vit_check.check_names(
        names, width, lambda name: timm_case(timm, name), check_reference,
        lambda d, name, case: write_hub_dir(d, name, case, args.full_model_args), args, tmp_prefix="check_timm_eva_")
    extras_failed = 0
    extras = [e for e in EXTRAS if CLASS_MODULES[e[3] if len(e) > 3 else "Eva"] in modules]
    if (args.reference or args.dry_run) and not args.names and extras:
        print("\nconfigurations no registered name has (timm's Eva and Beit built directly):")
        check = (lambda extra: (0., [json.dumps(extra_case(timm, *extra)["ours"], separators=(",", ":"))])) \
            if args.dry_run else (lambda extra: check_reference(extra_case(timm, *extra)))
        extras_failed = vit_check.check_extras(extras, check, width)
        print(f"{len(extras) - extras_failed}/{len(extras)} extra configurations "
              f"{'built on timm' if args.dry_run else 'match'}")
    if args.reference and not args.names and "eva" in modules:
        print("\nRopeApply against timm's rope modules:")
        extras_failed += vit_check.check_extras([("rope_" + label, kw) for label, kw in ROPE_CHECKS],
                                                lambda extra: (check_rope(timm, extra[1]), []), width)
    return 0 if names and matched == len(names) and not extras_failed else 1


if __name__ == "__main__":
    sys.exit(main())
