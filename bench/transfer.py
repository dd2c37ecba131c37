"""When does transfer pay off? Scratch vs feature extraction vs fine-tuning, by labels.

    python bench/transfer.py                      # seeds 0-4, labels 1 5 10, cnn and mlp
    python bench/transfer.py --seeds 0 --labels 5 --models cnn   # a quick look

Source: a model trained on digits 0-4 with all their labels (seed 0). Target: digits
5-9 with k labelled training samples per class (``data.labels_per_class=k``, drawn by
the seed); validation and test are the whole 5-9 splits. Each strategy trains a fixed
number of epochs and is tested on its last weights (no early stopping on the
validation split, which holds far more labels than the training split). Every run
is ``engine.run.train`` in this process, as ``python train.py`` would do it.

Writes its section of RESULTS.md (between ``<!-- transfer:begin -->`` and
``<!-- transfer:end -->``), the plot ``docs/transfer.png`` (test accuracy against
labels per class, one line per strategy) and the same figure and curves to
TensorBoard under ``--tb`` (default outputs/bench/transfer).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cli import compose_config  # noqa: E402
from engine.run import save_config, train  # noqa: E402

SOURCE_CLASSES = "[0,1,2,3,4]"
TARGET_CLASSES = "[5,6,7,8,9]"
EPOCHS = 60
# strategy -> its overrides (SRC is the source run). The names are the README's.
STRATEGIES = {
    "scratch": ["transfer=none"],
    "feature extraction": ["transfer=feature_extraction", "transfer.from=SRC"],
    # The CNN's classifier is two layers (head.1 -> head.4): with transfer.head=head both
    # are new, so the frozen features are the convolutions', not the 0-4 classifier's.
    "feature extraction, conv features": {
        "cnn": ["transfer=feature_extraction", "transfer.from=SRC", "transfer.head=head"]
    },
    "fine-tune": ["transfer=finetune", "transfer.from=SRC", "transfer.backbone_lr_mult=1"],
    "fine-tune, backbone lr x0.1": ["transfer=finetune", "transfer.from=SRC"],
    "fine-tune, layer decay 0.5": [
        "transfer=finetune",
        "transfer.from=SRC",
        "transfer.backbone_lr_mult=1",
        "transfer.layer_decay=0.5",
    ],
    "gradual (head 20 epochs)": [
        "transfer=gradual",
        "transfer.from=SRC",
        "transfer.unfreeze_at_epoch=20",
    ],
}
COMMON = [
    "logger=none",
    "trainer.progress_bar=false",
    f"trainer.max_epochs={EPOCHS}",
    "trainer.patience=null",
    "trainer.test_checkpoint=last",
    "optim.lr=0.003",
]


def run(overrides: list[str], run_dir: Path) -> dict:
    cfg = compose_config(overrides)
    save_config(cfg, run_dir)
    return train(cfg, run_dir)


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def write_section(text: str, path: Path, topic: str = "transfer") -> None:
    """Replace this benchmark's section of ``path`` (or append it), nothing else."""
    begin, end = f"<!-- {topic}:begin -->", f"<!-- {topic}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else ""
    if begin in old:
        new = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)


def plot(results: dict, labels: list[int], models: list[str], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for strategy in STRATEGIES:
            if (model, strategy, labels[0]) not in results:
                continue
            means = [statistics.mean(results[model, strategy, k]) for k in labels]
            spread = [
                statistics.stdev(results[model, strategy, k])
                if len(results[model, strategy, k]) > 1
                else 0.0
                for k in labels
            ]
            ax.errorbar(labels, means, yerr=spread, marker="o", capsize=3, label=strategy)
        ax.set_xscale("log")
        ax.set_xticks(labels, [str(k) for k in labels])
        ax.set_xlabel("labels per class (digits 5-9)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{model}: source digits 0-4, all labels")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--models", nargs="+", default=["cnn", "mlp"])
    parser.add_argument("--out", default=str(ROOT / "RESULTS.md"))
    parser.add_argument("--png", default=str(ROOT / "docs" / "transfer.png"))
    parser.add_argument("--tb", default=str(ROOT / "outputs" / "bench" / "transfer"))
    args = parser.parse_args()
    start = time.perf_counter()
    results: dict[tuple[str, str, int], list[float]] = {}
    sources: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            src = Path(tmp) / f"source_{model}"
            metrics = run(
                [f"model={model}", f"data.classes={SOURCE_CLASSES}", "seed=0", *COMMON], src
            )
            sources[model] = metrics["test"]["accuracy"]
            print(f"source {model} on digits 0-4: test accuracy {sources[model]:.4f}", flush=True)
            for k in args.labels:
                for strategy, extra in STRATEGIES.items():
                    if isinstance(extra, dict):  # a strategy for some models only
                        if model not in extra:
                            continue
                        extra = extra[model]
                    for seed in args.seeds:
                        overrides = [
                            f"model={model}",
                            f"data.classes={TARGET_CLASSES}",
                            f"data.labels_per_class={k}",
                            f"seed={seed}",
                            *COMMON,
                            *(o.replace("SRC", str(src)) for o in extra),
                        ]
                        run_dir = Path(tmp) / f"{model}_{k}_{len(results)}_{seed}"
                        acc = run(overrides, run_dir)["test"]["accuracy"]
                        results.setdefault((model, strategy, k), []).append(acc)
                    print(
                        f"{model} k={k:2d} {strategy:28s} {fmt(results[model, strategy, k])}",
                        flush=True,
                    )
    minutes = (time.perf_counter() - start) / 60
    lines = [
        "## Transfer learning: digits 0-4 -> digits 5-9 with few labels",
        "",
        f"`python bench/transfer.py` (seeds {' '.join(map(str, args.seeds))}; "
        f"{minutes:.0f} min on this machine). Source: each model trained on digits 0-4 with "
        "all labels (seed 0; test accuracy "
        + ", ".join(f"{m} {a:.3f}" for m, a in sources.items())
        + "). Target: digits 5-9 with k labels per class (`data.labels_per_class=k`), "
        f"{EPOCHS} epochs at optim.lr=0.003 (Adam), tested on the last weights. "
        "Test accuracy, mean ± std over the seeds (chance: 0.200).",
        "",
    ]
    for model in args.models:
        lines += [
            f"**{model}**",
            "",
            "| strategy | " + " | ".join(f"{k} per class" for k in args.labels) + " |",
            "|---|" + "---|" * len(args.labels),
        ]
        for strategy in STRATEGIES:
            if (model, strategy, args.labels[0]) not in results:
                continue
            cells = [fmt(results[model, strategy, k]) for k in args.labels]
            lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"![test accuracy against labels per class](docs/{Path(args.png).name})")
    write_section("\n".join(lines), Path(args.out))
    fig = plot(results, args.labels, args.models, Path(args.png))
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(args.tb) as writer:
        writer.add_figure("transfer/accuracy_vs_labels", fig)
        for (model, strategy, k), accs in results.items():
            tag = f"transfer_{model}/{strategy.replace(' ', '_').replace(',', '')}"
            writer.add_scalar(tag, statistics.mean(accs), k)
    print(f"wrote {args.out} (transfer section), {args.png}, TensorBoard {args.tb}")


if __name__ == "__main__":
    main()
