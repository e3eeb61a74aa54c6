#!/usr/bin/python3
"""seqlm's recurrent kernels next to PyTorch's, on the same shapes, in one invocation.

For every case (cell x mode x shape) the script alternates:
  1. seqlm: the Google Benchmark binary, one row (--benchmark_filter=^name$, JSON output);
  2. PyTorch with torch.set_num_threads(1);
  3. PyTorch with torch.set_num_threads(2);
and repeats that --repeats times, so that load from other processes hits both sides alike.
The median time of each side is reported. seqlm's kernels run on 1 thread (they are
single-threaded for now); PyTorch runs at 1 and 2 threads.

What is compared (T = 60 steps, float32, return_sequences / all steps' outputs):
  forward           seqlm layer.forward(x, B)         torch nn.LSTM / nn.GRU forward (autograd on)
  forward_backward  forward + layer.backward(dY)      forward + out.backward(dY), x.requires_grad
  step              layer.step(x, state), B streams   nn.LSTMCell / nn.GRUCell under no_grad
  *_ids             token ids (a gather in seqlm)     one-hot float inputs in PyTorch (dense GEMM)
gru_reset_after is PyTorch's GRU formulation; gru_reset_before (Keras reset_after=False) has no
PyTorch counterpart and gets seqlm figures only.

FLOPs (matrix products only, multiply-add = 2, G = 4 for LSTM, 3 for GRU):
  forward = 2*G*H*(I+H)*B*T, forward_backward = 3 x forward, step = 2*G*H*(I+H)*B;
  token ids count I = 0 (the input projection is a gather). Both sides use the same count, so
  the GFLOP/s columns compare like the times do.

Writes bench-results.json (every figure and the ratio torch_time / seqlm_time, > 1 when seqlm
is faster) and bench-results.md (a Markdown table) into --out-dir.

  /usr/bin/python3 benchmarks/pytorch_side_by_side.py --quick           # ~1-2 minutes
  /usr/bin/python3 benchmarks/pytorch_side_by_side.py --filter 'lstm/'  # all LSTM shapes
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

STEPS = 60  # T
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARIES = [
    os.path.join(REPO_ROOT, "build", "bench", "benchmarks", "seqlm_benchmarks"),
    os.path.join(REPO_ROOT, "build", "release", "benchmarks", "seqlm_benchmarks"),
]
GATES = {"lstm": 4, "gru_reset_after": 3, "gru_reset_before": 3}
TIME_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


# ---- the cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    cell: str  # lstm, gru_reset_after, gru_reset_before
    mode: str  # forward, forward_backward, step
    ids: bool  # token-id inputs (vocabulary of input_size) instead of dense I-vectors
    input_size: int  # I, or the vocabulary size V for ids
    units: int  # H
    batch: int  # B

    @property
    def name(self):
        """The seqlm benchmark row (see benchmarks/bench_recurrent.cpp)."""
        prefix = self.cell + ("_ids" if self.ids else "")
        label = "V" if self.ids else "I"
        name = f"{prefix}/{self.mode}/{label}:{self.input_size}/H:{self.units}/B:{self.batch}"
        return name if self.mode == "step" else name + f"/T:{STEPS}"

    @property
    def flops(self):
        multiplied_inputs = 0 if self.ids else self.input_size
        steps = 1 if self.mode == "step" else STEPS
        forward = 2.0 * GATES[self.cell] * self.units * (multiplied_inputs + self.units) * self.batch * steps
        return 3.0 * forward if self.mode == "forward_backward" else forward


def all_cases(quick):
    """The kernel shapes of the benchmark suite: T = 60, I = H, and the Nietzsche id shape."""
    units_list = [128] if quick else [128, 256, 512]
    batch_list = [1, 32] if quick else [1, 32, 128]
    cases = []
    for cell in GATES:
        for units in units_list:
            for batch in batch_list:
                for mode in ("forward", "forward_backward", "step"):
                    cases.append(Case(cell, mode, False, units, units, batch))
        # Nietzsche: 57 character ids, H = 128, B = 128 (training) and B = 1 (generation step).
        cases.append(Case(cell, "forward", True, 57, 128, 128))
        cases.append(Case(cell, "forward_backward", True, 57, 128, 128))
        cases.append(Case(cell, "step", True, 57, 128, 1))
    return cases


# ---- seqlm: the Google Benchmark binary --------------------------------------------------------------


def row_filter(name):
    """A --benchmark_filter matching exactly one row. Rows timed in real time carry a /real_time
    suffix; the names contain no regular-expression metacharacters."""
    return f"^{name}(/real_time)?$"


def run_seqlm(binary, case, min_time, environment):
    """Seconds per iteration of one seqlm row (real time), and the binary's JSON context."""
    command = [
        binary,
        f"--benchmark_filter={row_filter(case.name)}",
        "--benchmark_format=json",
        f"--benchmark_min_time={min_time}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr}")
    report = json.loads(completed.stdout)
    rows = [row for row in report["benchmarks"] if row.get("run_type", "iteration") == "iteration"]
    if len(rows) != 1:
        raise RuntimeError(f"seqlm benchmark {case.name!r}: expected one row, got {len(rows)}")
    row = rows[0]
    return row["real_time"] * TIME_UNIT_SECONDS[row["time_unit"]], report["context"]


def measure_peak(binary, environment):
    """The single-core FMA peak (GFLOP/s) that seqlm's %peak uses, and where it came from."""
    command = [binary, f"--benchmark_filter={row_filter('fma_peak')}", "--benchmark_format=json",
               "--benchmark_min_time=0.05"]
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=True)
    context = json.loads(completed.stdout)["context"]
    return float(context["seqlm_peak_gflops"]), context


# ---- PyTorch ------------------------------------------------------------------------------------------


def load_torch():
    try:
        import torch  # noqa: F401  (Debian's python3-torch is 1.13)

        return torch, None
    except ImportError as error:
        return None, f"{type(error).__name__}: {error}"


def make_torch_runner(torch, case):
    """A zero-argument function doing one iteration of `case` in PyTorch, or None (no counterpart)."""
    if case.cell == "gru_reset_before":
        return None
    torch.manual_seed(0)
    I, H, B = case.input_size, case.units, case.batch
    is_lstm = case.cell == "lstm"

    def inputs(steps):
        if case.ids:  # one-hot vectors, what a PyTorch char-model without nn.Embedding feeds
            ids = torch.randint(0, I, (steps, B))
            return torch.nn.functional.one_hot(ids, I).float()
        return torch.rand(steps, B, I) * 2 - 1

    if case.mode == "step":
        cell = torch.nn.LSTMCell(I, H) if is_lstm else torch.nn.GRUCell(I, H)
        x = inputs(1)[0]  # B x I
        state = {"h": torch.zeros(B, H), "c": torch.zeros(B, H)}

        def step():
            with torch.no_grad():
                if is_lstm:
                    state["h"], state["c"] = cell(x, (state["h"], state["c"]))
                else:
                    state["h"] = cell(x, state["h"])

        return step

    layer = torch.nn.LSTM(I, H) if is_lstm else torch.nn.GRU(I, H)  # time-major (T, B, I)
    x = inputs(STEPS)
    if case.mode == "forward":

        def forward():
            output, _ = layer(x)
            return output

        return forward

    if not case.ids:
        x.requires_grad_(True)  # seqlm computes dL/dx for dense inputs too
    d_output = (torch.rand(STEPS, B, H) * 2 - 1) * 1e-3

    def forward_backward():
        output, _ = layer(x)
        output.backward(d_output)

    return forward_backward


def torch_build_check(torch, min_time):
    """Which BLAS this PyTorch uses and what its GEMM reaches: nn.LSTM / nn.GRU spend most of their
    time in GEMMs, so a PyTorch linked to an unoptimised BLAS (Debian's python3-torch with the netlib
    reference libblas, BLAS_INFO=generic) times that BLAS rather than PyTorch's best."""
    config = torch.__config__.show()
    match = re.search(r"BLAS_INFO=(\w+)", config)
    info = {
        "blas_info": match.group(1) if match else "unknown",
        "mkl_available": bool(torch.backends.mkl.is_available()),
        "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
    }
    system_blas = "/usr/lib/x86_64-linux-gnu/libblas.so.3"  # Debian's alternatives link
    if info["blas_info"] == "generic" and os.path.exists(system_blas):
        info["libblas"] = os.path.realpath(system_blas)
    size = 512
    a, b = torch.rand(size, size), torch.rand(size, size)
    seconds = time_torch(torch, lambda: torch.mm(a, b), 1, min_time)
    info["matmul_512_gflops_1_thread"] = 2.0 * size**3 / seconds * 1e-9
    return info


def time_torch(torch, runner, threads, min_time):
    """Mean seconds per call over a loop of at least min_time, after one warm-up call."""
    torch.set_num_threads(threads)
    runner()
    calls, start = 0, time.perf_counter()
    while True:
        runner()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


# ---- the report -------------------------------------------------------------------------------------------


def machine_description(torch, torch_build):
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__ if torch is not None else None,
        "torch_build": torch_build,
    }


def format_ms(seconds):
    return "n/a" if seconds is None else f"{seconds * 1e3:.3f}"


def format_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def write_markdown(path, results):
    lines = [
        "# seqlm vs PyTorch: recurrent kernels",
        "",
        f"Machine: {results['machine']['cpu']} ({results['machine']['logical_cpus']} logical CPUs); "
        f"torch {results['machine']['torch']}. FP32 peak (1 core, AVX2 FMA): "
        f"{results['peak_gflops']:.1f} GFLOP/s, {results['peak_source']}.",
        f"seqlm runs on 1 thread. Median of {results['repeats']} alternating runs; times per call in ms; "
        "`speedup` = PyTorch time / seqlm time (> 1: seqlm faster). T = 60.",
        "",
        "| case | seqlm ms | seqlm GFLOP/s | %peak | torch 1t ms | speedup 1t | torch 2t ms | speedup 2t |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        seqlm = row["seqlm"]
        torch_rows = row["torch"] or {}
        one, two = torch_rows.get("1"), torch_rows.get("2")
        lines.append(
            f"| `{row['name']}` | {format_ms(seqlm['seconds'])} | {seqlm['gflops']:.1f} | "
            f"{seqlm['percent_of_peak']:.1f} | {format_ms(one and one['seconds'])} | "
            f"{format_ratio(one and one['speedup'])} | {format_ms(two and two['seconds'])} | "
            f"{format_ratio(two and two['speedup'])} |"
        )
    lines += ["", *[f"- {note}" for note in results["notes"]], ""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


# ---- main --------------------------------------------------------------------------------------------------


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--binary", help="seqlm_benchmarks executable (default: build/bench or build/release)")
    add("--quick", action="store_true", help="H = 128 and B in {1, 32} only, 1 repeat, short runs")
    add("--filter", default="", help="regular expression on the seqlm row names (re.search)")
    add("--repeats", type=int, default=None, help="alternating runs per case (default 3, quick 1)")
    add("--min-time", type=float, default=None, help="seconds per measurement (default 0.2, quick 0.05)")
    add("--threads", default="1,2", help="PyTorch thread counts (default 1,2)")
    add("--out-dir", default=".", help="where bench-results.json and .md are written")
    return parser.parse_args()


def find_binary(requested):
    candidates = [requested] if requested else DEFAULT_BINARIES
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    sys.exit(
        "seqlm_benchmarks not found (tried " + ", ".join(candidates) + "). Build it with\n"
        "  cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEQLM_BUILD_BENCHMARKS=ON\n"
        "  cmake --build build/bench --target seqlm_benchmarks\nor pass --binary."
    )


def main():
    arguments = parse_arguments()
    binary = find_binary(arguments.binary)
    repeats = arguments.repeats or (1 if arguments.quick else 3)
    min_time = arguments.min_time or (0.05 if arguments.quick else 0.2)
    thread_counts = [int(t) for t in arguments.threads.split(",") if t.strip()]
    cases = [case for case in all_cases(arguments.quick) if re.search(arguments.filter, case.name)]
    if not cases:
        sys.exit(f"no case matches --filter {arguments.filter!r}")

    # Measure the peak once (or take SEQLM_PEAK_GFLOPS) and hand it to every later seqlm run.
    environment = dict(os.environ)
    peak, context = measure_peak(binary, environment)
    environment["SEQLM_PEAK_GFLOPS"] = repr(peak)
    print(
        f"seqlm: {binary}\npeak: {peak:.1f} GFLOP/s, {context['seqlm_peak_source']}; {len(cases)} cases, "
        f"{repeats} repeat(s), {min_time} s per measurement",
        file=sys.stderr,
    )

    torch, torch_missing = load_torch()
    notes = ["seqlm kernels are single-threaded (1 thread); PyTorch at " + arguments.threads + " threads."]
    if torch_missing:
        print(f"PyTorch is not available ({torch_missing}): PyTorch columns skipped.", file=sys.stderr)
        notes.append(f"PyTorch not available ({torch_missing}); seqlm figures only.")
        torch_build = None
    else:
        torch_build = torch_build_check(torch, min_time)
        gemm = torch_build["matmul_512_gflops_1_thread"]
        blas = torch_build["blas_info"]
        if "libblas" in torch_build:
            blas += f", libblas -> {torch_build['libblas']}"
        notes.append(f"PyTorch GEMM check: 512^3 matmul, 1 thread: {gemm:.1f} GFLOP/s (BLAS_INFO={blas}).")
        if gemm < 0.25 * peak:
            warning = (
                f"PyTorch's matmul reaches {gemm:.1f} GFLOP/s, {100 * gemm / peak:.0f}% of the peak: this "
                "PyTorch uses an unoptimised BLAS, so its recurrent timings measure that BLAS, not PyTorch "
                "at its best (use a PyTorch wheel with MKL, or install OpenBLAS as libblas.so.3)."
            )
            print("WARNING: " + warning, file=sys.stderr)
            notes.append("WARNING: " + warning)
        notes.append("*_ids rows: seqlm gathers kernel columns; PyTorch multiplies one-hot inputs.")
        notes.append("gru_reset_before (Keras reset_after=False) has no PyTorch counterpart.")

    rows = []
    for number, case in enumerate(cases, 1):
        runner = make_torch_runner(torch, case) if torch is not None else None
        seqlm_times, torch_times = [], {threads: [] for threads in thread_counts}
        for _ in range(repeats):  # alternate the two sides so that load drifts hit both
            seqlm_times.append(run_seqlm(binary, case, min_time, environment)[0])
            if runner is not None:
                for threads in thread_counts:
                    torch_times[threads].append(time_torch(torch, runner, threads, min_time))
        seqlm_seconds = statistics.median(seqlm_times)
        gflops = case.flops / seqlm_seconds * 1e-9
        row = {
            "name": case.name,
            "cell": case.cell,
            "mode": case.mode,
            "input": "ids" if case.ids else "dense",
            "input_size": case.input_size,
            "units": case.units,
            "batch": case.batch,
            "steps": 1 if case.mode == "step" else STEPS,
            "flops": case.flops,
            "seqlm": {
                "seconds": seqlm_seconds,
                "gflops": gflops,
                "percent_of_peak": 100.0 * gflops / peak,
                "threads": 1,
                "all_seconds": seqlm_times,
            },
            "torch": None,
        }
        if runner is not None:
            row["torch"] = {}
            for threads, times in torch_times.items():
                seconds = statistics.median(times)
                row["torch"][str(threads)] = {
                    "seconds": seconds,
                    "gflops": case.flops / seconds * 1e-9,
                    "speedup": seconds / seqlm_seconds,
                    "all_seconds": times,
                }
        rows.append(row)
        summary = ", ".join(
            f"torch {threads}t {format_ms(values['seconds'])} ms ({format_ratio(values['speedup'])})"
            for threads, values in (row["torch"] or {}).items()
        )
        progress = f"[{number}/{len(cases)}] {case.name}: seqlm {format_ms(seqlm_seconds)} ms"
        progress += f", {gflops:.1f} GFLOP/s"
        print(progress + (f"; {summary}" if summary else ""), file=sys.stderr)

    results = {
        "machine": machine_description(torch, torch_build),
        "seqlm_binary": binary,
        "seqlm_context": context,
        "peak_gflops": peak,
        "peak_source": context["seqlm_peak_source"],
        "repeats": repeats,
        "min_time_seconds": min_time,
        "steps": STEPS,
        "quick": arguments.quick,
        "notes": notes,
        "rows": rows,
    }
    os.makedirs(arguments.out_dir, exist_ok=True)
    json_path = os.path.join(arguments.out_dir, "bench-results.json")
    markdown_path = os.path.join(arguments.out_dir, "bench-results.md")
    with open(json_path, "w") as out:
        json.dump(results, out, indent=2)
    write_markdown(markdown_path, results)
    print(f"wrote {json_path} and {markdown_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
