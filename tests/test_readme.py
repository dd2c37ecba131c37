"""Every command in the README's code blocks runs as shown, so the README cannot drift.

Each ``python train.py ...`` line of an indented code block is run in this process, as
train.py runs it (the same checks before Hydra, the same composition), shrunk with
``SHRINK`` appended (and, for a few-shot task, ``FEW_EPISODES``); a ``$ python ...``
line is compared with the lines the README shows under it (a shown line ending in
``...`` is compared up to there). The block of the default run's output is compared with
a real default run, timings and dates aside.

A command that cannot run here (it downloads, needs CUDA or torchrun, or names a
placeholder such as ``<dir>``) is marked in the README by an HTML comment before its
block, which the reader of the rendered page does not see:

    <!-- readme-test: skip "data=cifar10" downloads CIFAR-10 -->   (lines holding it)
    <!-- readme-test: skip needs torchrun -->                       (the whole block)

Lines of ``evaluate.py`` and ``sample.py``, ``-m`` sweeps and ``--help`` run as the
user runs them, each in a process of its own (:func:`test_readme_script_line`, through
``scripts.run``: forked with the imports done, its own exit status and output); a placeholder
such as ``<dir>`` or ``multirun/<date>/<time>`` stands for a run of the kind it
names, trained once for these tests (:data:`PLACEHOLDERS`); a sweep runs one epoch
per job into a temporary folder (an Optuna search, two trials).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import FAST, FEW_EPISODES, ROOT, TWO_BATCHES, compose_cfg, episodic, train_run

from engine.cli import add_pairings

README = ROOT / "README.md"
SHRINK = [*TWO_BATCHES, "trainer.progress_bar=false", "logger=none"]
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|output)\s*(.*?)\s*-->")


@dataclass
class Command:
    line: int  # 1-based, in README.md
    text: str  # the command as typed, continuation lines joined
    shown: list[str] = field(default_factory=list)  # the output the README shows ($ lines)
    skip: str | None = None  # why the README says it is not run here


@dataclass
class Block:
    line: int
    lines: list[str]
    markers: list[tuple[str, str]]  # (skip|output, its argument)


def code_blocks(text: str) -> list[Block]:
    """The README's indented code blocks (fenced ones hold files, not commands), each
    with the ``readme-test`` comments written between it and the text before it."""
    blocks: list[Block] = []
    markers: list[tuple[str, str]] = []
    fenced, current, previous_blank = False, None, True
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        code = raw.startswith("    ") and (previous_blank or current is not None)
        if code:
            if current is None:
                current = Block(number, [], markers)
                blocks.append(current)
                markers = []
            current.lines.append(raw[4:])
        elif raw.strip():
            current = None
            markers += MARKER.findall(raw)
        previous_blank = not raw.strip()
    return blocks


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    pending = ""
    for offset, line in enumerate(block.lines):
        if pending:
            pending += " " + line.strip()
        elif line.startswith(("python ", "$ python ")):
            pending = line
            found.append(Command(block.line + offset, ""))
        elif found and found[-1].text.startswith("$ ") and line.strip():
            found[-1].shown.append(line)
            continue
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        found[-1].text, pending = pending, ""
    for command in found:
        for kind, argument in block.markers:
            quoted = re.match(r'"([^"]+)"\s*(.*)', argument)
            if kind == "skip" and (quoted is None or quoted[1] in command.text):
                command.skip = quoted[2] if quoted else argument
    return found


def readme_commands() -> list[Command]:
    return [c for b in code_blocks(README.read_text()) for c in commands(b)]


def argv(command: Command) -> list[str]:
    """The arguments after ``python train.py``, the shell's way (comments dropped)."""
    words = shlex.split(command.text.removeprefix("$ "), comments=True)
    return words[2:]


def runs_here(command: Command) -> bool:
    """Whether this test runs ``command``: a train.py line, not marked, without a sweep,
    ``--help`` or a placeholder (``<dir>``)."""
    words = shlex.split(command.text.removeprefix("$ "), comments=True)
    if command.skip is not None or words[1] != "train.py":
        return False
    return not any(w in ("-m", "--help") or "<" in w for w in words)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_train(args: list[str], run_dir: Path, shrink: bool = False) -> Result:
    """``python train.py <args>``, in this process: train.py's steps before Hydra, the
    composition (``compose_cfg``: Hydra's, the choices shared between commands),
    engine.run.train and the lines train.py prints at the end; ``shrink``: with
    ``SHRINK`` appended, and an episodic task's ``FEW_EPISODES``."""
    sys.path.insert(0, str(ROOT))
    import train as script
    from engine.errors import ZooError
    from engine.run import save_config, train

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = script.before_hydra([*args, *SHRINK] if shrink else args)
            cfg = compose_cfg(*args)
            if shrink and episodic(cfg):
                cfg = compose_cfg(*args, *FEW_EPISODES)
            save_config(cfg, run_dir)  # as Hydra does: later lines may load the run
            metrics = train(cfg, run_dir)
            print("\n".join(script.summary_lines(metrics, str(run_dir), str(run_dir))))
        except SystemExit as e:
            code = int(e.code or 0)
        except ZooError as e:
            print(f"error: {e}", file=err)
            code = 2
    return Result(code, out.getvalue(), err.getvalue())


COMMANDS = readme_commands()
BLOCKS = [
    (block, run)
    for block in code_blocks(README.read_text())
    if (run := [c for c in commands(block) if runs_here(c)])
]


def test_the_readme_has_commands_and_every_skip_says_why():
    assert sum(len(run) for _, run in BLOCKS) >= 20, (
        "too few commands: has the README's form changed?"
    )
    for command in COMMANDS:
        assert command.skip != "", f"README.md:{command.line}: a skip marker needs a reason"


HINT = (
    "(a command that cannot run here, say it downloads, is marked before its block: "
    '<!-- readme-test: skip "<text of the line>" <why> -->)'
)


def check(command: Command, result: Result) -> None:
    where = f"README.md:{command.line}: {command.text} {HINT}"
    expected_error = any(s.startswith("error:") for s in command.shown)
    printed = (result.stdout + result.stderr).splitlines()
    for shown in command.shown:
        want = shown.removesuffix("...")
        assert any(
            line.startswith(want) if shown.endswith("...") else line == shown for line in printed
        ), f"{where}: the README shows\n  {shown}\nbut it printed\n  " + "\n  ".join(printed)
    assert result.code == (2 if expected_error else 0), f"{where}\n" + "\n".join(printed)


@pytest.mark.parametrize(("block", "run"), BLOCKS, ids=[f"line{b.line}" for b, _ in BLOCKS])
def test_readme_block(block: Block, run: list[Command], tmp_path, monkeypatch):
    """The block's commands in order, from one folder (``runs/teacher`` made by one line
    is there for the next), each shrunk unless it shows an error."""
    monkeypatch.chdir(tmp_path)
    for number, command in enumerate(run):
        args = argv(command)
        dirs = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
        args = [a for a in args if not a.startswith("hydra.run.dir=")]
        shrink = not any(s.startswith("error:") for s in command.shown)
        check(command, run_train(args, tmp_path / (dirs[-1] if dirs else f"run{number}"), shrink))


# What a placeholder of a README line stands for: a run trained by the `runs` fixture
# (its folder name under the tests' working folder).
PLACEHOLDERS = {
    "outputs/<date>/<time>_mlp_digits": "runs/digits",
    "<dir>": "runs/digits",
    "<breast_cancer run>": "runs/breast_cancer",
    "<a gan or vae run>": "runs/vae",
    "multirun/<date>/<time>": "runs/seeds",
}
SWEEP_SHRINK = ["trainer.max_epochs=1", "trainer.progress_bar=false", "logger=none"]
SCRIPT_LINES = [
    c
    for c in COMMANDS
    if c.skip is None
    and not runs_here(c)
    and shlex.split(c.text.removeprefix("$ "), comments=True)[1]
    in ("train.py", "evaluate.py", "sample.py")
]
# A line the README repeats (the search in the quick start and under "Searches") runs once.
SCRIPT_LINES = [
    c
    for i, c in enumerate(SCRIPT_LINES)
    if all(
        shlex.split(c.text, comments=True) != shlex.split(b.text, comments=True)
        for b in SCRIPT_LINES[:i]
    )
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A folder holding the runs the placeholders name, one epoch each; runs/a and runs/b
    (named so by a README line) are seeds of one split, as an ensemble needs."""
    root = tmp_path_factory.mktemp("readme_runs")
    made = {
        "digits": [],
        "breast_cancer": ["model=perceptron", "data=breast_cancer"],
        "vae": ["model=vae"],
        "seeds/0": ["seed=0", "data_seed=0"],
        "seeds/1": ["seed=1", "data_seed=0"],
        "a": ["seed=0", "data_seed=0"],
        "b": ["seed=1", "data_seed=0"],
    }
    for name, overrides in made.items():
        # with train.py's pairings: model=vae brings task=reconstruction
        args = add_pairings([*FAST, "trainer.max_epochs=1", "logger=none", *overrides])
        train_run(compose_cfg(*args), root / "runs" / name)
    return root


def script_args(command: Command, sweep_dir: Path) -> list[str]:
    """The line's arguments with its placeholders filled in; a sweep shrunk and sent to
    ``sweep_dir``."""
    text = command.text.removeprefix("$ ")
    for placeholder, run in PLACEHOLDERS.items():
        text = text.replace(placeholder, run)
    words = shlex.split(text, comments=True)[1:]
    if "-m" not in words:
        return words
    shrink = [*SWEEP_SHRINK, f"hydra.sweep.dir={sweep_dir}"]
    if any("optuna" in w for w in words):
        shrink.append("hydra.sweeper.n_trials=2")
    keys = {a.split("=", 1)[0] for a in shrink}
    return [w for w in words if w.split("=", 1)[0] not in keys] + shrink


@pytest.mark.parametrize("command", SCRIPT_LINES, ids=[f"line{c.line}" for c in SCRIPT_LINES])
def test_readme_script_line(command: Command, runs: Path, tmp_path, scripts):
    script, *args = script_args(command, tmp_path / "sweep")
    assert "<" not in " ".join(args), f"README.md:{command.line}: a placeholder without a run"
    done = scripts.run(script, *args, cwd=runs, timeout=600)
    check(command, Result(done.returncode, done.stdout, done.stderr))
    if "--help" in args:
        assert "== Config groups" in done.stdout


def normalized(line: str) -> str:
    """A printed line without what changes from run to run: the seconds it took and the
    run directory's name."""
    line = re.sub(r"\d+\.\ds\)", "<t>s)", line)
    return re.sub(r"(run dir: |--logdir ).*", r"\1<dir>", line)


def shown_outputs() -> dict[str, list[str]]:
    """The README's blocks of the default run's output, by their marker's argument:
    ``python train.py`` (the whole output) and ``python train.py on another CPU``."""
    shown = {}
    for block in code_blocks(README.read_text()):
        for kind, argument in block.markers:
            if kind == "output" and argument.startswith("python train.py"):
                shown[argument] = [line for line in block.lines if line.strip()]
    return shown


def figures(line: str) -> tuple[float, float]:
    """(loss, accuracy) of the output's first line."""
    found = re.search(r"loss=(\d+\.\d+)\s+accuracy=(\d+\.\d+)", line)
    assert found, f"no loss and accuracy in {line!r}"
    return float(found[1]), float(found[2])


def words(lines: list[str]) -> list[str]:
    """Lines with every number replaced by 0."""
    return [re.sub(r"\d+", "0", line) for line in lines]


def test_the_shown_output_of_the_default_run_is_what_it_prints(tmp_path):
    """Its words exactly; its figures to within 0.005 of one of the outcomes the README
    shows: the CPU's sums change their last bits, and with them the epoch it stops at."""
    shown = shown_outputs()
    whole = shown["python train.py"]
    assert len(whole) == 4, "mark the block of the default run's output"
    result = run_train(["trainer.progress_bar=false", "logger=none"], tmp_path / "run")
    assert result.code == 0, result.stderr
    printed = [normalized(line) for line in result.stdout.splitlines()]
    expected = [normalized(line) for line in whole]
    assert words(printed) == words(expected), result.stdout
    assert printed[1:] == expected[1:], "the baseline does not depend on the CPU"
    loss, accuracy = figures(printed[0])
    outcomes = [figures(lines[0]) for lines in shown.values()]
    assert any(
        abs(loss - shown_loss) <= 0.005 and abs(accuracy - shown_accuracy) <= 0.005
        for shown_loss, shown_accuracy in outcomes
    ), f"{printed[0]!r} is not within 0.005 of any of {outcomes}"
