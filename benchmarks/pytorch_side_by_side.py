#!/usr/bin/python3
"""seqlm next to PyTorch on the same shapes, in one invocation: the recurrent kernels and the four
neural tutorial models end to end.

Every case alternates the two sides, --repeats times, so that load from other processes hits
both alike, and reports the median of each:
  1. seqlm: the Google Benchmark binary, one row (--benchmark_filter=^name$, JSON output);
  2. PyTorch, in this process, at the case's thread count (torch.set_num_threads).

Kernels (--suite kernels; T = 60 steps, float32, all steps' outputs). seqlm's kernels run on
1 thread, PyTorch at each of --threads:
  forward           seqlm layer.forward(x, B)         torch nn.LSTM / nn.GRU forward (autograd on)
  forward_backward  forward + layer.backward(dY)      forward + out.backward(dY), x.requires_grad
  step              layer.step(x, state), B streams   nn.LSTMCell / nn.GRUCell under no_grad
  *_ids             token ids (a gather in seqlm)     one-hot float inputs in PyTorch (dense GEMM)
gru_reset_after is PyTorch's GRU formulation; gru_reset_before (Keras reset_after=False) has no
PyTorch counterpart and gets seqlm figures only.
FLOPs (matrix products only, multiply-add = 2, G = 4 for LSTM, 3 for GRU):
  forward = 2*G*H*(I+H)*B*T, forward_backward = 3 x forward, step = 2*G*H*(I+H)*B;
  token ids count I = 0 (the input projection is a gather).

Models (--suite models; benchmarks/bench_models.cpp against benchmarks/torch_models.py), the
same thread count on both sides (seqlm: data-parallel fit threads; PyTorch: intra-op threads):
  train_step/<model>/threads:N   one optimizer step at the tutorial's batch shape, synthetic ids:
                                 sequences/s, tokens/s, s/epoch (batches per epoch x time per step)
  generate/nietzsche/<mode>      batch-1 generation incl. softmax and sampling, chars/s:
                                 streaming (seqlm step / nn.LSTMCell) and windowed (a full forward
                                 over the last 60 characters per character)
  headline_epoch/<mode>/threads:N  one epoch on ArticlesMarch2018.csv (when --data-dir has it):
                                 the tutorial's prefix expansion (batches of 32), or prefix sharing
                                 in batches of 32 headlines or of 5 (prefix_sharing_batch5: as many
                                 optimizer steps per epoch as the tutorial)
plus the peak RSS of training the Nietzsche model (seqlm_train_rss, torch_models.py rss) and,
with --compile-time, benchmarks/compile_time.sh; then the issue's targets with the figures.

Writes bench-results.json (every figure, the individual repeats, and `speedup` = PyTorch time /
seqlm time, > 1 when seqlm is faster; `cpu_speedup` the same from process CPU times) and
bench-results.md (Markdown tables for docs/performance.md) into --out-dir. Without torch the
script still runs and reports seqlm only.

  /usr/bin/python3 benchmarks/pytorch_side_by_side.py --quick                 # kernels + models, short
  /usr/bin/python3 benchmarks/pytorch_side_by_side.py --suite models          # the models, 3 repeats
  /usr/bin/python3 benchmarks/pytorch_side_by_side.py --filter 'lstm/'        # all LSTM kernel shapes
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
    threads: int = 1  # seqlm's GEMM threads (PyTorch runs at the same count for threads > 1)

    @property
    def name(self):
        """The seqlm benchmark row (see benchmarks/bench_recurrent.cpp)."""
        prefix = self.cell + ("_ids" if self.ids else "")
        label = "V" if self.ids else "I"
        name = f"{prefix}/{self.mode}/{label}:{self.input_size}/H:{self.units}/B:{self.batch}"
        if self.mode != "step":
            name += f"/T:{STEPS}"
        return name + (f"/threads:{self.threads}" if self.threads > 1 else "")

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
        for units in units_list:  # the training rows on 2 GEMM threads (a block of sequences per thread)
            for batch in [b for b in batch_list if b >= 32]:
                for mode in ("forward", "forward_backward"):
                    cases.append(Case(cell, mode, False, units, units, batch, threads=2))
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
    """Seconds per iteration of one seqlm row (real time), the binary's JSON context, and the
    row itself (its counters: sequences, tokens, s_per_epoch, cpu_ms, chars, loss, ...)."""
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
    if row.get("error_occurred"):
        return None, report["context"], row
    return row["real_time"] * TIME_UNIT_SECONDS[row["time_unit"]], report["context"], row


def measure_peak(binary, environment):
    """The single-core FMA peak (GFLOP/s) that seqlm's %peak uses, and where it came from."""
    # Any row gives the context; the 256-bit peak row exists on every x86-64 machine. The context's
    # seqlm_peak_gflops is the machine's widest peak (512-bit where the CPU has AVX-512F).
    command = [binary, f"--benchmark_filter={row_filter('fma_peak_256/threads:1')}", "--benchmark_format=json",
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
    try:  # the BLAS libraries actually loaded (after the matmul): openblas-openmp, -pthread, or the reference
        with open("/proc/self/maps") as maps:
            info["blas_libraries_loaded"] = sorted(
                {os.path.realpath(line.split()[-1]) for line in maps if "blas" in line or "lapack" in line}
            )
    except OSError:
        pass
    info["parallel_backend"] = next(
        (line.split(":", 1)[1].strip() for line in torch.__config__.parallel_info().splitlines()
         if line.startswith("ATen parallel backend")), "unknown")
    return info


def time_torch(torch, runner, threads, min_time):
    """Mean seconds per call over a loop of at least min_time, after one warm-up call."""
    return time_torch_with_cpu(torch, runner, threads, min_time)[0]


def time_torch_with_cpu(torch, runner, threads, min_time):
    """Mean wall-clock and process CPU seconds (all threads) per call over a loop of at least
    min_time, after one warm-up call."""
    torch.set_num_threads(threads)
    runner()
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        runner()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls, (time.process_time() - cpu_start) / calls


# ---- the tutorial models end to end ---------------------------------------------------------------------

MODELS = ["nietzsche", "poems", "machado", "headlines"]
TORCH_STREAMING_CHARACTERS = 2_000  # per PyTorch measurement (seqlm's row writes 10,000 per iteration)
TORCH_WINDOWED_CHARACTERS = 100  # per PyTorch measurement (seqlm's row writes 400); the rate per
# character does not depend on the count: every character costs one full 60-step forward


@dataclass
class ModelCase:
    kind: str  # train_step, generate, headline_epoch
    variant: str  # the model (train_step), streaming / windowed (generate), a HEADLINE_MODES key
    threads: int  # seqlm's and PyTorch's thread count

    @property
    def name(self):
        """The seqlm benchmark row (see benchmarks/bench_models.cpp)."""
        if self.kind == "train_step":
            return f"train_step/{self.variant}/threads:{self.threads}"
        if self.kind == "generate":
            return f"generate/nietzsche/{self.variant}"
        return f"headline_epoch/{self.variant}/threads:{self.threads}"


# headline_epoch variants: (prefix sharing, batch size); see benchmarks/bench_models.cpp.
HEADLINE_MODES = {"tutorial": (False, 32), "prefix_sharing": (True, 32), "prefix_sharing_batch5": (True, 5)}


def model_cases(thread_counts):
    cases = [ModelCase("train_step", model, threads) for model in MODELS for threads in thread_counts]
    cases += [ModelCase("generate", mode, 1) for mode in ("streaming", "windowed")]
    cases += [
        ModelCase("headline_epoch", mode, threads)
        for mode in HEADLINE_MODES
        for threads in thread_counts
    ]
    return cases


def default_data_dir():
    return os.environ.get("SEQLM_DATA_DIR") or os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")


def measure_torch_model_case(torch, torch_models, case, min_time, headline_data):
    """One PyTorch measurement of `case`: a dict with seconds (per step, per generated text, or per
    epoch), cpu_seconds, and loss / characters where they apply."""
    torch.set_num_threads(case.threads)
    if case.kind == "train_step":
        step = torch_models.make_train_step(torch, case.variant)
        seconds, cpu = time_torch_with_cpu(torch, step, case.threads, min_time)
        return {"seconds": seconds, "cpu_seconds": cpu}
    if case.kind == "generate":
        windowed = case.variant == "windowed"
        characters = TORCH_WINDOWED_CHARACTERS if windowed else TORCH_STREAMING_CHARACTERS
        generator = torch_models.make_generator(torch, windowed, characters)
        seconds, cpu = time_torch_with_cpu(torch, generator, case.threads, min_time)
        return {"seconds": seconds, "cpu_seconds": cpu, "characters": characters}
    sequences, vocabulary = headline_data
    prefix_sharing, batch_size = HEADLINE_MODES[case.variant]
    run = torch_models.make_headline_epoch(torch, sequences, vocabulary, prefix_sharing, batch_size=batch_size)
    run(3)  # warm-up: three batches (seqlm's row does the same)
    start, cpu_start = time.perf_counter(), time.process_time()
    loss = run()
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "loss": loss,
        "examples": run.examples,
    }


def summarise_model_row(case, torch_models, seqlm_runs, torch_runs):
    """The row of bench-results.json for one model case from the repeated runs of both sides."""
    row = {"name": case.name, "kind": case.kind, "variant": case.variant, "threads": case.threads}
    seqlm_seconds = statistics.median(run["seconds"] for run in seqlm_runs)
    counters = seqlm_runs[-1]["row"]
    seqlm = {
        "seconds": seqlm_seconds,
        "cpu_seconds": statistics.median(run["row"].get("cpu_ms", float("nan")) for run in seqlm_runs) * 1e-3,
        "all_seconds": [run["seconds"] for run in seqlm_runs],
        "label": counters.get("label", ""),
    }
    torch_side = None
    if torch_runs:
        torch_side = {
            "seconds": statistics.median(run["seconds"] for run in torch_runs),
            "cpu_seconds": statistics.median(run["cpu_seconds"] for run in torch_runs),
            "all_seconds": [run["seconds"] for run in torch_runs],
        }
    if case.kind == "train_step":
        shape = torch_models.TUTORIALS[case.variant]
        B, T = shape["batch"], shape["steps"]
        batches = counters.get("batches_per_epoch")
        row.update(batch=B, steps=T, batches_per_epoch=batches)
        for side in (seqlm, torch_side):
            if side is None:
                continue
            side["sequences_per_second"] = B / side["seconds"]
            side["tokens_per_second"] = B * T / side["seconds"]
            side["s_per_epoch"] = batches * side["seconds"] if batches else None
    elif case.kind == "generate":
        seqlm["chars_per_second"] = statistics.median(run["row"]["chars"] for run in seqlm_runs)
        if torch_side is not None:
            characters = torch_runs[0]["characters"]
            torch_side["chars_per_second"] = characters / torch_side["seconds"]
            torch_side["cpu_chars_per_second"] = characters / torch_side["cpu_seconds"]
        seqlm["cpu_chars_per_second"] = None
        if seqlm["cpu_seconds"] == seqlm["cpu_seconds"]:  # not NaN: chars per CPU second
            seqlm["cpu_chars_per_second"] = seqlm["chars_per_second"] * seqlm_seconds / seqlm["cpu_seconds"]
    else:
        seqlm["loss"] = statistics.median(run["row"]["loss"] for run in seqlm_runs)
        if torch_side is not None:
            torch_side["loss"] = statistics.median(run["loss"] for run in torch_runs)
            torch_side["examples"] = torch_runs[0]["examples"]
    row["seqlm"], row["torch"] = seqlm, torch_side
    if torch_side is not None:
        # speedup > 1: seqlm is faster (PyTorch time / seqlm time; for generation the same thing
        # as seqlm chars/s over PyTorch chars/s).
        if case.kind == "generate":
            row["speedup"] = seqlm["chars_per_second"] / torch_side["chars_per_second"]
        else:
            row["speedup"] = torch_side["seconds"] / seqlm_seconds
        row["cpu_speedup"] = torch_side["cpu_seconds"] / seqlm["cpu_seconds"] if seqlm["cpu_seconds"] else None
        if case.kind == "generate" and seqlm["cpu_chars_per_second"]:
            row["cpu_speedup"] = seqlm["cpu_chars_per_second"] / torch_side["cpu_chars_per_second"]
    return row


def run_model_suite(binary, torch, torch_models, arguments, environment, thread_counts, repeats, min_time):
    """The end-to-end rows: every case alternates seqlm and PyTorch `repeats` times."""
    notes = []
    csv_path = os.path.join(arguments.data_dir, "headlines", "ArticlesMarch2018.csv")
    headline_data = None
    cases = [case for case in model_cases(thread_counts) if re.search(arguments.filter, case.name)]
    if any(case.kind == "headline_epoch" for case in cases):
        if os.path.exists(csv_path):
            if torch is not None:
                headline_data = torch_models.read_headline_data(csv_path)
                notes.append(
                    f"Headlines ({csv_path}): PyTorch reads {len(headline_data[0])} headlines, "
                    f"vocabulary {headline_data[1]} (the tutorial: 1,250 and 3,582)."
                )
        else:
            message = f"headline_epoch rows skipped: {csv_path} is absent (set --data-dir or SEQLM_DATA_DIR)."
            print(message, file=sys.stderr)
            notes.append(message)
            cases = [case for case in cases if case.kind != "headline_epoch"]
    environment = dict(environment, SEQLM_DATA_DIR=arguments.data_dir)

    rows = []
    for number, case in enumerate(cases, 1):
        seqlm_runs, torch_runs = [], []
        for _ in range(repeats):
            seconds, _, row = run_seqlm(binary, case, min_time, environment)
            if seconds is None:
                raise RuntimeError(f"seqlm row {case.name} failed: {row.get('error_message')}")
            seqlm_runs.append({"seconds": seconds, "row": row})
            if torch is not None:
                torch_runs.append(measure_torch_model_case(torch, torch_models, case, min_time, headline_data))
        row = summarise_model_row(case, torch_models, seqlm_runs, torch_runs)
        rows.append(row)
        line = f"[{number}/{len(cases)}] {case.name}: " + describe_model_row(row)
        print(line, file=sys.stderr)
    return rows, notes


def describe_model_row(row):
    seqlm, torch_side = row["seqlm"], row["torch"]
    if row["kind"] == "generate":
        text = f"seqlm {seqlm['chars_per_second']:,.0f} chars/s"
        if torch_side:
            text += f", torch {torch_side['chars_per_second']:,.0f} chars/s"
    else:
        text = f"seqlm {format_ms(seqlm['seconds'])} ms (cpu {format_ms(seqlm['cpu_seconds'])})"
        if torch_side:
            text += f", torch {format_ms(torch_side['seconds'])} ms (cpu {format_ms(torch_side['cpu_seconds'])})"
    if torch_side:
        text += f", speedup {format_ratio(row['speedup'])} (cpu {format_ratio(row.get('cpu_speedup'))})"
    return text


def measure_memory(binary, torch, arguments, batches):
    """Peak RSS of training the Nietzsche model for `batches` batches: seqlm_train_rss (1 and 2
    threads) and torch_models.py rss (1 thread), each in its own process."""
    results = {}
    rss_binary = os.path.join(os.path.dirname(binary), "seqlm_train_rss")
    text = os.path.join(arguments.data_dir, "nietzsche", "nietzsche.txt")
    data_arguments = ["--data", text] if os.path.exists(text) else ["--synthetic"]
    if os.path.exists(rss_binary):
        for threads in (1, 2):
            command = [rss_binary, "--batches", str(batches), "--threads", str(threads), "--json", *data_arguments]
            completed = subprocess.run(command, capture_output=True, text=True, check=True)
            results[f"seqlm_threads_{threads}"] = json.loads(completed.stdout.strip().splitlines()[-1])
    else:
        print(f"{rss_binary} not found: seqlm peak RSS skipped", file=sys.stderr)
    if torch is not None:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_models.py")
        command = [sys.executable, script, "rss", "--batches", str(batches), "--threads", "1"]
        if os.path.exists(text):
            command += ["--data", text]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        results["torch_threads_1"] = json.loads(completed.stdout.strip().splitlines()[-1])
    for key, value in results.items():
        print(f"peak RSS {key}: {value['peak_rss_mib']:.1f} MiB ({value['batches']} batches)", file=sys.stderr)
    return results


def measure_headline_convergence(binary, torch, torch_models, arguments, epochs):
    """The headline model trained `epochs` epochs both ways on 1 thread, seqlm (seqlm_headline_loss)
    and PyTorch: seconds per epoch and, after each epoch, the inference loss over all (context,
    next word) pairs -- the "at equal final loss" part of the headline target. The tutorial trains
    on batches of 32 prefix examples, prefix sharing on batches of --headline-sharing-batch-size
    headlines."""
    csv_path = os.path.join(arguments.data_dir, "headlines", "ArticlesMarch2018.csv")
    if not os.path.exists(csv_path):
        print(f"headline convergence skipped: {csv_path} is absent", file=sys.stderr)
        return None
    sharing_batch = arguments.headline_sharing_batch_size
    result = {"epochs": epochs, "threads": 1, "sharing_batch_size": sharing_batch, "seqlm": {}, "torch": {}}
    program = os.path.join(os.path.dirname(binary), "seqlm_headline_loss")
    if os.path.exists(program):
        completed = subprocess.run([program, "--epochs", str(epochs), "--sharing-batch-size", str(sharing_batch),
                                    "--json", "--data", csv_path], capture_output=True, text=True, check=True)
        for run in json.loads(completed.stdout.strip().splitlines()[-1])["runs"]:
            result["seqlm"][run["mode"]] = {
                "seconds": [epoch["seconds"] for epoch in run["epochs"]],
                "loss": [epoch["loss"] for epoch in run["epochs"]],
            }
    else:
        print(f"{program} not found: seqlm side of the headline convergence skipped", file=sys.stderr)
    if torch is not None:
        sequences, vocabulary = torch_models.read_headline_data(csv_path)
        torch.set_num_threads(1)
        for mode in ("tutorial", "prefix_sharing"):
            sharing = mode == "prefix_sharing"
            run = torch_models.make_headline_epoch(torch, sequences, vocabulary, sharing,
                                                   batch_size=sharing_batch if sharing else 32)
            seconds, losses = [], []
            for _ in range(epochs):
                start = time.perf_counter()
                run()
                seconds.append(time.perf_counter() - start)
                losses.append(run.evaluate())
            result["torch"][mode] = {"seconds": seconds, "loss": losses}
    for side in ("seqlm", "torch"):
        for mode, figures in result[side].items():
            print(f"headlines {side} {mode}: {sum(figures['seconds']):.1f} s for {epochs} epochs, "
                  f"loss over all pairs {figures['loss'][-1]:.3f}", file=sys.stderr)
    return result


def measure_compile_time():
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compile_time.sh")
    completed = subprocess.run([script, "--json"], capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"compile time: best {result['best_seconds']:.2f} s of {result['runs']}", file=sys.stderr)
    return result


def find_row(rows, name):
    return next((row for row in rows if row["name"] == name), None)


def evaluate_targets(model_rows, memory, compile_time, convergence=None):
    """The issue's targets with the measured figures (None where a figure was not measured)."""
    targets = []

    def add(target, value, unit, met, comparison):
        targets.append({"target": target, "measured": value, "unit": unit,
                        "met": None if value is None else met, "comparison": comparison})

    row = find_row(model_rows, "train_step/nietzsche/threads:2")
    value = row and row["seqlm"].get("s_per_epoch")
    add("Nietzsche LSTM-128 training, 2 threads: <= 40 s per epoch", value, "s/epoch",
        value is not None and value <= 40, "")
    row = find_row(model_rows, "generate/nietzsche/streaming")
    value = row and row["seqlm"]["chars_per_second"]
    add("batch-1 streaming generation, Nietzsche model: >= 150,000 chars/s", value, "chars/s",
        value is not None and value >= 150_000, "")
    for model in ("poems", "machado"):
        row = find_row(model_rows, f"train_step/{model}/threads:2")
        value = row and row.get("speedup")
        add(f"{model} training throughput at 2 threads: >= 3x PyTorch", value, "x PyTorch",
            value is not None and value >= 3, f"CPU-time ratio {format_ratio(row and row.get('cpu_speedup'))}")
    # Prefix sharing in batches of 5 headlines: as many optimizer steps per epoch as the tutorial,
    # which is what reaches the tutorial's loss ("at equal final loss"); batches of 32 take fewer,
    # larger steps and end at a higher loss after as many epochs.
    row = find_row(model_rows, "headline_epoch/prefix_sharing_batch5/threads:1")
    two_threads = find_row(model_rows, "headline_epoch/prefix_sharing_batch5/threads:2")
    batch32 = find_row(model_rows, "headline_epoch/prefix_sharing/threads:1")
    tutorial = find_row(model_rows, "headline_epoch/tutorial/threads:1")
    value = row and row["seqlm"]["seconds"]
    parts = []
    if two_threads:
        parts.append(f"2 threads {two_threads['seqlm']['seconds']:.3f} s")
    if batch32:
        parts.append(f"batches of 32 headlines {batch32['seqlm']['seconds']:.3f} s")
    if tutorial and tutorial["torch"]:
        parts.append(f"PyTorch tutorial expansion {tutorial['torch']['seconds']:.2f} s/epoch")
    if convergence and convergence["seqlm"].get("prefix_sharing") and convergence["seqlm"].get("tutorial"):
        sharing, own_tutorial = convergence["seqlm"]["prefix_sharing"], convergence["seqlm"]["tutorial"]
        parts.append(f"after {convergence['epochs']} epochs, loss over all pairs: prefix sharing (batches of "
                     f"{convergence['sharing_batch_size']}) {sharing['loss'][-1]:.3f}, tutorial expansion "
                     f"{own_tutorial['loss'][-1]:.3f}")
        if convergence["torch"].get("tutorial"):
            parts.append(f"PyTorch tutorial {convergence['torch']['tutorial']['loss'][-1]:.3f}")
    add("headlines, one epoch with prefix sharing at equal final loss (batches of 5), 1 thread: <= 0.5 s", value,
        "s", value is not None and value <= 0.5, "; ".join(parts))
    value = memory.get("seqlm_threads_1", {}).get("peak_rss_mib") if memory else None
    add("Nietzsche training peak RSS: <= 60 MiB", value, "MiB", value is not None and value <= 60, "")
    value = compile_time["best_seconds"] if compile_time else None
    add("TU including <seqlm/seqlm.hpp> that trains a model, g++ -O2: <= 15 s", value, "s",
        value is not None and value <= 15, "")
    return targets


# ---- the report -------------------------------------------------------------------------------------------


def cpuinfo_field(key):
    """The first value of "key : value" lines in /proc/cpuinfo (None when absent)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                name, colon, value = line.partition(":")
                if colon and name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def machine_description(torch, torch_build):
    return {
        "cpu": cpuinfo_field("model name") or platform.processor() or "unknown CPU",
        "cpu_family": cpuinfo_field("cpu family"),
        "cpu_model": cpuinfo_field("model"),
        "cpu_flags": cpuinfo_field("flags"),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__ if torch is not None else None,
        "torch_build": torch_build,
        "load_average_at_start": list(os.getloadavg()),
    }


def format_ms(seconds):
    return "n/a" if seconds is None else f"{seconds * 1e3:.3f}"


def format_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def format_number(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def kernel_markdown(results):
    lines = [
        "## Recurrent kernels",
        "",
        f"seqlm kernels run on 1 thread, or on N GEMM threads for rows named /threads:N (against PyTorch on N "
        f"threads only; %peak relative to N x the single-core peak). Median of {results['repeats']} alternating "
        "runs (`%peak best`: the fastest run); times per call in ms; `speedup` = PyTorch time / seqlm time "
        "(> 1: seqlm faster). T = 60.",
        "",
        "| case | seqlm ms | seqlm GFLOP/s | %peak | %peak best | torch 1t ms | speedup 1t | torch 2t ms | "
        "speedup 2t |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        seqlm = row["seqlm"]
        torch_rows = row["torch"] or {}
        one, two = torch_rows.get("1"), torch_rows.get("2")
        lines.append(
            f"| `{row['name']}` | {format_ms(seqlm['seconds'])} | {seqlm['gflops']:.1f} | "
            f"{seqlm['percent_of_peak']:.1f} | {seqlm['best_percent_of_peak']:.1f} | "
            f"{format_ms(one and one['seconds'])} | "
            f"{format_ratio(one and one['speedup'])} | {format_ms(two and two['seconds'])} | "
            f"{format_ratio(two and two['speedup'])} |"
        )
    return lines + [""]


def model_markdown(results):
    rows = results["models"]
    torch_side = lambda row, key, digits=0: format_number(row["torch"] and row["torch"].get(key), digits)  # noqa: E731
    lines = [
        "## Tutorial models end to end",
        "",
        f"Median of {results['repeats']} alternating runs. Same thread count on both sides (seqlm: data-parallel "
        "`fit` threads; PyTorch: `torch.set_num_threads`). `speedup` = PyTorch time / seqlm time (> 1: seqlm "
        "faster) from wall-clock times; `cpu` from the CPU time of the whole process (all threads), which is "
        "less disturbed by other jobs on a busy machine.",
        "",
        "### Training steps (synthetic ids of the tutorial shape)",
        "",
        "| model | threads | seqlm ms/step | seqlm seq/s | seqlm tokens/s | seqlm s/epoch | torch ms/step | "
        "torch seq/s | torch s/epoch | speedup | cpu speedup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in (r for r in rows if r["kind"] == "train_step"):
        seqlm = row["seqlm"]
        lines.append(
            f"| {row['variant']} | {row['threads']} | {format_ms(seqlm['seconds'])} | "
            f"{format_number(seqlm['sequences_per_second'])} | {format_number(seqlm['tokens_per_second'])} | "
            f"{format_number(seqlm['s_per_epoch'], 1)} | {format_ms(row['torch'] and row['torch']['seconds'])} | "
            f"{torch_side(row, 'sequences_per_second')} | {torch_side(row, 's_per_epoch', 1)} | "
            f"{format_ratio(row.get('speedup'))} | {format_ratio(row.get('cpu_speedup'))} |"
        )
    generation = [r for r in rows if r["kind"] == "generate"]
    if generation:
        lines += [
            "",
            "### Batch-1 generation, Nietzsche model (softmax and sampling included)",
            "",
            "| mode | seqlm chars/s | torch chars/s | speedup | cpu speedup |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in generation:
            lines.append(
                f"| {row['variant']} | {format_number(row['seqlm']['chars_per_second'])} | "
                f"{torch_side(row, 'chars_per_second')} | {format_ratio(row.get('speedup'))} | "
                f"{format_ratio(row.get('cpu_speedup'))} |"
            )
    epochs = [r for r in rows if r["kind"] == "headline_epoch"]
    if epochs:
        lines += [
            "",
            "### Headline epochs (ArticlesMarch2018.csv)",
            "",
            "| mode | threads | seqlm s/epoch | seqlm loss | torch s/epoch | torch loss | speedup | cpu speedup |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in epochs:
            lines.append(
                f"| {row['variant']} | {row['threads']} | {row['seqlm']['seconds']:.3f} | "
                f"{row['seqlm']['loss']:.3f} | {torch_side(row, 'seconds', 3)} | {torch_side(row, 'loss', 3)} | "
                f"{format_ratio(row.get('speedup'))} | {format_ratio(row.get('cpu_speedup'))} |"
            )
        for threads in sorted({row["threads"] for row in epochs}):
            tutorial = find_row(epochs, f"headline_epoch/tutorial/threads:{threads}")
            for mode in ("prefix_sharing", "prefix_sharing_batch5"):
                sharing = find_row(epochs, f"headline_epoch/{mode}/threads:{threads}")
                if sharing and tutorial and tutorial["torch"]:
                    lines.append(
                        f"\nseqlm {mode} vs PyTorch tutorial expansion, {threads} thread(s): "
                        f"{sharing['seqlm']['seconds']:.3f} s vs {tutorial['torch']['seconds']:.3f} s per epoch "
                        f"({tutorial['torch']['seconds'] / sharing['seqlm']['seconds']:.1f}x)."
                    )
    memory = results.get("memory")
    if memory:
        lines += ["", "### Peak RSS, Nietzsche training (VmHWM)", "",
                  "| program | threads | batches | peak RSS MiB | after reading the text MiB |",
                  "|---|---:|---:|---:|---:|"]
        for key, value in memory.items():
            lines.append(
                f"| {'seqlm' if key.startswith('seqlm') else 'PyTorch'} | {value['threads']} | "
                f"{value['batches']} | {value['peak_rss_mib']:.1f} | {value['peak_rss_mib_text']:.1f} |"
            )
    convergence = results.get("headline_convergence")
    if convergence:
        lines += ["", f"### Headlines trained {convergence['epochs']} epochs both ways (1 thread; prefix sharing in "
                  f"batches of {convergence.get('sharing_batch_size', 32)} headlines, the tutorial in batches of 32)", "",
                  "Loss: inference cross-entropy over all (context, next word) pairs of the data after the last "
                  "epoch.", "",
                  "| side | mode | s/epoch (mean) | total s | final loss |", "|---|---|---:|---:|---:|"]
        for side in ("seqlm", "torch"):
            for mode, figures in convergence[side].items():
                total = sum(figures["seconds"])
                lines.append(f"| {side} | {mode} | {total / len(figures['seconds']):.3f} | {total:.1f} | "
                             f"{figures['loss'][-1]:.3f} |")
    compile_time = results.get("compile_time")
    if compile_time:
        lines += ["", "### Compile time", "",
                  f"`{compile_time['command']}`: best of {compile_time['runs']}: {compile_time['best_seconds']:.2f} s "
                  f"wall, {compile_time['best_cpu_seconds']:.2f} s CPU (all runs: {compile_time['all_seconds']})."]
    targets = results.get("targets")
    if targets:
        lines += ["", "### Targets", "", "| target | measured | met | |", "|---|---:|---|---|"]
        for target in targets:
            met = "n/a" if target["met"] is None else ("yes" if target["met"] else "no")
            value = target["measured"]
            shown = "not measured" if value is None else f"{value:,.2f} {target['unit']}"
            lines.append(f"| {target['target']} | {shown} | {met} | {target['comparison']} |")
    return lines + [""]


def write_markdown(path, results):
    machine = results["machine"]
    lines = [
        "# seqlm vs PyTorch",
        "",
        f"Machine: {machine['cpu']} ({machine['logical_cpus']} logical CPUs); torch {machine['torch']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in machine['load_average_at_start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in results['load_average_at_end'])}. FP32 peak (1 core; %peak is relative "
        f"to it): {results['peak_gflops']:.1f} GFLOP/s, {results['peak_source']}.",
        "",
    ]
    if results["rows"]:
        lines += kernel_markdown(results)
    if results.get("models"):
        lines += model_markdown(results)
    lines += ["## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


# ---- main --------------------------------------------------------------------------------------------------


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--binary", help="seqlm_benchmarks executable (default: build/bench or build/release)")
    add("--suite", choices=["all", "kernels", "models"], default="all",
        help="kernel rows, the tutorial models end to end, or both (default)")
    add("--quick", action="store_true", help="kernels: H = 128 and B in {1, 32}; 1 repeat, short runs")
    add("--filter", default="", help="regular expression on the seqlm row names (re.search)")
    add("--repeats", type=int, default=None, help="alternating runs per case (default 3, quick 1)")
    add("--min-time", type=float, default=None,
        help="seconds per measurement (default 1.0: a tutorial model's step takes tens of ms, and a shorter "
        "window gives a few noisy iterations; quick 0.05)")
    add("--threads", default="1,2", help="thread counts (PyTorch for the kernels; both sides for the models)")
    add("--data-dir", default=default_data_dir(), help="tutorial data (default $SEQLM_DATA_DIR or ../shared/data)")
    add("--rss-batches", type=int, default=50, help="batches trained for the peak-RSS figures (0: skip)")
    add("--compile-time", action="store_true", help="also time benchmarks/compile_time.sh (about a minute)")
    add("--headline-epochs", type=int, default=0,
        help="also train the headline model this many epochs both ways on both sides and compare the "
        "losses over all pairs (0: skip; 20 epochs take a few minutes)")
    add("--headline-sharing-batch-size", type=int, default=5,
        help="batch size of prefix sharing in --headline-epochs (default 5: as many optimizer steps per epoch as "
        "the tutorial's 32 prefix examples per batch)")
    add("--omp-wait-policy", choices=["default", "passive", "active"], default="default",
        help="OMP_WAIT_POLICY for PyTorch's OpenMP threads (default: as installed). On a machine shared with "
        "other jobs, spinning OpenMP threads lose their core and multi-threaded PyTorch slows down by up to 10x; "
        "passive makes them sleep")
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
        "  cmake --build build/bench --target seqlm_benchmarks seqlm_train_rss\nor pass --binary."
    )


def run_kernel_suite(binary, torch, arguments, environment, thread_counts, repeats, min_time, peak):
    cases = [case for case in all_cases(arguments.quick) if re.search(arguments.filter, case.name)]
    rows = []
    for number, case in enumerate(cases, 1):
        runner = make_torch_runner(torch, case) if torch is not None else None
        # seqlm on 1 thread against PyTorch at each count; seqlm on N threads against PyTorch on N.
        torch_counts = thread_counts if case.threads == 1 else [case.threads]
        seqlm_times, torch_times = [], {threads: [] for threads in torch_counts}
        for _ in range(repeats):  # alternate the two sides so that load drifts hit both
            seqlm_times.append(run_seqlm(binary, case, min_time, environment)[0])
            if runner is not None:
                for threads in torch_counts:
                    torch_times[threads].append(time_torch(torch, runner, threads, min_time))
        seqlm_seconds = statistics.median(seqlm_times)
        gflops = case.flops / seqlm_seconds * 1e-9
        best_gflops = case.flops / min(seqlm_times) * 1e-9
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
                "percent_of_peak": 100.0 * gflops / (peak * case.threads),
                "best_gflops": best_gflops,
                "best_percent_of_peak": 100.0 * best_gflops / (peak * case.threads),
                "threads": case.threads,
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
    return rows


def main():
    arguments = parse_arguments()
    binary = find_binary(arguments.binary)
    repeats = arguments.repeats or (1 if arguments.quick else 3)
    min_time = arguments.min_time or (0.05 if arguments.quick else 1.0)
    thread_counts = [int(t) for t in arguments.threads.split(",") if t.strip()]
    run_kernels = arguments.suite in ("all", "kernels")
    run_models = arguments.suite in ("all", "models")

    # Measure the peak once (or take SEQLM_PEAK_GFLOPS) and hand it to every later seqlm run.
    environment = dict(os.environ)
    peak, context = measure_peak(binary, environment)
    environment["SEQLM_PEAK_GFLOPS"] = repr(peak)
    print(
        f"seqlm: {binary}\npeak: {peak:.1f} GFLOP/s, {context['seqlm_peak_source']}; suite {arguments.suite}, "
        f"{repeats} repeat(s), {min_time} s per measurement; load average {os.getloadavg()}",
        file=sys.stderr,
    )

    if arguments.omp_wait_policy != "default":  # read by libgomp when torch loads it
        os.environ["OMP_WAIT_POLICY"] = arguments.omp_wait_policy.upper()
    torch, torch_missing = load_torch()
    torch_models = None
    notes = [
        f"Thread counts: {arguments.threads}. seqlm's kernel rows are single-threaded (1 thread) unless named "
        "/threads:N (N GEMM threads). "
        f"OMP_WAIT_POLICY: {os.environ.get('OMP_WAIT_POLICY', 'unset (libgomp default)')}."
    ]
    if torch_missing:
        print(f"PyTorch is not available ({torch_missing}): PyTorch rows skipped.", file=sys.stderr)
        notes.append(f"PyTorch not available ({torch_missing}); seqlm figures only.")
        torch_build = None
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import torch_models  # noqa: E402  (next to this script; needs torch only when called)

        torch_build = torch_build_check(torch, min_time)
        gemm = torch_build["matmul_512_gflops_1_thread"]
        blas = torch_build["blas_info"]
        if "libblas" in torch_build:
            blas += f", libblas -> {torch_build['libblas']}"
        loaded = ", ".join(torch_build.get("blas_libraries_loaded", [])) or "none found"
        notes.append(
            f"PyTorch GEMM check: 512^3 matmul, 1 thread: {gemm:.1f} GFLOP/s (BLAS_INFO={blas}; loaded: {loaded}; "
            f"parallel backend {torch_build['parallel_backend']})."
        )
        if gemm < 0.25 * peak:
            warning = (
                f"PyTorch's matmul reaches {gemm:.1f} GFLOP/s, {100 * gemm / peak:.0f}% of the peak: this "
                "PyTorch uses an unoptimised BLAS, so its timings measure that BLAS, not PyTorch "
                "at its best (benchmarks/setup-pytorch.sh selects OpenBLAS as libblas.so.3)."
            )
            print("WARNING: " + warning, file=sys.stderr)
            notes.append("WARNING: " + warning)
        if run_kernels:
            notes.append("*_ids kernel rows: seqlm gathers kernel columns; PyTorch multiplies one-hot inputs.")
            notes.append("gru_reset_before (Keras reset_after=False) has no PyTorch counterpart.")
        if run_models:
            notes.append(
                "Models: PyTorch feeds one-hot inputs to nietzsche and poems (as the tutorials do) and ids to "
                "an Embedding for machado and headlines; seqlm reads ids everywhere (a gather). PyTorch's "
                "training batches are built before the timed loop; seqlm's train_step rows include filling the "
                "batch from the data set, as fit() does."
            )
            notes.append(
                "Generation: PyTorch at 1 thread, a Python loop (nn.LSTMCell + Linear + softmax + "
                "torch.multinomial per character; windowed: nn.LSTM over the one-hot last 60 characters)."
            )
            notes.append(
                "Headline epochs: each side trains a fresh model for 3 warm-up batches, then the timed epoch; "
                "the loss is that epoch's mean training loss. Tutorial and prefix-sharing losses are means over "
                "the same (context, next word) pairs."
            )

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
        "suite": arguments.suite,
        "threads": thread_counts,
        "notes": notes,
        "rows": [],
    }
    if run_kernels:
        results["rows"] = run_kernel_suite(binary, torch, arguments, environment, thread_counts, repeats, min_time,
                                           peak)
    if run_models:
        model_rows, model_notes = run_model_suite(binary, torch, torch_models, arguments, environment, thread_counts,
                                                  repeats, min_time)
        notes.extend(model_notes)
        results["models"] = model_rows
        results["memory"] = (
            measure_memory(binary, torch, arguments, arguments.rss_batches) if arguments.rss_batches else {}
        )
        results["compile_time"] = measure_compile_time() if arguments.compile_time else None
        results["headline_convergence"] = (
            measure_headline_convergence(binary, torch, torch_models, arguments, arguments.headline_epochs)
            if arguments.headline_epochs > 0 else None
        )
        results["targets"] = evaluate_targets(model_rows, results["memory"], results["compile_time"],
                                              results["headline_convergence"])
    if not results["rows"] and not results.get("models") and not results.get("headline_convergence"):
        sys.exit(f"no case matches --filter {arguments.filter!r}")
    results["load_average_at_end"] = list(os.getloadavg())

    os.makedirs(arguments.out_dir, exist_ok=True)
    json_path = os.path.join(arguments.out_dir, "bench-results.json")
    markdown_path = os.path.join(arguments.out_dir, "bench-results.md")
    with open(json_path, "w") as out:
        json.dump(results, out, indent=2)
    write_markdown(markdown_path, results)
    print(f"wrote {json_path} and {markdown_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
