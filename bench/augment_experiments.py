"""Does augmentation reduce overfitting? The pinned experiments of RESULTS.md's
"Data augmentation" section, seeds 0-4.

    python bench/augment_experiments.py        # [--seeds 0 1 2 3 4] [--setups digits signals]

The CNN on the digits with 10 labels per class (``data.labels_per_class=10``) and
with the full training split, without and with ``augment=light``; an MLP and a GRU
on the ItalyPowerDemand series (UCR, 67 training series of 24 steps) without and
with the signal preset ``augment=light``. For each: test accuracy mean ± std and
the train - validation accuracy gap at the end (the overfitting augmentation should
shrink). Rewrites only its own section of RESULTS.md, between the augment markers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import compose_cfg  # noqa: E402

from engine.run import make_trainer  # noqa: E402

FEW = ["data.labels_per_class=10", "trainer.batch_size=32", "trainer.max_epochs=300",
       "trainer.patience=50"]  # fmt: skip
FULL = ["trainer.max_epochs=150", "trainer.patience=20"]
SIGNAL = ["data=ucr", "data.params.name=ItalyPowerDemand", "trainer.max_epochs=300",
          "trainer.patience=50"]  # fmt: skip
SETUPS = {
    "digits CNN, 10 labels per class": ["experiment=digits_cnn", *FEW],
    "digits CNN, full training split": ["experiment=digits_cnn", *FULL],
    "ItalyPowerDemand MLP": [*SIGNAL, "model=mlp"],
    "ItalyPowerDemand GRU": [*SIGNAL, "model=gru"],
}
ARMS = ("none", "light")
BEGIN, END = "<!-- augment:begin -->", "<!-- augment:end -->"


def one_run(
    overrides: list[str], seed: int, prepare: Callable[[Any, Any], None] | None = None
) -> tuple[float, float]:
    """Test accuracy and the final train - val accuracy gap of one run (``prepare``,
    given the trainer and the built run, may change them before training)."""
    cfg = compose_cfg(*overrides, f"seed={seed}", "logger=none", "trainer.progress_bar=false")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, built = make_trainer(cfg, run_dir)
        if prepare is not None:
            prepare(trainer, built)
        trainer.fit()
        task, model, data = built.task, built.model, built.data
        # The gap at the end, on the clean splits (the train metric of the epochs
        # would be on augmented batches).
        train = task.evaluate(model, built.loss_fn, data, "train")["accuracy"]
        val = task.evaluate(model, built.loss_fn, data, "val")["accuracy"]
        trainer.load_weights_for_test()
        test = task.evaluate(model, built.loss_fn, data, "test")["accuracy"]
    return test, train - val


def mean_std(values: list[float]) -> str:
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--setups", nargs="+", choices=["digits", "signals"], default=["digits", "signals"],
        help="run only these setups; the table keeps its rows of the others",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    kept = table_rows()
    rows = []
    for setup, overrides in SETUPS.items():
        if ("digits" if setup.startswith("digits") else "signals") not in args.setups:
            rows += [row for row in kept if row.startswith(f"| {setup} |")]
            continue
        results = {}
        for arm in ARMS:
            runs = [one_run([*overrides, f"augment={arm}"], s) for s in args.seeds]
            results[arm] = runs
            tests, gaps = [r[0] for r in runs], [r[1] for r in runs]
            print(f"{setup:34s} augment={arm:6s} test {mean_std(tests)}  gap {mean_std(gaps)}")
        gain = statistics.mean(r[0] for r in results["light"]) - statistics.mean(
            r[0] for r in results["none"]
        )
        for arm in ARMS:
            tests, gaps = [r[0] for r in results[arm]], [r[1] for r in results[arm]]
            rows.append(
                f"| {setup} | {arm} | {mean_std(tests)} | {mean_std(gaps)} | "
                + (f"{100 * gain:+.1f}" if arm == "light" else "")
                + " |"
            )
    seeds = ", ".join(map(str, args.seeds))
    replace_section(
        BEGIN,
        END,
        [
            "## Data augmentation",
            "",
            f"`python bench/augment_experiments.py` (seeds {seeds}; test accuracy in %, mean ± "
            "std; gap = train − validation accuracy at the end, on the clean splits, in "
            "points; gain = light − none in test points). Digits: `experiment=digits_cnn`, "
            "10 labels per class with batch 32 and up to 300 epochs (patience 50), the full "
            "split with up to 150 epochs (patience 20). ItalyPowerDemand (UCR): up to 300 "
            "epochs (patience 50); `light` is jitter (σ 0.03) and scaling (σ 0.1) there."
            + (
                f" The {' and '.join(s for s in ('digits', 'signals') if s not in args.setups)} "
                "rows are those of the previous run (this one had `--setups "
                f"{' '.join(args.setups)}`)."
                if set(args.setups) != {"digits", "signals"}
                else ""
            ),
            "",
            "| setup | augment | test accuracy | train − val gap | gain |",
            "|---|---|---|---|---|",
            *rows,
        ],
    )


def table_rows() -> list[str]:
    """The rows of the section's table as RESULTS.md has them now (none if absent)."""
    text = (ROOT / "RESULTS.md").read_text()
    if BEGIN not in text:
        return []
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def replace_section(begin: str, end: str, lines: list[str]) -> None:
    """Write ``lines`` between the markers ``begin`` and ``end`` of RESULTS.md (at the
    end of the file if they are not there yet), leaving the rest as it is."""
    section = "\n".join([begin, *lines, end])
    path = ROOT / "RESULTS.md"
    text = path.read_text()
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    print(f"wrote {begin} ... {end} of {path}")


if __name__ == "__main__":
    main()
