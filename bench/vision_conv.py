"""What does the readable im2col convolution cost against PyTorch's kernel?

    python bench/vision_conv.py            # [--threads 1] [--seconds 0.3] [--repeats 3]

For a few layer shapes (B = 64, 3x3 kernels, the sizes of the digits and of MNIST),
times forward + backward (gradients for the input, the weights and the bias, as a
layer inside a network needs) of :func:`zoo.conv.conv2d` (``impl=reference``:
``unfold`` + one matmul) and :func:`torch.nn.functional.conv2d` (``impl=fused``),
alternating the two in this process, best of ``--repeats`` (noise only ever adds
time). ``ref/fused`` is how many times longer the reference step takes.

Peak memory: each (shape, impl) runs two steps in a fresh subprocess, which resets
the kernel's peak-RSS counter (VmHWM, ``/proc/self/clear_refs``) once its tensors
exist and reads it afterwards. The figure is the resident memory the steps added at
their peak, as the OS sees it: activations, workspace and gradients; not the input,
the weights, or the kernels' one-time setup (a one-sample step runs first). ``cols``
is the size of the im2col matrix, (B, C_in·k·k, H_out·W_out) floats, which the
reference builds in the forward and again as a gradient in the backward. Depthwise
layers are its worst case: G tiny matrix products (one filter of k·k weights each)
instead of one large one. One torch thread by default: small kernels on two busy
cores slow down a lot with two.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.conv import conv2d  # noqa: E402

IMPLS = {"fused": F.conv2d, "reference": conv2d}

# name -> batch, C_in, C_out, H = W, kernel, stride, groups (padding keeps H at stride 1)
SHAPES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "8x8 16->32": (64, 16, 32, 8, 3, 1, 1),
    "28x28 16->32": (64, 16, 32, 28, 3, 1, 1),
    "28x28 16->32 s2": (64, 16, 32, 28, 3, 2, 1),
    "28x28 32 depthwise": (64, 32, 32, 28, 3, 1, 32),
}


def tensors(shape: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    B, c_in, c_out, H, k, s, g = SHAPES[shape]
    x = torch.randn(B, c_in, H, H, requires_grad=True)
    w = torch.randn(c_out, c_in // g, k, k, requires_grad=True)
    b = torch.randn(c_out, requires_grad=True)
    return x, w, b, {"stride": s, "padding": k // 2, "groups": g}


def step(
    conv: Callable[..., torch.Tensor], x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, kw: dict
) -> None:
    y = conv(x, w, b, **kw)
    torch.autograd.grad(y.sum(), (x, w, b))


def steps_per_s(impl: str, shape: str, seconds: float) -> float:
    x, w, b, kw = tensors(shape)
    conv = IMPLS[impl]
    step(conv, x, w, b, kw)  # warm up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step(conv, x, w, b, kw)
        n += 1
    return n / elapsed


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_memory_child(impl: str, shape: str) -> None:
    """In a fresh process: print the peak RSS (MiB) that two steps add."""
    x, w, b, kw = tensors(shape)
    # One sample first, so one-time library setup is not counted as the step's memory.
    step(IMPLS[impl], x[:1].detach().requires_grad_(), w, b, kw)
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = _kib("VmRSS")
    for _ in range(2):
        step(IMPLS[impl], x, w, b, kw)
    print(json.dumps({"peak_mib": (_kib("VmHWM") - before) / 1024}))


def peak_memory(impl: str, shape: str, threads: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--threads", str(threads), "--child", impl, shape],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.3, help="per timing")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings; best of")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        peak_memory_child(*args.child)
        return
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} float32, CPU")
    header = (
        "| shape (B=64, k=3)   | fused steps/s | ref steps/s | ref/fused "
        "| fused peak MiB | ref peak MiB | cols MiB |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for shape, (B, c_in, _, H, k, s, _) in SHAPES.items():
        rates: dict[str, list[float]] = {impl: [] for impl in IMPLS}
        for _ in range(args.repeats):
            for impl, runs in rates.items():
                runs.append(steps_per_s(impl, shape, args.seconds))
        fused, ref = (max(runs) for runs in rates.values())
        mem = {impl: peak_memory(impl, shape, args.threads) for impl in IMPLS}
        h_out = (H + 2 * (k // 2) - k) // s + 1
        cols = B * c_in * k * k * h_out * h_out * 4 / 2**20
        print(
            f"| {shape:<19} | {fused:13,.0f} | {ref:11,.0f} | {fused / ref:9.2f} "
            f"| {mem['fused']:14.1f} | {mem['reference']:12.1f} | {cols:8.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
