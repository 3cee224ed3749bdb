#!/usr/bin/python3
"""vitcpp against PyTorch-Python eager, side by side on one machine.

For each model, batch and dtype it runs, interleaved and each in a fresh process, the same ViT
through PyTorch eager (tests/reference/vision_transformer.py, whose math is timm's, under
torch.inference_mode) and through `vit bench --json` (vitcpp's InferenceModel), with the same
threads and input shape, and prints one table: ms per batch, images/s, the ratio, each one's
efficiency (model FLOPs / time over the GEMM peak `vit bench` measures for that dtype) and peak RSS.

usage: /usr/bin/python3 benchmarks/compare_pytorch.py [--vit build/tools/vit] [--threads 2]
           [--models vit_small_patch16_224,vit_base_patch16_224] [--batches 1,8]
           [--dtypes float32,bfloat16] [--iters 5] [--rounds 2] [--markdown]
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

# timm's configs (embed_dim, depth, num_heads) of the models compared
MODELS = {
    "vit_tiny_patch16_224": (192, 12, 3),
    "vit_small_patch16_224": (384, 12, 6),
    "vit_base_patch16_224": (768, 12, 12),
    "vit_large_patch16_224": (1024, 24, 16),
}


def worker(model, batch, dtype, threads, iters, warmup):
    """One PyTorch eager measurement in this process; prints a JSON line."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from vision_transformer import VisionTransformer

    torch.set_num_threads(threads)
    dim, depth, heads = MODELS[model]
    torch.manual_seed(0)
    m = VisionTransformer(embed_dim=dim, depth=depth, num_heads=heads).eval().to(getattr(torch, dtype))
    x = torch.randn(batch, 3, 224, 224).to(getattr(torch, dtype))
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            m(x)
        for _ in range(iters):
            t = time.perf_counter()
            m(x)
            times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vit", default=os.path.join(ROOT, "build", "tools", "vit"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--models", default="vit_small_patch16_224,vit_base_patch16_224")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the median of each side is kept")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--worker", nargs=3, metavar=("MODEL", "BATCH", "DTYPE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], int(a.worker[1]), a.worker[2], a.threads, a.iters, a.warmup)
        return
    if not os.access(a.vit, os.X_OK):
        sys.exit(f"error: {a.vit} is not an executable vit tool (build it, or pass --vit)")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    rows = []
    for model in a.models.split(","):
        if model not in MODELS:
            sys.exit(f"error: unknown model {model!r}; known: {', '.join(MODELS)}")
        for dtype in a.dtypes.split(","):
            for batch in map(int, a.batches.split(",")):
                torch_ms, vit_runs = [], []
                for _ in range(a.rounds):
                    py = run_json([sys.executable, __file__, "--worker", model, str(batch), dtype,
                                   "--threads", str(a.threads), "--iters", str(a.iters), "--warmup", str(a.warmup)])
                    torch_ms.append((py["median_ms"], py["peak_rss_mb"]))
                    vit_runs.append(run_json([a.vit, "bench", "--model", model, "--batch", str(batch), "--dtype", dtype,
                                              "--threads", str(a.threads), "--iters", str(a.iters),
                                              "--warmup", str(a.warmup), "--json"]))
                t_ms = statistics.median(t for t, _ in torch_ms)
                t_rss = max(r for _, r in torch_ms)
                v_ms = statistics.median(v["median_ms"] for v in vit_runs)
                first = vit_runs[0]
                peak = statistics.median(run["gemm_peak_gflops"] for run in vit_runs)
                flop = 2e9 * first["gmacs_per_image"] * batch
                rows.append(dict(model=model, batch=batch, dtype=dtype, threads=a.threads, backend=first["backend"],
                                 torch_ms=t_ms, vit_ms=v_ms, torch_ips=batch * 1e3 / t_ms, vit_ips=batch * 1e3 / v_ms,
                                 ratio=t_ms / v_ms, torch_eff=flop / (t_ms / 1e3) / 1e9 / peak,
                                 vit_eff=flop / (v_ms / 1e3) / 1e9 / peak, peak=peak, torch_rss=t_rss,
                                 vit_rss=max(run["peak_rss_mb"] for run in vit_runs)))
                print_row(rows[-1], a.markdown, header=len(rows) == 1)
    print(f"\n{a.threads} threads; medians of {a.rounds} interleaved rounds of {a.iters} timed runs "
          f"(after {a.warmup} warm-up); efficiency = model FLOPs / time / GEMM peak (1576x768x3072, same dtype, "
          "measured by vit bench); RSS = peak resident memory of each process.", flush=True)


def print_row(r, markdown, header):
    cols = ["model", "batch", "dtype", "PyTorch ms", "vitcpp ms", "PyTorch img/s", "vitcpp img/s", "speed-up",
            "PyTorch eff.", "vitcpp eff.", "GEMM peak GFLOP/s", "PyTorch RSS MB", "vitcpp RSS MB"]
    vals = [r["model"], str(r["batch"]), r["dtype"], f"{r['torch_ms']:.1f}", f"{r['vit_ms']:.1f}",
            f"{r['torch_ips']:.2f}", f"{r['vit_ips']:.2f}", f"{r['ratio']:.2f}x", f"{100 * r['torch_eff']:.0f}%",
            f"{100 * r['vit_eff']:.0f}%", f"{r['peak']:.0f}", f"{r['torch_rss']:.0f}", f"{r['vit_rss']:.0f}"]
    if markdown:
        if header:
            print("| " + " | ".join(cols) + " |")
            print("|" + "---|" * len(cols))
        print("| " + " | ".join(vals) + " |", flush=True)
    else:
        widths = [22, 5, 8, 10, 9, 13, 12, 8, 12, 11, 17, 14, 13]
        if header:
            print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
        print("  ".join(v.rjust(w) for v, w in zip(vals, widths)), flush=True)


if __name__ == "__main__":
    main()
