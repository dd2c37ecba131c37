"""Steps per second in float32, bf16-mixed and compiled, with compile time apart.

    python bench/precision.py [--epochs 4] [--write]   # --write: RESULTS.md's section

Two models of the zoo on the digits (experiment digits_cnn and digits_transformer's
settings, batch size 64), trained by the trainer as a user runs it (no logger, no
progress bar) in three ways: ``trainer.precision=32`` (the baseline),
``trainer.precision=bf16-mixed`` and ``trainer.compile=true`` (float32). The first
epoch is timed on its own: for the compiled run it holds TorchDynamo's tracing and
Inductor's code generation, reported as ``compile s`` (first epoch minus a steady
one); steps/s counts the later epochs only. Each ratio is against float32 measured
in the same process a moment before, so a busy machine slows both alike.

On a CPU without bfloat16 instructions (AVX2 only, as here) bf16 arithmetic is
emulated by conversions and runs slower than float32; on a GPU with tensor cores (or
a CPU with AVX512-BF16/AMX) it is the faster one. The last line: ``ratio=<bf16 over
fp32 of the CNN>``.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.run import make_trainer  # noqa: E402

MODELS = {
    "digits CNN": ["experiment=digits_cnn"],
    "digits Transformer": ["experiment=digits_transformer"],
}
MODES = {
    "fp32": [],
    "bf16-mixed": ["trainer.precision=bf16-mixed"],
    "compiled": ["trainer.compile=true"],
}
BEGIN, END = "<!-- precision:begin -->", "<!-- precision:end -->"


def time_run(overrides: list[str], epochs: int) -> tuple[float, float, int]:
    """(first epoch s, steps/s over epochs 2.., steps per epoch)."""
    quiet = ["logger=none", "trainer.progress_bar=false", "trainer.patience=null"]
    cfg = compose_config([*overrides, *quiet, f"trainer.max_epochs={epochs}"])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, _ = make_trainer(cfg, run_dir)
        trainer.cfg.max_epochs = 1
        start = time.perf_counter()
        trainer.fit()
        first = time.perf_counter() - start
        per_epoch = trainer.step
        trainer.cfg.max_epochs = epochs
        start = time.perf_counter()
        trainer.fit()
        rest = time.perf_counter() - start
        return first, (trainer.step - per_epoch) / rest, per_epoch


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"model name\s*:\s*(.+)", text)
    flags = re.search(r"flags\s*:\s*(.+)", text)
    bf16 = flags is not None and ("avx512_bf16" in flags.group(1) or "amx_bf16" in flags.group(1))
    name = match.group(1).strip() if match else "unknown CPU"
    return f"{name} ({'with' if bf16 else 'no'} bf16 instructions)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="rewrite RESULTS.md's section")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":  # float16 with loss scaling runs on CUDA only
        MODES["16-mixed"] = ["trainer.precision=16-mixed"]
    where = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    print(f"{where}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    rows, ratios = [], {}
    for model, overrides in MODELS.items():
        base = None
        for mode, extra in MODES.items():
            first, rate, per_epoch = time_run([*overrides, *extra], args.epochs)
            base = rate if base is None else base
            steady = per_epoch / rate
            compile_s = f"{first - steady:.1f}" if mode == "compiled" else ""
            ratios[(model, mode)] = rate / base
            rows.append(
                f"| {model} | {mode} | {rate:.0f} | {rate / base:.2f} | {first:.1f} | {compile_s} |"
            )
            print(rows[-1], flush=True)
    table = [
        f"`python bench/precision.py` on {where}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), {device}; steps/s over epochs 2-{args.epochs} "
        "(batch 64), ratio against fp32 of the same model in the same process; compile s = "
        "first epoch minus a steady one.",
        "",
        "| model | mode | steps/s | vs fp32 | first epoch s | compile s |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    if args.write:
        write_section("\n".join(table))
    print(f"ratio={ratios[('digits CNN', 'bf16-mixed')]:.3f}")


def write_section(text: str) -> None:
    """Replace RESULTS.md's precision section (between its markers), or append it."""
    path = ROOT / "RESULTS.md"
    body = path.read_text()
    section = f"{BEGIN}\n## Mixed precision and compilation\n\n{text}\n{END}"
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        body = head + section + rest.split(END, 1)[1]
    else:
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(body)


if __name__ == "__main__":
    main()
