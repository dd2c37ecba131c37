"""The zoo's sequence families on UCR/UEA datasets, official splits, next to published numbers.

    python bench/ucr.py run [--datasets GunPoint ...] [--families fcn ...] [--seeds 0 1 2 3 4]
                            [--epochs 100] [--batch-size 16] [--sched constant]
                            [--shard 0/1]
                            [--out bench/ucr_runs.jsonl]
    python bench/ucr.py write [--out bench/ucr_runs.jsonl]   # rewrites RESULTS.md's section

``run`` trains each (dataset, family, seed) through the same config a user gets from
``python train.py data=ucr data.params.name=<dataset> model=<family> ...`` (the recipe
below), in this process, and appends its test accuracy to a JSON-lines file as it
finishes (a killed sweep keeps what it measured; a rerun skips what is there). Seeds go
outermost, so every (dataset, family) has seed 0 before any has seed 1. ``--shard i/n``
runs every n-th job from the i-th, to spread a sweep over processes.

``write`` turns the file into the ``ucr`` section of RESULTS.md: per dataset and
family, test accuracy mean ± std over the seeds that finished (and how many), next to
Fawaz et al. (2019)'s MLP, FCN and ResNet and the archive's 1-NN DTW, quoted from the
sources named in :data:`PUBLISHED`.

Recipe (one for every family, sized for a shared 2-core CPU): Adam lr 1e-3, batch
``--batch-size`` (16), a constant rate (``--sched cosine``: annealed to 0 over the
run; ``--sched plateau``: halved when the training loss has not dropped for 50
epochs, down to 1e-4, as Fawaz et al. below), ``--epochs`` epochs (no early
stopping), the last weights tested; the official train part less one series per class
(``data.val_size=0.01``) for validation; inputs standardized per feature on the
training part. ``--select best`` (run first, 100
epochs) tests the weights with the lowest loss on a 15 % hold-out instead: with 1-2
validation series per class that choice is noise, and it can fall on an early epoch
(ArrowHead's FCN scored 28.6 % with seed 1). Families:
``mlp`` 3 x 500 ReLU units, dropout 0.2 (Wang et al. 2017's MLP widths); ``cnn`` the
zoo's default CNN (conv 32, 64 with max pooling, a dense head); ``fcn`` and
``resnet1d`` as Wang et al. 2017; ``gru`` / ``lstm`` the zoo defaults (128 units, one
layer, gradient norm clipped at 1); ``transformer`` with patch tokens of
p = ⌈T/16⌉ steps (at most 16 tokens), mean pooling; ``transformer_rows`` the same
Transformer reading one step per token (``tokens=rows``), to show what patches buy.
Fawaz et al. (github.com/hfawaz/dl-4-tsc, classifiers/fcn.py and resnet.py) trained
far longer (FCN 2,000 epochs, ResNet 1,500, MLP 5,000) in mini-batches of
min(N/10, 16) series (FCN; ResNet min(N/10, 64)), halved Adam's rate whenever the
training loss had not dropped for 50 epochs (down to 1e-4), and kept the model with
the lowest *training* loss, without a validation hold-out. On ArrowHead (N = 36) that
is batches of 3 and 24,000 optimizer steps for the FCN; the recipe here takes 450
(150 epochs of 3 batches); ``--batch-size 3`` takes 1,650, and ``--epochs 2000
--batch-size 3 --sched plateau`` 22,000 at their schedule (testing the last weights,
not those of the lowest training loss, and training on 33 series, not 36). The
archive's series are z-normalized each already, so per-series or per-feature scaling
is the same here.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.data.ucr import BUNDLED, MULTIVARIATE, archive_dir, read_ts  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.run import train  # noqa: E402

FAMILIES = {
    "mlp": ["model=mlp", "model.hidden_size=500", "model.num_layers=3"],
    "cnn": ["model=cnn"],
    "fcn": ["model=fcn"],
    "resnet1d": ["model=resnet1d"],
    "gru": ["model=gru"],
    "lstm": ["model=lstm"],
    "transformer": ["model=transformer", "model.tokens=patches", "model.pooling=mean"],
    "transformer_rows": ["model=transformer", "model.tokens=rows", "model.pooling=mean"],
}
DATASETS = ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels"]
RECIPE = ["optim.lr=0.001", "trainer.patience=null"]  # and --batch-size (16)
# Which weights are tested (--select): the last ones, one validation series per class (the
# rest of the small train parts train); or those with the lowest loss on a 15 % hold-out.
SELECT = {
    "last": ["trainer.test_checkpoint=last", "data.val_size=0.01"],
    "best": ["trainer.test_checkpoint=best", "data.val_size=0.15"],
}
DEFAULT_OUT = ROOT / "bench" / "ucr_runs.jsonl"
BEGIN, END = "<!-- ucr:begin -->", "<!-- ucr:end -->"

# Published test accuracies (%), each column's source in SOURCES. Fawaz et al.: mean over
# their 10 runs (the std in brackets there is left out); "best deep" is the highest of
# their nine networks (MLP, FCN, ResNet, Encoder, MCNN, t-LeNet, MCDCNN, Time-CNN,
# TWIESN). 1-NN DTW: 1 − the error rate the archive lists. BasicMotions is in neither
# source (it came with the 2018 UEA archive, after Fawaz et al.'s study).
SOURCES = {
    "Fawaz MLP": "Fawaz et al. 2019, github.com/hfawaz/dl-4-tsc results/results-uea-avg-std.csv "
    "(UCR 2015 archive; GunPoint is 'Gun_Point' there) and results/results-mts-avg-std.csv "
    "(JapaneseVowels, Baydogan's multivariate archive, same 270/370 split)",
    "Fawaz FCN": "as Fawaz MLP",
    "Fawaz ResNet": "as Fawaz MLP",
    "Fawaz best deep": "as Fawaz MLP, the best of their nine networks (which one in brackets)",
    "1-NN DTW": "the UCR archive 2018's DataSummary.csv, column 'DTW (w=100)' (full warping "
    "window), as copied in github.com/Chang-George-Dong/TrojanTime DataSummary.csv",
    "1-NN DTW (learned w)": "the same file, column 'DTW (learned_w)'",
}
PUBLISHED: dict[str, dict[str, float | str]] = {
    "ArrowHead": {"Fawaz MLP": 77.8, "Fawaz FCN": 84.3, "Fawaz ResNet": 84.5,
                  "Fawaz best deep": "84.5 (ResNet)", "1-NN DTW": 70.3,
                  "1-NN DTW (learned w)": 80.0},
    "GunPoint": {"Fawaz MLP": 92.7, "Fawaz FCN": 100.0, "Fawaz ResNet": 99.1,
                 "Fawaz best deep": "100.0 (FCN)", "1-NN DTW": 90.7,
                 "1-NN DTW (learned w)": 91.3},
    "ItalyPowerDemand": {"Fawaz MLP": 95.4, "Fawaz FCN": 96.1, "Fawaz ResNet": 96.3,
                         "Fawaz best deep": "96.5 (Encoder)", "1-NN DTW": 95.0,
                         "1-NN DTW (learned w)": 95.5},
    "OSULeaf": {"Fawaz MLP": 55.7, "Fawaz FCN": 97.7, "Fawaz ResNet": 97.9,
                "Fawaz best deep": "97.9 (ResNet)", "1-NN DTW": 59.1,
                "1-NN DTW (learned w)": 61.2},
    "ACSF1": {"1-NN DTW": 64.0, "1-NN DTW (learned w)": 62.0},
    "PickupGestureWiimoteZ": {"1-NN DTW": 66.0, "1-NN DTW (learned w)": 66.0},
    "JapaneseVowels": {"Fawaz MLP": 97.6, "Fawaz FCN": 99.3, "Fawaz ResNet": 99.2,
                       "Fawaz best deep": "99.3 (FCN)"},
}  # fmt: skip


def patch_size(dataset: str) -> int:
    """⌈T/16⌉ steps per patch: at most 16 tokens for the longest series."""
    folder = archive_dir() / dataset
    cases, _, _ = read_ts(folder / f"{dataset}_TRAIN.ts")
    return math.ceil(max(len(c) for c in cases) / 16)


def overrides(
    dataset: str,
    family: str,
    seed: int,
    epochs: int,
    select: str,
    batch: int = 16,
    sched: str = "constant",
) -> list[str]:
    extra = [f"model.patch_size={patch_size(dataset)}"] if family == "transformer" else []
    return [
        "data=ucr",
        f"data.params.name={dataset}",
        *FAMILIES[family],
        *extra,
        *RECIPE,
        f"trainer.batch_size={batch}",
        f"sched={sched}",
        *SELECT[select],
        f"trainer.max_epochs={epochs}",
        f"seed={seed}",
        "logger=none",
        "trainer.progress_bar=false",
    ]


def load(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    older = {"select": "best", "batch": 16, "sched": "constant"}  # what older rows left out
    return [{**older, **r} for r in rows]


def recipe(r: dict) -> tuple[str, int, int, str]:
    """What a table holds alike: the weights tested, epochs, batch size, schedule."""
    return (r["select"], r["epochs"], r["batch"], r["sched"])


def key(r: dict) -> tuple:
    return (r["dataset"], r["family"], r["seed"], *recipe(r))


def done(out: Path) -> set[tuple]:
    return {key(r) for r in (load(out) if out.is_file() else [])}


def run(args: argparse.Namespace) -> None:
    jobs = [
        (d, f, s) for s in args.seeds for d in args.datasets for f in args.families
    ]  # seeds outermost: every pair gets seed 0 first
    i, n = (int(v) for v in args.shard.split("/"))
    finished = done(args.out)
    for k, (dataset, family, seed) in enumerate(jobs):
        row = {"dataset": dataset, "family": family, "seed": seed, "epochs": args.epochs}
        row |= {"select": args.select, "batch": args.batch_size, "sched": args.sched}
        if k % n != i or key(row) in finished:
            continue
        cfg = compose_config(
            overrides(*key(row)[:3], args.epochs, args.select, args.batch_size, args.sched)
        )
        start = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix=f"ucr_{dataset}_{seed}_") as run_dir:
                row["accuracy"] = train(cfg, Path(run_dir))["test"]["accuracy"]
        except ConfigError as e:  # e.g. the MLP refuses padded series: say so in the table
            row["refused"] = str(e)
        row["seconds"] = round(time.perf_counter() - start, 1)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    pct = [100 * v for v in values]
    if len(pct) == 1:
        return f"{pct[0]:.1f} (1)"
    return f"{statistics.mean(pct):.1f} ± {statistics.stdev(pct):.1f} ({len(pct)})"


def table(rows: list[dict]) -> list[str]:
    """One row per dataset: each family's accuracy, the best of them, the published ones."""
    datasets = [d for d in BUNDLED if any(r["dataset"] == d for r in rows)]
    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    lines = [
        "| dataset | " + " | ".join(families) + " | best zoo | " + " | ".join(SOURCES) + " |",
        "|---" * (len(families) + 2 + len(SOURCES)) + "|",
    ]
    for d in datasets:
        mine = [r for r in rows if r["dataset"] == d]
        accs = {
            f: [r["accuracy"] for r in mine if r["family"] == f and "accuracy" in r]
            for f in families
        }
        refused = {r["family"] for r in mine if "refused" in r}
        means = {f: statistics.mean(v) for f, v in accs.items() if v}
        best = max(means, key=means.get) if means else None
        name = f"{d} (multivariate)" if d in MULTIVARIATE else d
        published = [str(PUBLISHED.get(d, {}).get(s, "–")) for s in SOURCES]
        best_cell = f"{best} {100 * means[best]:.1f}" if best else "–"
        lines.append(
            f"| {name} | "
            + " | ".join("refused" if f in refused else cell(accs[f]) for f in families)
            + f" | {best_cell} | "
            + " | ".join(published)
            + " |"
        )
    return lines


def write(args: argparse.Namespace) -> None:
    rows = load(args.out)
    lines = [
        BEGIN,
        "## UCR/UEA time-series classification, official splits (`bench/ucr.py`)",
        "",
        "Test accuracy (%), mean ± std over the seeds that finished (their number in "
        "brackets), recipe in `bench/ucr.py`'s docstring; one table per recipe (weights "
        "tested, epochs, batch size, learning-rate schedule). Published columns: see the "
        "sources under the tables. `python bench/ucr.py run [--select best --epochs 100]` then "
        "`python bench/ucr.py write` reproduce them. Fewer than 5 seeds, or –, means "
        "the runs did not fit the shared 2-core machine (one torch thread each, loaded "
        "by other jobs) before the deadline; they are not failures.",
    ]
    for select, epochs, batch, sched in sorted({recipe(r) for r in rows}, reverse=True):
        what = {
            "last": "the last weights, one validation series per class",
            "best": "the weights with the lowest loss on a 15 % validation hold-out",
        }[select]
        rate = "constant rate" if sched == "constant" else f"{sched} rate"
        flags = f"--select {select} --epochs {epochs} --batch-size {batch} --sched {sched}"
        lines += ["", f"**{epochs} epochs, batch {batch}, {rate}, {what}** (`{flags}`):"]
        lines += ["", *table([r for r in rows if recipe(r) == (select, epochs, batch, sched)])]
    lines += ["", "Sources of the published columns:", ""]
    lines += [*(f"- {k}: {v}." for k, v in SOURCES.items()), END]
    results = ROOT / "RESULTS.md"
    text = results.read_text()
    section = "\n".join(lines)
    if BEGIN in text:
        text = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)
    print(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--datasets", nargs="+", default=DATASETS, choices=BUNDLED)
    r.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    r.add_argument("--epochs", type=int, default=150)
    r.add_argument("--batch-size", type=int, default=16)
    r.add_argument("--sched", default="constant", choices=["constant", "cosine", "plateau"])
    r.add_argument("--select", default="last", choices=list(SELECT))
    r.add_argument("--shard", default="0/1")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    w = sub.add_parser("write")
    w.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    (run if args.command == "run" else write)(args)


if __name__ == "__main__":
    main()
