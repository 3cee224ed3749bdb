#!/usr/bin/env python3
"""ViT inference on a CUDA GPU, side by side: `vit bench --device cuda` (vitcpp's InferenceModel, the
LibTorch backend with scaled_dot_product_attention) against PyTorch eager and torch.compile on
tests/reference/vision_transformer.py (timm's math), each measurement a fresh process, the sides
interleaved round by round, the same model, batch, dtype and random input. Times are CUDA-synchronised
wall times per batch, the median of --iters runs after --warmup runs (torch.compile: its compilation
happens in the warm-up).

usage: python3 benchmarks/gpu.py --vit build/tools/vit [--model vit_base_patch16_224] [--batch 256]
                                 [--dtypes bfloat16,float16] [--rounds 2] [--iters 20] [--warmup 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"vit_small_patch16_224": (384, 12, 6), "vit_base_patch16_224": (768, 12, 12),
          "vit_large_patch16_224": (1024, 24, 16)}


def worker(kind, model, batch, dtype, iters, warmup):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from vision_transformer import VisionTransformer
    dim, depth, heads = MODELS[model]
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    m = VisionTransformer(embed_dim=dim, depth=depth, num_heads=heads).eval().to("cuda", dt)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dt)
    if kind == "compile":
        m = torch.compile(m)
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            torch.cuda.synchronize()
            t = time.perf_counter()
            m(x)
            torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times), "torch": torch.__version__}))


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, model, batch, dtype, iters, warmup = sys.argv[2:8]
        worker(kind, model, int(batch), dtype, int(iters), int(warmup))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vit", required=True)
    parser.add_argument("--model", default="vit_base_patch16_224", choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    a = parser.parse_args()
    sides = ["vitcpp", "eager", "compile"]
    results = {}
    for r in range(a.rounds):
        for dtype in a.dtypes.split(","):
            for side in sides:
                if side == "vitcpp":
                    cmd = [a.vit, "bench", "--model", a.model, "--device", "cuda", "--dtype", dtype, "--batch", str(a.batch),
                           "--iters", str(a.iters), "--warmup", str(a.warmup), "--json"]
                else:
                    cmd = [sys.executable, __file__, "--worker", side, a.model, str(a.batch), dtype, str(a.iters), str(a.warmup)]
                out = run_json(cmd)
                results.setdefault((dtype, side), []).append(out["median_ms"])
                print(f"round {r + 1}: {side} {dtype}: {out['median_ms']:.2f} ms", flush=True)
    print(f"\n| {a.model} batch {a.batch} | " + " | ".join(sides) + " | vitcpp / best PyTorch |")
    print("|---|" + "---|" * (len(sides) + 1))
    for dtype in a.dtypes.split(","):
        ms = {s: statistics.median(results[(dtype, s)]) for s in sides}
        best = min(ms["eager"], ms["compile"])
        cells = " | ".join(f"{ms[s]:.1f} ms ({a.batch * 1000 / ms[s]:.0f} img/s)" for s in sides)
        print(f"| {dtype} | {cells} | {best / ms['vitcpp']:.2f}x |")


if __name__ == "__main__":
    main()
