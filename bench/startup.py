"""How long does a run take before it trains? The fixed cost of every ``python train.py``.

    make bench            # or: python bench/startup.py [--runs 7]

Times ``python train.py trainer.max_epochs=0 logger=none hydra.run.dir=<tmp>`` end to
end in a fresh interpreter each time: compose the config, import the engine, load and
split the data, build the model and its optimizer, evaluate val and test once, write
metrics.json. Prints the median of ``--runs`` runs, then where one more run, under
``python -X importtime``, spends its import time: by top-level package, and the
largest imports our own modules (or a call at run time) bring in.
Last line: ``startup=<median seconds>``.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("engine", "zoo", "losses", "optimizers", "train")


def command(run_dir: Path) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "trainer.max_epochs=0",
        "logger=none",
        f"hydra.run.dir={run_dir}",
    ]


def time_run(extra: list[str] = ()) -> tuple[float, str]:
    """Wall-clock seconds of one run in a fresh interpreter, and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = command(Path(tmp) / "run")
        start = time.perf_counter()
        done = subprocess.run([cmd[0], *extra, *cmd[1:]], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed, done.stderr


@dataclass
class Import:
    name: str
    self_s: float
    total_s: float
    depth: int  # nesting under the import that caused it
    parent: str | None = None  # None: imported by a call at run time, not by an import


def imports(stderr: str) -> list[Import]:
    """The ``-X importtime`` lines, each with the module whose import caused it.

    Python prints a module after everything it imported, one indent deeper per level:
    the parent of a line is the next line below it with a smaller indent.
    """
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, total_us, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append(Import(name.strip(), int(self_us) / 1e6, int(total_us) / 1e6, depth))
    for i, row in enumerate(rows):
        row.parent = next((r.name for r in rows[i + 1 :] if r.depth < row.depth), None)
    return rows


def report(rows: list[Import], top: int) -> None:
    by_package = collections.Counter()
    for row in rows:
        by_package[row.name.split(".")[0]] += row.self_s
    print(f"import time by package (one run, {sum(by_package.values()):.2f} s in all):")
    for package, seconds in by_package.most_common(top):
        print(f"  {package:28} {seconds:6.3f} s")
    print("largest imports brought in by our modules or at run time:")
    brought = [
        r
        for r in rows
        if r.name.split(".")[0] not in OURS
        and (r.parent is None or r.parent.split(".")[0] in OURS)
        and r.depth <= 8
    ]
    for row in sorted(brought, key=lambda r: -r.total_s)[:top]:
        by = "train.py, or a call at run time" if row.parent is None else row.parent
        print(f"  {row.name:28} {row.total_s:6.3f} s  <- {by}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="median of")
    parser.add_argument("--top", type=int, default=10, help="lines per import list")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python train.py trainer.max_epochs=0 logger=none, {args.runs} runs, load={load:.2f}")
    time_run()  # warm the file system cache
    times = [time_run()[0] for _ in range(args.runs)]
    _, stderr = time_run(["-X", "importtime"])
    report(imports(stderr), args.top)
    print(f"runs: {' '.join(f'{t:.2f}' for t in times)} s")
    print(f"startup={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
