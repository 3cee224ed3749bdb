#!/usr/bin/env python3
"""Data-parallel scaling of `vit train` on this machine: 1 process of T threads against P processes
of T/P threads each (`--nproc P`, c10d on loopback), the same cores, global batch and malloc
settings (vit train sets them itself), each measurement a fresh run, the configurations
interleaved round by round. Two workloads:

  fashion-mnist   the built-in recipe (28x28, 0.55 M parameters), one epoch of --limit images
  vit_tiny_224    vit_tiny_patch16_224 (5.7 M parameters) fine-tuned at 224x224 on an image folder
                  (scripts/fashion-mnist-folder.py writes one; its images are upscaled by
                  RandomResizedCrop), one epoch of the folder's training images

Reports the training images/s that vit train prints at the end of the epoch, and, for P > 1, the
share of the step time each rank spent waiting for the gradient all-reduce after its backward
(`sync` in vit train's epoch line: what the overlap with backward did not hide).

usage: /usr/bin/python3 benchmarks/scaling.py --vit build/tools/vit --folder DIR [--rounds 3] [--threads 2]
"""
import argparse
import re
import shutil
import statistics
import subprocess
import tempfile

LINE = re.compile(r"epoch 1/1 .*?(\d+) img/s(?:.*?sync ([\d.]+)%)?")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    m = LINE.search(out.stderr)
    if not m:
        raise SystemExit(f"no epoch line in:\n{out.stderr}")
    return float(m.group(1)), float(m.group(2)) if m.group(2) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vit", required=True)
    parser.add_argument("--folder", required=True, help="an image folder with train/ (and val/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--limit", type=int, default=12800, help="Fashion-MNIST images per epoch")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vit_scaling_")
    workloads = {
        "fashion-mnist": ["train", "--limit", str(args.limit), "--epochs", "1", "--batch-size", "64"],
        "vit_tiny_224": ["train", "--model", "vit_tiny_patch16_224", "--data", args.folder, "--epochs", "1",
                         "--batch-size", "32", "--lr", "5e-4"],
    }
    configs = [(1, args.threads), (args.nproc, max(1, args.threads // args.nproc))]
    results = {(w, c): [] for w in workloads for c in configs}
    for r in range(args.rounds):
        for name, cmd in workloads.items():
            for procs, threads in configs:
                full = [args.vit] + cmd + ["--out", f"{work}/{name}", "--threads", str(threads)]
                if procs > 1:
                    full += ["--nproc", str(procs)]
                results[(name, (procs, threads))].append(run(full))
                rate, sync = results[(name, (procs, threads))][-1]
                print(f"round {r + 1}: {name} {procs} x {threads} threads: {rate:.0f} img/s"
                      + (f", sync {sync:.1f}%" if sync is not None else ""), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print("\n| workload | processes x threads | images/s (median) | speed-up | all-reduce wait, % of step |")
    print("|---|---|---|---|---|")
    for name in workloads:
        base = statistics.median(r for r, _ in results[(name, configs[0])])
        for procs, threads in configs:
            rates = [r for r, _ in results[(name, (procs, threads))]]
            syncs = [s for _, s in results[(name, (procs, threads))] if s is not None]
            rate = statistics.median(rates)
            print(f"| {name} | {procs} x {threads} | {rate:.0f} ({', '.join(f'{x:.0f}' for x in rates)}) | "
                  f"{rate / base:.2f}x | {statistics.median(syncs):.1f} |" if syncs else
                  f"| {name} | {procs} x {threads} | {rate:.0f} ({', '.join(f'{x:.0f}' for x in rates)}) | 1.00x | - |")


if __name__ == "__main__":
    main()
