#!/usr/bin/env python3
"""Generates vitcpp's zoo table (kZoo in src/zoo.cpp) and the parameter-count tables of the Zoo tests
from timm's registry: for every name timm registers in the given timm modules, the keyword arguments
its entrypoint passes (timm's layer classes named as our options name them, plus the defaults of its
model class that differ from our family's), and the fields of its default pretrained_cfg that differ
from PretrainedCfg's defaults. Nothing is built except on the meta device (--counts).

  (default)          prints the kZoo lines of the modules' names, sorted by name
  --check FILE       compares them with FILE's kZoo lines (e.g. src/zoo.cpp): exact, differing, missing
  --rewrite FILE     replaces FILE's kZoo table with the lines of all the modules given, sorted
  --counts           prints kTimmCounts rows (tests/test_*.cpp), in timm's order: {"name", parameters,
                     shrunk_embed_dim, shrunk_parameters}: timm's count of the full model, and of the
                     model built with depth 2, 4 heads, 7 classes and the first of 64, 96, 128, 192 wide
                     that builds (tests/golden.cpp check_timm_counts builds the same), on the meta device
  --defaults         prints, per timm model class, its defaults (in our names) that differ from our
                     family's defaults, and whether the lines carry them

The keyword-argument mapping (translate) is the one scripts/check_timm.py and check_timm_eva.py use to
build our Python reference from timm's names. Our family's option names and defaults are read from
include/vit/{vision_transformer,eva,pretrained_cfg}.h (the X-macro field tables).

usage: /usr/bin/python3 scripts/zoo_from_timm.py [--timm-src PATH] [MODULE ...]
       /usr/bin/python3 scripts/zoo_from_timm.py beit vision_transformer_relpos
       /usr/bin/python3 scripts/zoo_from_timm.py --check src/zoo.cpp [MODULE ...]
       /usr/bin/python3 scripts/zoo_from_timm.py --rewrite src/zoo.cpp     (all of MODULES)
       /usr/bin/python3 scripts/zoo_from_timm.py --counts beit
MODULE: a timm module under timm/models (default: all of MODULES).
"""
import argparse
import functools
import inspect
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")

# The timm modules whose names kZoo holds.
MODULES = ("vision_transformer", "deit", "eva", "beit", "vision_transformer_relpos")

# The options header of each family, and the X-macro table in it.
FAMILY_HEADERS = {
    "vision_transformer": ("include/vit/vision_transformer.h", "VIT_VISION_TRANSFORMER_OPTIONS"),
    "eva": ("include/vit/eva.h", "VIT_EVA_OPTIONS"),
}
PRETRAINED_CFG_HEADER = ("include/vit/pretrained_cfg.h", "VIT_PRETRAINED_CFG")


class ModelClass:
    """How one timm model class maps onto one of our families.
    extra: keys every name of the class gets (after its keyword arguments).
    class_defaults: whether the class's own defaults that differ from the family's are added (for classes
    that are not the family's own timm class, whose defaults are ours by construction).
    blocks: its block_fn classes, by our block_fn names."""

    def __init__(self, family, extra=None, class_defaults=False, blocks=None):
        self.family, self.extra, self.class_defaults, self.blocks = family, extra or {}, class_defaults, blocks or {}


_VIT_BLOCKS = {"Block": "block", "ResPostBlock": "res_post", "ParallelScalingBlock": "parallel_scaling",
               "DiffParallelScalingBlock": "diff_parallel_scaling", "ParallelThingsBlock": "parallel_things"}
CLASSES = {
    "VisionTransformer": ModelClass("vision_transformer", blocks=_VIT_BLOCKS),
    "VisionTransformerDistilled": ModelClass("vision_transformer", extra={"distilled": True}, blocks=_VIT_BLOCKS),
    # timm/models/vision_transformer_relpos.py: no absolute position embedding at all
    "VisionTransformerRelPos": ModelClass("vision_transformer", extra={"pos_embed": "none"}, class_defaults=True,
                                          blocks={"RelPosBlock": "block", "ResPostRelPosBlock": "res_post"}),
    "Eva": ModelClass("eva"),
    # timm/models/beit.py: always a class token, one fused qkv with q_bias / v_bias (Eva's defaults)
    "Beit": ModelClass("eva", class_defaults=True),
}

# timm keyword arguments without a counterpart: training-only (timm's drop_rate is head dropout, our
# VisionTransformer's drop_rate means timm 0.5's), init-only, or the builder's
_DROPPED = {
    "vision_transformer": {"drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "attn_drop_rate",
                           "drop_path_rate", "weight_init", "fix_init", "device", "dtype"},
    "eva": {"drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "attn_drop_rate", "drop_path_rate",
            "head_init_scale", "device", "dtype"},
}

# Options of the relative-position models, with their defaults, for as long as a header lacks them.
_NEW_OPTIONS = {
    "vision_transformer": {"rel_pos_type": "", "rel_pos_dim": None, "shared_rel_pos": False},
    "eva": {"use_rel_pos_bias": False, "use_shared_rel_pos_bias": False},
}


# ---- our field tables (the X macros of include/vit/*.h) ---------------------------------------------

def _split_top(s):
    """s split at the commas outside parentheses, braces and string literals."""
    parts, depth, quote, cur, i = [], 0, False, [], 0
    while i < len(s):
        c = s[i]
        if quote:
            cur.append(c)
            if c == "\\":
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
            cur.append(c)
        elif c in "({<[":
            depth += 1
            cur.append(c)
        elif c in ")}>]":
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _cpp_value(text):
    """A field default as Python: std::nullopt -> None, bools, strings, numbers, Int3({...}) -> list."""
    if text == "std::nullopt":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"'):
        return json.loads(text)
    m = re.fullmatch(r"\w+\(\{(.*)\}\)", text)
    if m:
        return [_cpp_value(v.strip()) for v in m.group(1).split(",")]
    try:
        return int(text)
    except ValueError:
        return float(text.rstrip("f"))


@functools.lru_cache(maxsize=None)
def field_table(header, macro):
    """{field name: default} of an X-macro field table, in table order."""
    with open(os.path.join(ROOT, header)) as f:
        text = f.read()
    start = text.index(f"#define {macro}(X)")
    lines = []
    for line in text[start:].splitlines()[1:]:
        lines.append(line.rstrip().rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    body = " ".join(lines)
    fields, i = {}, 0
    while True:
        i = body.find("X(", i)
        if i < 0:
            break
        depth, j = 0, i + 1
        quote = False
        while True:  # the matching parenthesis
            c = body[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == '"':
                    quote = False
            elif c == '"':
                quote = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        args = _split_top(body[i + 2:j])
        fields[args[1]] = _cpp_value(args[2])
        i = j
    return fields


def family_defaults(family):
    """Our family's options and defaults (the header's, and the relative-position options it may lack)."""
    defaults = dict(field_table(*FAMILY_HEADERS[family]))
    for key, value in _NEW_OPTIONS[family].items():
        defaults.setdefault(key, value)
    return defaults


# ---- timm's keyword arguments of a name ----------------------------------------------------------

class _Captured(Exception):
    pass


def timm_kwargs(timm, name, with_cfg_defaults=False):
    """(model class, keyword arguments the entrypoint passes to build_model_with_cfg, in its order,
    pretrained_cfg as a dict): the entrypoint's module's builder is swapped for one that records and
    stops, so nothing is built. with_cfg_defaults: plus what the builder adds from the pretrained_cfg
    (num_classes, in_chans, global_pool, and img_size = input_size[1:] where fixed_input_size)."""
    import timm.models._builder as builder
    from timm.models._registry import model_entrypoint
    entry = model_entrypoint(name)
    module = sys.modules[entry.__module__]
    record = {}

    def recorder(model_cls, variant, pretrained, **kwargs):
        record["cls"], record["kwargs"] = model_cls, kwargs
        raise _Captured()

    saved = module.build_model_with_cfg
    module.build_model_with_cfg = recorder
    try:
        timm.create_model(name)
    except _Captured:
        pass
    finally:
        module.build_model_with_cfg = saved
    if "cls" not in record:
        raise RuntimeError(f"{name}: its entrypoint did not call {module.__name__}.build_model_with_cfg")
    params = set(init_parameters(record["cls"]))
    kwargs = {k: v for k, v in record["kwargs"].items() if k in params}
    cfg = timm.models.get_pretrained_cfg(name).to_dict()
    if with_cfg_defaults:
        builder._update_default_model_kwargs(dict(cfg), kwargs, None)
    return record["cls"], kwargs, cfg


def init_parameters(cls):
    """{name: inspect.Parameter} of the keyword arguments cls.__init__ takes, through the classes it
    passes **kwargs on to (VisionTransformerDistilled's are VisionTransformer's)."""
    params = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass.__module__.startswith("torch."):
            continue
        sig = inspect.signature(klass.__init__).parameters
        for key, p in sig.items():
            if key != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                params.setdefault(key, p)
        if not any(p.kind == p.VAR_KEYWORD for p in sig.values()):
            break
    return params


# ---- timm's layers -> our names ------------------------------------------------------------------

_ACTS = {"gelu": "gelu", "gelu_tanh": "gelu_tanh", "quick_gelu": "quick_gelu", "silu": "silu", "swish": "silu",
         "GELU": "gelu", "GELUTanh": "gelu_tanh", "QuickGELU": "quick_gelu", "SiLU": "silu", "Swish": "silu"}


def _unpartial(layer):
    if isinstance(layer, functools.partial):
        return layer.func, dict(layer.keywords)
    return layer, {}


def _layer_name(layer):
    return layer if isinstance(layer, str) else layer.__name__


def norm_spec(layer):
    """timm norm layer (class, string or partial with eps) -> ("layernorm" | "rmsnorm", eps), or None."""
    from torch import nn
    layer, kw = _unpartial(layer)
    if layer is None or layer == "":
        return None
    default_eps = 1e-5 if layer is nn.LayerNorm else 1e-6  # torch's; timm's LayerNorm and RmsNorm
    kind = {"layernorm": "layernorm", "rmsnorm": "rmsnorm"}.get(_layer_name(layer).replace("_", "").lower())
    if kind is None:
        raise ValueError(f"unsupported norm layer {layer!r}")
    eps = kw.pop("eps", default_eps)
    if kw:
        raise ValueError(f"unsupported norm layer arguments {kw}")
    return kind, eps


def act_name(act):
    act, _ = _unpartial(act)
    if _layer_name(act) not in _ACTS:
        raise ValueError(f"unsupported act_layer {act!r}")
    return _ACTS[_layer_name(act)]


def mlp_name(mlp):
    layer, kw = _unpartial(mlp)
    name = _layer_name(layer)
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


def _norm_items(prefix, value, defaults):
    """norm_layer / embed_norm_layer -> our <prefix>_layer (unless the default kind) and <prefix>_eps
    (unless the default eps)."""
    spec = norm_spec(value)
    if spec is None:
        return []
    kind, eps = spec
    items = []
    if kind != defaults[f"{prefix}_layer"]:
        items.append((f"{prefix}_layer", kind))
    if eps != defaults[f"{prefix}_eps"]:
        items.append((f"{prefix}_eps", eps))
    return items


def _items(spec, key, value, defaults):
    """One timm keyword argument of a spec's class -> our (key, value) pairs."""
    if key in _DROPPED[spec.family] or value is None:
        return []
    if isinstance(value, tuple):
        value = list(value)
    if key == "norm_layer":
        return _norm_items("norm", value, defaults)
    if spec.family == "vision_transformer":
        if key == "embed_norm_layer":
            return _norm_items("embed_norm", value, defaults)
        if key == "act_layer":
            return [("act_layer", act_name(value))]
        if key == "mlp_layer":
            return [("mlp_layer", mlp_name(value))]
        if key == "block_fn":
            if _layer_name(value) not in spec.blocks:
                raise ValueError(f"unsupported block_fn {value!r}")
            return [("block_fn", spec.blocks[_layer_name(value)])]
        if key == "attn_layer":
            return [("attn_layer", {"": "attn", "attn": "attn", "Attention": "attn", "diff": "diff",
                                    "DiffAttention": "diff"}[_layer_name(value)])]
        if key == "embed_layer":
            if _layer_name(value) != "PatchEmbed":
                raise ValueError(f"unsupported embed_layer {value!r}")
            return []
    if key in defaults and key not in ("norm_eps", "embed_norm_eps"):
        return [(key, value)]
    raise ValueError(f"unsupported timm keyword argument {key}={value!r}")


def translate(cls, kwargs):
    """(family, our keyword arguments) for timm's model class and keyword arguments: the arguments in
    their order, then (for classes other than the family's own) the class's defaults that differ from
    ours, then the class's fixed extras."""
    cls_name = cls if isinstance(cls, str) else cls.__name__
    if cls_name not in CLASSES:
        raise ValueError(f"unsupported model class {cls_name}")
    spec = CLASSES[cls_name]
    defaults = family_defaults(spec.family)
    out = {}
    for key, value in kwargs.items():
        out.update(_items(spec, key, value, defaults))
    if spec.class_defaults:
        if isinstance(cls, str):
            raise ValueError(f"{cls_name}: its defaults need the class")
        for key, value in class_default_diffs(cls, spec, defaults).items():
            if key not in out and not _given(key, kwargs):
                out[key] = value
    for key, value in spec.extra.items():
        out.setdefault(key, value)
    if cls_name == "Beit" and out.get("swiglu_mlp") and not out.get("scale_mlp"):
        # Beit's SwiGLU always has separate gate and value Linears; Eva packs them unless scale_mlp or
        # swiglu_align_to, and aligning to 1 changes no width
        out.setdefault("swiglu_align_to", 1)
    return spec.family, out


def _given(our_key, kwargs):
    """Whether timm's kwargs already decide our_key (norm_eps is decided by norm_layer)."""
    source = {"norm_eps": "norm_layer", "embed_norm_eps": "embed_norm_layer"}.get(our_key, our_key)
    return source in kwargs


def class_default_diffs(cls, spec, defaults):
    """The defaults of timm's model class, in our names, that differ from our family's."""
    diffs = {}
    for key, p in init_parameters(cls).items():
        if p.default is inspect.Parameter.empty:
            continue
        for our_key, value in _items(spec, key, p.default, defaults):
            if not _same(value, defaults.get(our_key)):
                diffs[our_key] = value
    return diffs


def _same(a, b):
    """Equal as option values: a size and its pair agree, booleans only equal booleans."""
    if isinstance(a, (list, tuple)) and not isinstance(b, (list, tuple)):
        return all(_same(x, b) for x in a)  # Size2: 224 == [224, 224]
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


# ---- the zoo line ---------------------------------------------------------------------------------

def cfg_fields(cfg):
    """The pretrained_cfg fields that differ from PretrainedCfg's defaults, in its field order."""
    out = {}
    for key, default in field_table(*PRETRAINED_CFG_HEADER).items():
        value = cfg.get(key)
        if value is None:
            continue
        if key in ("mean", "std"):
            value = [float(v) for v in value]
        elif key == "crop_pct":
            value = float(value)
        elif isinstance(value, tuple):
            value = list(value)
        if not _same(value, default):
            out[key] = value
    return out


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def zoo_entry(timm, name):
    """(family, our keyword arguments, pretrained_cfg fields) of a name."""
    cls, kwargs, cfg = timm_kwargs(timm, name)
    family, args = translate(cls, kwargs)
    return family, args, cfg_fields(cfg)


def zoo_line(name, family, args, cfg):
    return f'    {{"{name}", "{family}", R"({_dumps(args)})", R"({_dumps(cfg)})"}},'


def module_names(timm, modules):
    """The names of the modules, in timm's order (module by module, each naturally sorted)."""
    names = []
    for module in modules:
        found = timm.list_models(module=module)
        if not found:
            raise SystemExit(f"timm has no names in module {module!r}")
        names += found
    return list(dict.fromkeys(names))


_LINE = re.compile(r'^\s*\{"([^"]+)", "([^"]+)", R"\((.*)\)", R"\((.*)\)"\},\s*$')
_TABLE_START = "constexpr Entry kZoo[] = {\n"


def read_table(path):
    """(text before the table, {name: line} of its timm lines, its other lines (comments, non-timm
    entries), text after the table) of FILE's kZoo."""
    with open(path) as f:
        text = f.read()
    start = text.index(_TABLE_START) + len(_TABLE_START)
    end = text.index("\n};", start) + 1
    lines, others = {}, []
    for line in text[start:end].splitlines():
        m = _LINE.match(line)
        if m:
            lines[m.group(1)] = line
        else:
            others.append(line)
    return text[:start], lines, others, text[end:]


# ---- parameter counts ----------------------------------------------------------------------------

SHRUNK_WIDTHS = (64, 96, 128, 192)


def count_row(timm, name):
    """(full parameter count, shrunk embed_dim, shrunk parameter count), built on the meta device."""
    def count(**kw):
        model = timm.create_model(name, device="meta", **kw)
        return sum(p.numel() for p in model.parameters())
    full = count()
    for width in SHRUNK_WIDTHS:
        try:
            return full, width, count(depth=2, embed_dim=width, num_heads=4, num_classes=7)
        except Exception:  # noqa: BLE001 - e.g. a packed SwiGLU whose hidden width is odd: the next width
            continue
    raise RuntimeError(f"{name}: no shrunk width of {SHRUNK_WIDTHS} builds")


# ---- main ----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", metavar="FILE", help="compare with FILE's kZoo lines (e.g. src/zoo.cpp)")
    mode.add_argument("--rewrite", metavar="FILE", help="replace FILE's kZoo table with the modules' lines")
    mode.add_argument("--counts", action="store_true", help="print kTimmCounts rows (built on the meta device)")
    mode.add_argument("--defaults", action="store_true",
                      help="print each model class's defaults that differ from our family's")
    parser.add_argument("--timm-src", default="/work/timm-src", help="timm's source tree (imported from there)")
    parser.add_argument("modules", nargs="*", help=f"timm modules (default: {' '.join(MODULES)})")
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.timm_src))
    import timm
    modules = args.modules or list(MODULES)
    names = module_names(timm, modules)

    if args.counts:
        for name in names:
            full, width, shrunk = count_row(timm, name)
            print(f'    {{"{name}", {full}, {width}, {shrunk}}},', flush=True)
        return 0

    if args.defaults:
        seen = {}
        for name in names:
            cls, _, _ = timm_kwargs(timm, name)
            seen.setdefault(cls.__name__, cls)
        for cls_name, cls in seen.items():
            spec = CLASSES[cls_name]
            diffs = class_default_diffs(cls, spec, family_defaults(spec.family))
            print(f"{cls_name} -> {spec.family}: {_dumps(diffs)} "
                  f"({'added to its lines' if spec.class_defaults else 'not added: the family is this class'})"
                  + (f"; always {_dumps(spec.extra)}" if spec.extra else ""))
        return 0

    lines = {}
    for name in names:
        lines[name] = zoo_line(name, *zoo_entry(timm, name))

    if args.check:
        _, existing, _, _ = read_table(args.check)
        exact, differ = 0, []
        for name, line in lines.items():
            if existing.get(name) == line:
                exact += 1
            elif name in existing:
                differ.append(name)
        missing = [n for n in lines if n not in existing]
        print(f"{exact}/{len(lines)} lines of {' '.join(modules)} reproduce {args.check} exactly")
        for name in differ:
            print(f"differs: {name}\n  file:      {existing[name].strip()}\n  generated: {lines[name].strip()}")
        for name in missing:
            print(f"not in {args.check}: {lines[name].strip()}")
        if list(existing) != sorted(existing):
            print(f"note: {args.check}'s table is not sorted by name")
        return 0 if exact == len(lines) else 1

    if args.rewrite:
        head, existing, others, tail = read_table(args.rewrite)
        # names of other modules stay when only some modules are given; with all of them, names timm no
        # longer registers go
        kept = {} if not args.modules else {n: line for n, line in existing.items() if n not in lines}
        table = dict(kept, **lines)
        with open(args.rewrite, "w") as f:
            f.write(head + "".join(table[n] + "\n" for n in sorted(table)) + "".join(o + "\n" for o in others)
                    + tail)
        added = [n for n in lines if n not in existing]
        removed = [n for n in existing if n not in table]
        changed = [n for n in lines if n in existing and existing[n] != lines[n]]
        print(f"wrote {len(table)} timm lines to {args.rewrite} ({len(lines)} of {' '.join(modules)}): "
              f"{len(added)} added, {len(changed)} changed, {len(removed)} removed"
              + (f" ({' '.join(removed)})" if removed else "") + f"; {len(others)} other lines kept after them")
        return 0

    for name in sorted(names):
        print(lines[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
