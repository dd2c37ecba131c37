"""Is the fused path of the sequence models faster than the reference path, and at what memory?

    python bench/sequence.py [--seconds 0.6] [--repeats 5]

For rnn, lstm and gru (hidden 128, 1 layer) on T=8 steps of 8 features (the digits
read row by row, 10 classes, cross-entropy) and T=100 steps of 2 features (the adding
problem, regression, MSE), and for the transformer's attention (hidden 64, 2 layers,
4 heads) on T=8 x 8 and T=64 x 2, this times one training step, forward + backward +
Adam, batch 64, with ``impl="fused"`` (nn.RNN/LSTM/GRU, or
F.scaled_dot_product_attention) and ``impl="reference"`` (the Python cells of
zoo.recurrent_cells, or the written-out softmax(QKᵀ/√d) V of zoo.attention). The
transformer runs twice: with its default dropout p=0.1, and with p=0, because on CPU
PyTorch's flash-attention kernel does not take attention dropout and F.sdpa falls back
to its "math" kernel, the same ops as the reference. The "fused kernel" column names
the op the profiler saw doing the work: on CPU only the LSTM has a one-kernel
recurrence (oneDNN); nn.RNN and nn.GRU run a C++ loop of per-step ops. Both
models of a pair start from the same weights (the reference model loads the fused
one's state_dict) and train on the same batch; the inputs are random tensors of the
task's shape, since the time of a step does not depend on the values.

Time: after two warm-up steps per model, ``--repeats`` alternating blocks of steps,
fused then reference, each lasting about ``--seconds``. The table gives the median
steps/s of each impl and ``ref/fused``, the median over repeats of the reference
block's time per step over the fused block's just before it (> 1: fused is faster),
with the lowest and highest of those ratios: a range that straddles 1 is a tie within
this machine's noise.

Peak memory: torch.profiler(profile_memory=True) over one more training step records
every allocation and free the CPU allocator makes; the running sum of those, started
at zero with the step (weights, Adam state and the batch already exist, the previous
step's gradients are freed by zero_grad), peaks at the bytes the step itself holds at
once: activations saved for backward, kernel workspaces, gradients and temporaries.
It is exact and deterministic, unlike a process's RSS, which also moves with glibc's
heap; it excludes the parameters and optimizer state, which both impls share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo import DataSpec  # noqa: E402

BATCH = 64
# (family, T, F, target kind, model kwargs)
CONFIGS = [
    *(
        (family, T, F, kind, {"hidden_size": 128, "num_layers": 1})
        for T, F, kind in ((8, 8, "classification"), (100, 2, "regression"))
        for family in ("rnn", "lstm", "gru")
    ),
    *(
        (
            "transformer",
            T,
            F,
            kind,
            # one step per token, as measured (a series' default is patches of ⌈T/16⌉ steps)
            {
                "hidden_size": 64,
                "num_layers": 2,
                "num_heads": 4,
                "dropout": dropout,
                "tokens": "rows",
            },
        )
        for dropout in (0.1, 0.0)
        for T, F, kind in ((8, 8, "classification"), (64, 2, "regression"))
    ),
]
# The op that does the recurrence or attention on the fused path, as the profiler names
# it, first match wins: a CPU build may pick a slower fallback than the name suggests.
KERNELS = {
    "aten::mkldnn_rnn_layer": "oneDNN lstm",
    "aten::rnn_tanh": "aten rnn loop",
    "aten::gru": "aten gru loop",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "sdpa flash",
    "aten::_scaled_dot_product_attention_math": "sdpa math",
}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: the profiler's C++ side logs every start and stop."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = F.cross_entropy if y.dtype == torch.int64 else F.mse_loss

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def time_block(step: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n  # seconds per step


def profile_step(step: Callable[[], None]) -> tuple[int, str]:
    """The most bytes one step holds at once (see the module doc), and its kernel."""
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = prof.profiler.kineto_results.events()
    allocs = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in allocs:  # nbytes < 0 for a free
        live += nbytes
        peak = max(peak, live)
    names = {e.name() for e in events}
    kernel = next((label for op, label in KERNELS.items() if op in names), "-")
    return peak, kernel


def bench(family: str, T: int, F_: int, kind: str, kwargs: dict, seconds: float, repeats: int):
    if kind == "classification":
        spec = DataSpec("sequence", (T, F_), "classification", num_classes=10)
        y = torch.randint(0, 10, (BATCH,))
    else:
        spec = DataSpec("sequence", (T, F_), "regression", num_targets=1)
        y = torch.rand(BATCH, 1)
    x = torch.rand(BATCH, T, F_)
    torch.manual_seed(0)
    fused = zoo.create_model(family, spec, impl="fused", **kwargs)
    reference = zoo.create_model(family, spec, impl="reference", **kwargs)
    reference.load_state_dict(fused.state_dict())  # same weights, same names
    steps = {"fused": make_step(fused, x, y), "reference": make_step(reference, x, y)}
    n = {}
    for impl, step in steps.items():
        step()  # warm up kernels and allocate Adam's state
        n[impl] = max(2, round(seconds / time_block(step, 1)))
    per_step: dict[str, list[float]] = {"fused": [], "reference": []}
    for _ in range(repeats):
        for impl, step in steps.items():
            per_step[impl].append(time_block(step, n[impl]))
    mem_fused, kernel = profile_step(steps["fused"])
    ratios = [r / f for f, r in zip(per_step["fused"], per_step["reference"], strict=True)]
    return {
        "fused": 1 / statistics.median(per_step["fused"]),
        "reference": 1 / statistics.median(per_step["reference"]),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "mem_fused": mem_fused / 2**20,
        "mem_reference": profile_step(steps["reference"])[0] / 2**20,
        "kernel": kernel,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="length of one timed block")
    parser.add_argument("--repeats", type=int, default=5, help="alternating blocks; median of")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    print(
        f"threads={torch.get_num_threads()} torch={torch.__version__} batch={BATCH} "
        f"repeats={args.repeats} x ~{args.seconds}s; steps/s = forward + backward + Adam"
    )
    print("peak MB: most bytes one training step holds at once (torch.profiler memory events)")
    header = (
        "| family            | T x F   | fused kernel  | fused steps/s | ref steps/s "
        "| ref/fused (range) | peak MB fused | peak MB ref |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    slower, ties = [], []
    for family, T, F_, kind, kwargs in CONFIGS:
        r = bench(family, T, F_, kind, kwargs, args.seconds, args.repeats)
        name = family if "dropout" not in kwargs else f"{family} p={kwargs['dropout']}"
        where = f"{name} T={T}"
        if r["high"] < 1:
            slower.append(f"{where} (ref/fused {r['ratio']:.2f})")
        elif r["low"] <= 1:
            ties.append(f"{where} ({r['low']:.2f}-{r['high']:.2f})")
        span = f"{r['ratio']:.2f} ({r['low']:.2f}-{r['high']:.2f})"
        print(
            f"| {name:<17} | {f'{T} x {F_}':<7} | {r['kernel']:<13} | {r['fused']:13.1f} "
            f"| {r['reference']:11.1f} | {span:<17} | {r['mem_fused']:13.2f} "
            f"| {r['mem_reference']:11.2f} |",
            flush=True,
        )
    if not slower and not ties:
        print("fused is faster everywhere (every repeat): it stays the default for every family.")
    if slower:
        print("REFERENCE IS FASTER (every repeat) at: " + "; ".join(slower))
    if ties:
        print("no clear winner (ref/fused on both sides of 1) at: " + "; ".join(ties))
    if not slower:
        print("reference is never faster in every repeat: fused stays the default.")
    print(f"total wall time: {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
