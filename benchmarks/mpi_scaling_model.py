#!/usr/bin/env python3
"""The scaling model of docs/distributed.md, from the measurements of mpi_step_time.sh.

    python3 benchmarks/mpi_scaling_model.py benchmarks/results/2026-12-02-mpi/all.json

For each model measured on one rank (compute C per step on one core, gradient G bytes) and
N = 2..64 nodes on a network of bandwidth beta and latency alpha, the step time is

    t(N) = C_N + exchange(N)
    gathered exchange (seqlm: every rank receives every other rank's worker gradients, summed
    in one fixed order; bit-identical to one process):   alpha log2 N + (N - 1) G / beta
    ring allreduce (summation order depends on N; not bit-identical):
                                                         alpha log2 N + 2 (N - 1) / N G / beta

with C_N = C / N when the global batch stays 128 (strong scaling; optimistic: small per-rank
batches run below the one-core rate) or C_N = C when every node takes 128 sequences (weak
scaling, a global batch of 128 N). Scaling efficiency: C / (N t(N)) for strong scaling,
C / t(N) for weak scaling. Prints Markdown tables.
"""
import json
import math
import sys

NETWORKS = [("10 Gb/s", 1.25e9 * 0.9, 30e-6), ("100 Gb/s", 12.5e9 * 0.9, 5e-6)]  # ~90% of line rate
NODES = [2, 4, 8, 16, 32, 64]


def exchange(kind, n, g, beta, alpha):
    latency = alpha * math.log2(n)
    if kind == "gathered":
        return latency + (n - 1) * g / beta
    return latency + 2 * (n - 1) / n * g / beta


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main(path):
    runs = json.load(open(path))["runs"]
    models = {}
    for r in runs:
        models.setdefault((r["model"], r["units"]), []).append(r)
    print("| model | parameters | G (MB) | 1 rank, B=128 (ms) | 1 rank, B=64 (ms) | 2 ranks, B=128 (ms) "
          "| in exchange (ms/step) | exchange alone (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for (model, units), group in sorted(models.items(), key=lambda kv: kv[1][0]["parameters"]):
        def pick(ranks, batch, key):
            return [r[key] * 1e3 for r in group if r["ranks"] == ranks and r["batch"] == batch]
        cells = [", ".join(f"{v:.1f}" for v in pick(1, 128, "step_seconds_median")),
                 ", ".join(f"{v:.1f}" for v in pick(1, 64, "step_seconds_median")),
                 ", ".join(f"{v:.1f}" for v in pick(2, 128, "step_seconds_median")),
                 ", ".join(f"{v:.1f}" for v in pick(2, 128, "exchange_seconds_per_step")),
                 ", ".join(f"{v:.2f}" for v in pick(2, 128, "exchange_only_seconds_median"))]
        print(f"| {model} {units} | {group[0]['parameters']:,} | {group[0]['gradient_bytes'] / 1e6:.2f} | "
              + " | ".join(cells) + " |")
    for (model, units), group in sorted(models.items(), key=lambda kv: kv[1][0]["parameters"]):
        c = median([r["step_seconds_median"] for r in group if r["ranks"] == 1 and r["batch"] == 128])
        g = group[0]["gradient_bytes"]
        print(f"\n{model}, {units} units: {group[0]['parameters']:,} parameters, "
              f"G = {g / 1e6:.2f} MB, C = {c * 1e3:.0f} ms per step of 128 on one core\n")
        print("| scaling | network | exchange | " + " | ".join(f"N={n}" for n in NODES) + " |")
        print("|---|---|---|" + "---|" * len(NODES))
        for scaling in ("strong", "weak"):
            for name, beta, alpha in NETWORKS:
                for kind in ("gathered", "ring allreduce"):
                    cells = []
                    for n in NODES:
                        compute = c / n if scaling == "strong" else c
                        t = compute + exchange(kind, n, g, beta, alpha)
                        efficiency = c / (n * t) if scaling == "strong" else c / t
                        cells.append(f"{100 * efficiency:.0f}%")
                    print(f"| {scaling} | {name} | {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
