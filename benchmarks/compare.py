#!/usr/bin/python3
"""vitcpp against PyTorch eager, torch.compile and ONNX Runtime, side by side on one machine.

For each model and batch it runs every side and dtype, each measurement in a fresh process, in
interleaved rounds, all with the same threads, input shape and malloc settings (glibc kept from
returning freed memory to the kernel: MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ at 1 GiB,
unless --default-malloc), and prints ms per batch (the median over rounds of each process's median):

  vitcpp 1.13    `vit bench --json` built here (Debian bookworm: LibTorch 1.13, oneDNN 2.6)
  vitcpp 2.6     `vit bench --json` built in the trixie chroot (LibTorch 2.6, oneDNN 3.7;
                 scripts/test-trixie.sh builds it in /build-trixie)
  eager 1.13     PyTorch eager (bookworm's python3-torch), tests/reference/vision_transformer.py
                 (timm's math) under torch.inference_mode
  eager 2.6      the same on trixie's python3-torch 2.6
  compile 2.6    torch.compile (inductor) of the same model on 2.6, compiled during warm-up
  ORT            ONNX Runtime (trixie's python3-onnxruntime) on the model exported to ONNX by
                 torch 2.6, float32 and quantize_dynamic int8 (QInt8 weights, the MatMul and Gemm
                 nodes: the Linear layers)

Sides on trixie need `bash scripts/test-trixie.sh` (the chroot and its build of vit) and
`bash scripts/test-trixie.sh --bench` (the peers) once.
Then, per platform, the ratios the comparison's goals are set in: vitcpp float32 / ORT float32
(goal: 1.3x), vitcpp bfloat16 / the best PyTorch bfloat16 (1.5x), vitcpp int8 / ORT int8 (1.5x),
vitcpp's fastest / the fastest peer (1.5x), and int8 efficiency (model int8 ops / time over the s8
GEMM peak `vit bench` measures).

usage: /usr/bin/python3 benchmarks/compare.py [--vit build/tools/vit] [--no-trixie] [--threads 2]
           [--models vit_small_patch16_224,vit_base_patch16_224] [--batches 1,8] [--iters 3]
           [--warmup 1] [--rounds 2] [--sides ...]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TRIXIE = ["bash", os.path.join(ROOT, "scripts", "test-trixie.sh"), "--exec"]
TRIXIE_VIT = "/build-trixie/tools/vit"
ONNX_DIR = "/tmp/vitcpp-onnx"  # inside the chroot

# The models compared: the reference module (tests/reference/) and the keyword arguments of timm's
# config, and the input size. The Eva models (rotary embeddings) run as vitcpp's module layers, in
# float32 and bfloat16 only (no int8 engine, no ONNX export here).
MODELS = {
    "vit_tiny_patch16_224": ("vision_transformer", dict(embed_dim=192, depth=12, num_heads=3), 224),
    "vit_small_patch16_224": ("vision_transformer", dict(embed_dim=384, depth=12, num_heads=6), 224),
    "vit_base_patch16_224": ("vision_transformer", dict(embed_dim=768, depth=12, num_heads=12), 224),
    "vit_large_patch16_224": ("vision_transformer", dict(embed_dim=1024, depth=24, num_heads=16), 224),
    "eva02_small_patch14_224": ("eva", dict(img_size=224, patch_size=14, embed_dim=384, depth=12, num_heads=6,
                                            mlp_ratio=4 * 2 / 3, swiglu_mlp=True, use_rot_pos_emb=True,
                                            ref_feat_shape=[16, 16], num_classes=0), 224),
    "vit_small_patch16_rope_mixed_224": ("eva", dict(embed_dim=384, depth=12, num_heads=6, attn_type="rope",
                                                     init_values=1e-5, global_pool="token", use_abs_pos_emb=False,
                                                     use_rot_pos_emb=True, rope_type="mixed", rope_grid_indexing="xy",
                                                     rope_temperature=10.), 224),
    "vit_small_patch16_dinov3": ("eva", dict(img_size=256, embed_dim=384, depth=12, num_heads=6, qkv_bias=False,
                                             init_values=1e-5, rope_type="dinov3", rope_temperature=100,
                                             rope_rotate_half=True, use_rot_pos_emb=True, use_abs_pos_emb=False,
                                             num_reg_tokens=4, use_fc_norm=False, norm_eps=1e-5, num_classes=0,
                                             dynamic_img_size=True), 256),
}


def dtypes(model, side):
    """The dtypes `side` runs `model` in."""
    if MODELS[model][0] == "eva":
        return [] if side == "ORT" else [d for d in SIDES[side][1] if d != "int8"]
    return SIDES[side][1]


# side -> (platform, dtypes)
SIDES = {
    "vitcpp 1.13": ("bookworm", ["float32", "bfloat16", "int8"]),
    "vitcpp 2.6": ("trixie", ["float32", "bfloat16", "int8"]),
    "eager 1.13": ("bookworm", ["float32", "bfloat16"]),
    "eager 2.6": ("trixie", ["float32", "bfloat16"]),
    "compile 2.6": ("trixie", ["float32", "bfloat16"]),
    "ORT": ("trixie", ["float32", "int8"]),
}


# ---- workers: one measurement in this process, printed as a JSON line ------------------------------

def reference_model(model, torch):
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import eva
    import vision_transformer
    module, kwargs, _ = MODELS[model]
    torch.manual_seed(0)
    return (eva.Eva if module == "eva" else vision_transformer.VisionTransformer)(**kwargs).eval()


def timed(call, iters, warmup):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": statistics.median(times),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker(kind, model, batch, dtype, threads, iters, warmup):
    if kind == "ort":
        import onnx.reference  # noqa: F401  (before onnxruntime, or its quantisation module fails to import)
        import numpy as np
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = os.path.join(ONNX_DIR, f"{model}.{'int8' if dtype == 'int8' else 'fp32'}.onnx")
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
        return timed(lambda: session.run(None, {"x": x}), iters, warmup)
    import torch
    torch.set_num_threads(threads)
    m = reference_model(model, torch).to(getattr(torch, dtype))
    size = MODELS[model][2]
    x = torch.randn(batch, 3, size, size).to(getattr(torch, dtype))
    if kind == "compile":
        m = torch.compile(m)
    with torch.inference_mode():
        return timed(lambda: m(x), iters, max(warmup, 2 if kind == "compile" else 0))


def export(model):
    """ONNX float32 and dynamic int8 files of the reference model (torch 2.6 in the chroot)."""
    import torch
    import onnx.reference  # noqa: F401
    from onnxruntime.quantization import QuantType, quantize_dynamic
    os.makedirs(ONNX_DIR, exist_ok=True)
    fp32, int8 = (os.path.join(ONNX_DIR, f"{model}.{k}.onnx") for k in ("fp32", "int8"))
    if not os.path.exists(int8):
        m = reference_model(model, torch)
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), fp32, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
        # the Linear layers (MatMul, Gemm), as vitcpp quantises the block GEMMs; ORT has no ConvInteger
        # for the patch embedding with int8 weights
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    print(json.dumps({"fp32": fp32, "int8": int8}))


# ---- the driver --------------------------------------------------------------------------------------

def run_json(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def command(a, side, model, batch, dtype):
    common = ["--threads", str(a.threads), "--iters", str(a.iters), "--warmup", str(a.warmup)]
    if side.startswith("vitcpp"):
        vit = [a.vit] if side == "vitcpp 1.13" else TRIXIE + [TRIXIE_VIT]
        return vit + ["bench", "--model", model, "--batch", str(batch), "--dtype", dtype, "--json"] + common
    kind = {"eager": "eager", "compile": "compile", "ORT": "ort"}[side.split()[0]]
    me = [sys.executable, __file__] if SIDES[side][0] == "bookworm" else TRIXIE + ["python3", "/src/benchmarks/compare.py"]
    return me + ["--worker", kind, model, str(batch), dtype] + common


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vit", default=os.path.join(ROOT, "build", "tools", "vit"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--models", default="vit_small_patch16_224,vit_base_patch16_224")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--sides", default=",".join(SIDES), help="comma-separated, of: " + ", ".join(SIDES))
    ap.add_argument("--no-trixie", action="store_true", help="only the sides that run on this system")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the median of each is kept")
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc settings alone on every side")
    ap.add_argument("--worker", nargs=4, metavar=("KIND", "MODEL", "BATCH", "DTYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--export", metavar="MODEL", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], int(a.worker[2]), a.worker[3], a.threads, a.iters, a.warmup)))
        return
    if a.export:
        export(a.export)
        return
    sides = [s for s in a.sides.split(",") if not (a.no_trixie and SIDES.get(s, ("",))[0] == "trixie")]
    for s in sides:
        if s not in SIDES:
            sys.exit(f"error: unknown side {s!r}; known: {', '.join(SIDES)}")
    if "vitcpp 1.13" in sides and not os.access(a.vit, os.X_OK):
        sys.exit(f"error: {a.vit} is not an executable vit tool (build it, or pass --vit)")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if not a.default_malloc:
        env.update(MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    models = a.models.split(",")
    for model in models:
        if model not in MODELS:
            sys.exit(f"error: unknown model {model!r}; known: {', '.join(MODELS)}")
        if "ORT" in sides and dtypes(model, "ORT"):
            run_json(TRIXIE + ["python3", "/src/benchmarks/compare.py", "--export", model], env)
    cells = [(s, d) for s in sides for d in SIDES[s][1]]
    print(f"| model | batch | " + " | ".join(f"{s} {d}" for s, d in cells) + " |")
    print("|---|---|" + "---|" * len(cells), flush=True)
    results = {}
    for model in models:
        for batch in map(int, a.batches.split(",")):
            runs = {c: [] for c in cells if c[1] in dtypes(model, c[0])}
            for _ in range(a.rounds):
                for side, dtype in runs:
                    runs[(side, dtype)].append(run_json(command(a, side, model, batch, dtype), env))
            r = {c: statistics.median(x["median_ms"] for x in v) for c, v in runs.items()}
            for c in runs:
                if c[0].startswith("vitcpp"):
                    r[c + ("run",)] = runs[c][0]
            results[(model, batch)] = r
            print(f"| {model} | {batch} | " + " | ".join(f"{r[c]:.1f}" if c in r else "-" for c in cells) + " |",
                  flush=True)
    goals(results, sides)
    print(f"\nms per batch; {a.threads} threads; medians of {a.rounds} interleaved rounds, each a fresh process "
          f"timing {a.iters} runs after {a.warmup} warm-up (torch.compile: at least 2, which compile); malloc: "
          f"{'glibc defaults' if a.default_malloc else 'MALLOC_MMAP_THRESHOLD_ = MALLOC_TRIM_THRESHOLD_ = 1 GiB'} "
          "on every side.", flush=True)


def goals(results, sides):
    """The ratios the goals are set in (fp32 / ORT fp32, bf16 / best PyTorch bf16, int8 / ORT int8,
    fastest / fastest peer), per platform with a vitcpp side."""
    print("\n| model | batch | platform | fp32 / ORT fp32 | bf16 / best PyTorch bf16 | int8 / ORT int8 | "
          "fastest / fastest peer | int8 efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for (model, batch), r in results.items():
        peers = {c: ms for c, ms in r.items() if len(c) == 2 and not c[0].startswith("vitcpp")}
        fastest_peer = min(peers.items(), key=lambda kv: kv[1]) if peers else None
        torch_bf16 = [ms for (s, d), ms in peers.items() if d == "bfloat16"]
        for side in ("vitcpp 1.13", "vitcpp 2.6"):
            if side not in sides:
                continue
            mine = {d: r[(side, d)] for d in dtypes(model, side)}

            def ratio(peer_ms, my_ms):
                return f"{peer_ms / my_ms:.2f}x" if peer_ms and my_ms else "-"
            best = min(mine.items(), key=lambda kv: kv[1])
            efficiency = "-"
            if "int8" in mine:
                run = r[(side, "int8", "run")]
                ops = 2e9 * run["gmacs_per_image"] * batch
                eff = ops / (mine["int8"] / 1e3) / 1e9 / run["gemm_peak_gflops"]
                efficiency = f"{100 * eff:.0f}% of {run['gemm_peak_gflops']:.0f} GOP/s"
            print(f"| {model} | {batch} | {side} | {ratio(peers.get(('ORT', 'float32')), mine['float32'])} | "
                  f"{ratio(min(torch_bf16) if torch_bf16 else None, mine['bfloat16'])} | "
                  f"{ratio(peers.get(('ORT', 'int8')), mine.get('int8'))} | "
                  + (f"{best[0]} {best[1]:.1f} ms vs {' '.join(fastest_peer[0])} {fastest_peer[1]:.1f} ms: "
                     f"{fastest_peer[1] / best[1]:.2f}x" if fastest_peer else "-")
                  + f" | {efficiency} |", flush=True)


if __name__ == "__main__":
    main()
