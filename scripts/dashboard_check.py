"""Look at a run's TensorBoard dashboard the way a user does, and fail if it is empty.

    python scripts/dashboard_check.py [--logdir DIR] [--out DIR] [--no-browser] [--no-pictures]
    make dashboard-check

1. Without --logdir, trains the default model for 3 epochs with Adam and with SGD, a
   sweep of two runs (``train.py -m optim=adam,sgd trainer.max_epochs=3
   hydra.sweep.dir=OUT/logs``), and uses OUT/logs.
2. Starts TensorBoard on 127.0.0.1 (a free port) and waits until it lists every run
   that has an event file under the logdir.
3. Checks the data API the dashboard reads: /data/runs, the scalar tags of every run
   (--tags, named as the trainer logs them, default: the classification run's
   train/val/test loss and accuracy, lr, train/loss_step; a per-epoch ``train/m`` or
   ``val/m`` is looked for where the logger draws it, as ``Learning curves/m`` in the
   run's sub-run ``train`` or ``val``), that each has points and a description (the
   line under its card), that a CUSTOM SCALARS chart draws train/loss and val/loss
   together (the overfitting picture), and the hparams plugin's data if present: with
   several runs, the keys they differ in (--swept, default: optim.name for the sweep
   trained here) must be among the columns shown by default (the first HPARAMS_SHOWN),
   and those columns must all be keys that differ (none the same in every run).
4. Loads the pages in headless Chromium and writes to OUT:
   timeseries.png (+ timeseries.dom.html)  the landing page (Time Series); its DOM
       must list every run, show the card of train/loss and val/loss with a line for
       each (two per run), open the learning curves' group first (the page opens its
       first two groups), and not lead with a counter such as ``epoch``;
   scalars.png  the Scalars page, filtered to the loss and accuracy tags;
   custom_scalars.png, hparams.png  the CUSTOM SCALARS and HPARAMS pages (drawn, not
       checked: their charts live in shadow DOM, which --dump-dom does not print).
5. Without --logdir or --no-pictures, trains the two runs whose pictures carry words
   (PICTURE_RUNS: a Transformer, a VAE with a 2-D code) into OUT/pictures, serves
   them, checks that each logged its picture (PICTURES: the attention maps, the latent
   space) with a description, and saves the pictures as TensorBoard serves them
   (OUT/transformer_attention_test_sample_0.png, OUT/vae_latent_space.png) and the
   IMAGES page filtered to them (OUT/images.png).
6. Prints the runs, tags and screenshot paths, then PASS, or one FAIL line per
   problem and a last line naming the first. TensorBoard is always stopped.

Exit status: 0 pass, 1 a check failed, 2 chromium missing (pass --no-browser to skip
the pages). The script installs nothing; on Debian: apt-get update && apt-get install
-y chromium.

Headless notes: the pages are loaded with ``?forceSVG=true`` (a TensorBoard URL flag)
because headless Chromium leaves TensorBoard's WebGL charts blank in a screenshot;
drawn as SVG they show, and their lines are in the DOM. The Scalars page keeps its
charts in shadow DOM, which --dump-dom does not print, so the DOM is read from the
Time Series page.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.logger_dashboard import CURVE_RUNS, CURVES, curve_of  # noqa: E402

TAGS = (
    "train/loss",
    "val/loss",
    "train/accuracy",
    "val/accuracy",
    "lr",
    "train/loss_step",
    "test/accuracy",
)
PAIR = ("train/loss", "val/loss")  # must share a card and a CUSTOM SCALARS chart
HPARAMS_SHOWN = 5  # columns TensorBoard's HPARAMS table shows before any checkbox
# Counters the step axis already carries: a Time Series page must not lead with them
# (it opens its first two groups, in alphabetical order).
COUNTERS = ("epoch", "global_step", "step")
# Pictures with words on them, trained into OUT/pictures: run -> train.py overrides, and
# the image tag each must log with a description that names what the words explain.
PICTURE_RUNS = {
    "transformer": ["model=transformer", "trainer.max_epochs=5"],
    "vae": ["experiment=vae_digits", "model.latent_size=2", "trainer.max_epochs=40"],
}
PICTURES = {  # run -> (image tag, a word its description must hold)
    "transformer": ("attention/test_sample_0", "token"),
    "vae": ("latent_space", "legend"),
}
TAG_GRACE_S = 5.0
INSTALL = "apt-get update && apt-get install -y chromium"


class CheckError(Exception):
    """A check that cannot go on: its message is the one line printed."""


# --- processes -----------------------------------------------------------------------


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """End a process started in its own session, and its children, while it runs."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(text: str, n: int = 8) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-n:])


def run_train(args: list[str], what: str) -> None:
    """``python train.py <args>`` with the progress bar off; a failure is a CheckError."""
    print(f"training {what} ...", flush=True)
    cmd = [sys.executable, "train.py", *args, "trainer.progress_bar=false"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise CheckError(
            f"train.py {' '.join(args)} exited with {done.returncode}:\n"
            f"{tail(done.stdout + done.stderr)}"
        )


def train(sweep_dir: Path) -> None:
    run_train(
        ["-m", "optim=adam,sgd", "trainer.max_epochs=3", f"hydra.sweep.dir={sweep_dir}"],
        f"the default model for 3 epochs, adam and sgd, into {sweep_dir}",
    )


def train_pictures(logdir: Path) -> None:
    """The two runs whose pictures need words: a Transformer (attention maps with their
    tokens) and a VAE with a 2-D code (the latent space with its legend of classes)."""
    for name, args in PICTURE_RUNS.items():
        run_train([*args, f"hydra.run.dir={logdir / name}"], f"{name} into {logdir / name}")


def start_tensorboard(logdir: Path, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    cmd += ["--host", "127.0.0.1", "--port", "0"]
    with open(log_path, "w") as log:
        # Its own session: Ctrl-C reaches this script, whose finally stops the group
        # (TensorBoard and its data server).
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


# --- TensorBoard's data API ----------------------------------------------------------


def get(base: str, path: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"} if data else {}
    req = urllib.request.Request(base + path, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def event_runs(logdir: Path) -> set[str]:
    """The run names TensorBoard gives the training runs' folders ('.' = logdir): those
    holding event files, less the runs' curve sub-runs (``<run>/train``,
    ``<run>/val``: :func:`where`). A sweep folder's own file (its HPARAMS table) is no
    training run: '.' counts only when no other run is found."""
    found = set()
    for f in logdir.rglob("events.out.tfevents.*"):
        rel = f.parent.relative_to(logdir).as_posix()
        found.add(rel)
    found -= {sub_run(run, split) for run in found for split in CURVE_RUNS}
    return found - {"."} if len(found) > 1 else found


def sub_run(run: str, split: str | None) -> str:
    """TensorBoard's name for ``run``'s sub-run ``split`` (``run`` itself for None)."""
    if split is None:
        return run
    return split if run == "." else f"{run}/{split}"


def where(tags: tuple[str, ...], runs: set[str]) -> dict[str, dict[str, str]]:
    """{TensorBoard run: {its tag: the trainer's name}} for ``tags`` named as the trainer
    logs them: a per-epoch curve in the run's sub-run, under ``Learning curves/``."""
    found: dict[str, dict[str, str]] = {}
    for run in sorted(runs):
        for tag in tags:
            split, shown = curve_of(tag) or (None, tag)
            found.setdefault(sub_run(run, split), {})[shown] = tag
    return found


def wait_ready(
    tb: subprocess.Popen, log_path: Path, runs: set[str], tags: tuple[str, ...], timeout: float
) -> str:
    """Wait for the URL TensorBoard prints, then until it lists the runs and their tags.

    Runs are the folders that hold event files; once all are listed, missing tags are
    waited for TAG_GRACE_S more seconds at most, then left for the checks to name.
    """
    deadline = time.monotonic() + timeout
    base = listed = None
    while True:
        if tb.poll() is not None:
            log = log_path.read_text()
            raise CheckError(f"TensorBoard exited with {tb.returncode}:\n{tail(log)}")
        if base is None:
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/", log_path.read_text())
            base = found and found.group(1)
        if base is not None:
            try:
                listed = set(get(base, "/data/runs"))
                listed_tags = get(base, "/data/plugin/scalars/tags")
                wanted = where(tags, runs)
                if set(wanted) <= listed:
                    if all(set(w) <= set(listed_tags.get(r, {})) for r, w in wanted.items()):
                        return base
                    # Every run is listed: its tags get a few more seconds to load.
                    deadline = min(deadline, time.monotonic() + TAG_GRACE_S)
            except (OSError, ValueError):  # not answering yet
                listed = None
        if time.monotonic() > deadline:
            if base is None or listed is None:
                raise CheckError(
                    f"TensorBoard did not answer on 127.0.0.1 within {timeout:.0f}s "
                    f"(its log: {log_path})"
                )
            return base  # it answers but lacks runs or tags: the checks name them
        time.sleep(0.25)


def check_layout(base: str, by_run: dict, runs: list[str]) -> tuple[list[str], list[str]]:
    """Whether a CUSTOM SCALARS chart draws both tags of PAIR (where the logger writes
    them: :func:`where`) for every run that has them."""
    layout = get(base, "/data/plugin/custom_scalars/layout")
    charts = [
        (f"{c.get('title', '')} > {ch.get('title', '')}", ch.get("multiline", {}).get("tag", []))
        for c in (layout or {}).get("category", [])
        for ch in c.get("chart", [])
    ]
    report, fails = [], []
    for run in runs:
        pair = [(r, shown) for r, tags in where(PAIR, {run}).items() for shown in tags]
        if not all(shown in by_run.get(r, {}) for r, shown in pair):
            continue  # the scalar checks name the missing tags
        both = [
            title
            for title, patterns in charts
            if all(any(re.search(p, shown) for p in patterns) for _, shown in pair)
        ]
        if both:
            report.append(f"one chart   {run}: {' and '.join(PAIR)} in CUSTOM SCALARS {both[0]}")
        else:
            fails.append(f"run {run}: no CUSTOM SCALARS chart draws {' and '.join(PAIR)} together")
    return report, fails


def check_hparams(base: str, runs: set[str], swept: list[str], need: bool) -> tuple[list, list]:
    """The HPARAMS table: its columns, and the swept keys among those shown by default."""
    report, fails = [], []
    if not get(base, "/data/plugins_listing").get("hparams", {}).get("enabled"):
        if need:
            fails.append("no hparams data (train.py writes HPARAMS at the end of a run)")
        else:
            report.append("hparams     (none)")
        return report, fails
    exp = get(base, "/data/plugin/hparams/experiment", {"experimentName": ""})
    hp = [h["name"] for h in exp.get("hparamInfos", [])]
    metrics = [m["name"]["tag"] for m in exp.get("metricInfos", [])]
    report.append(
        f"hparams     {len(hp)} hyperparameters; metrics {', '.join(metrics) or '(none)'}"
    )
    report.append(f"hparams     shown first: {', '.join(hp[:HPARAMS_SHOWN])}")
    if not hp:
        fails.append("the hparams plugin is active but lists no hyperparameters")
    elif len(runs) > 1:
        hidden = [k for k in swept if k not in hp[:HPARAMS_SHOWN]]
        if hidden:
            fails.append(f"HPARAMS hides the swept {', '.join(hidden)} behind its checkboxes")
        infos = exp.get("hparamInfos", [])[:HPARAMS_SHOWN]
        if constant := [h["name"] for h in infos if not h.get("differs")]:
            fails.append(f"HPARAMS shows {', '.join(constant)}, the same in every run")
    if not any(m.startswith("val") for m in metrics):
        fails.append("HPARAMS lists no validation metric beside the test ones")
    return report, fails


def check_api(
    base: str, runs: set[str], tags: tuple[str, ...], need_hparams: bool, swept: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """(report lines, failures, run names listed) for the data the dashboard reads."""
    report, fails = [], []
    listed = list(get(base, "/data/runs"))
    report.append(f"runs        {', '.join(listed) or '(none)'}")
    if not listed:
        fails.append("/data/runs lists no runs")
    elif runs - set(listed):
        fails.append(f"/data/runs does not list {', '.join(sorted(runs - set(listed)))}")
    plugins = get(base, "/data/plugins_listing")
    for name in ("scalars", "timeseries"):
        if not plugins.get(name, {}).get("enabled"):
            fails.append(f"the {name} plugin is not active (no scalar data)")
    by_run = get(base, "/data/plugin/scalars/tags")
    for run, wanted in where(tags, {r for r in listed if r in runs}).items():
        have = sorted(by_run.get(run, {}))  # not a sweep folder's HPARAMS file
        report.append(f"tags        {run}: {', '.join(have) or '(none)'}")
        missing = [t for t in wanted if t not in have]
        if missing:
            fails.append(f"run {run} has no scalar tag {', '.join(missing)}")
        bare = [t for t in wanted if t in have and not by_run[run][t].get("description")]
        if bare:
            fails.append(
                f"run {run}: no description on {', '.join(bare)} (the card shows none; "
                "TensorBoard's default reader keeps it only with the summary's data_class)"
            )
        counts = []
        for tag in (t for t in wanted if t in have):
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            n = len(get(base, f"/data/plugin/scalars/scalars?{query}"))
            counts.append(f"{tag} {n}")
            if n == 0:
                fails.append(f"run {run}, tag {tag}: no points")
        if counts:
            report.append(f"points      {run}: {', '.join(counts)}")
    for lines, failed in (
        check_layout(base, by_run, [r for r in listed if r in runs]),
        check_hparams(base, runs, swept, need_hparams),
    ):
        report += lines
        fails += failed
    return report, fails, listed


# --- the pages in headless Chromium --------------------------------------------------


def chromium(exe: str, url: str, size: str, budget_ms: int, *extra: str) -> str:
    """Run headless Chromium on url; return its stdout (the DOM with --dump-dom)."""
    with tempfile.TemporaryDirectory(
        prefix="dashboard_check_profile_", ignore_cleanup_errors=True
    ) as profile:
        cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        cmd += [f"--user-data-dir={profile}", f"--window-size={size}"]
        cmd += [f"--virtual-time-budget={budget_ms}", *extra, url]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            encoding="utf-8", errors="replace", start_new_session=True,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise CheckError(f"chromium did not finish loading {url} within 60s") from None
        finally:
            stop(proc, grace=2.0)
    if proc.returncode != 0:
        raise CheckError(f"chromium exited with {proc.returncode} on {url}:\n{tail(err)}")
    return out


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def read_timeseries(dom: str) -> dict:
    """Runs listed, scalar cards (tag, number of series drawn) and tag groups in the Time
    Series DOM."""
    table = re.search(r"<runs-data-table.*?</runs-data-table>", dom, re.S)
    cells = re.findall(
        r"<tb-data-table-content-cell[^>]*table-column-run[^>]*>(.*?)</tb-data-table-content-cell>",
        table.group(0) if table else "",
        re.S,
    )
    cards = []
    for chunk in dom.split("<scalar-card-component")[1:]:
        chunk = chunk.split("</scalar-card-component>")[0]
        title = re.search(r'<tb-truncated-path[^>]*\btitle="([^"]*)"', chunk)
        # A series is an SVG path (a line) or circle (one point) with a stroke style, in
        # its run's colour, drawn twice (faded raw, and smoothed); icons carry no style.
        strokes = r'<(?:path|circle)\b[^>]*\bstyle="[^"]*stroke: *([^;"]+)'
        series = len(set(re.findall(strokes, chunk)))
        cards.append((html.unescape(title.group(1)) if title else "?", series))
    groups = []
    for chunk in re.findall(
        r"<metrics-card-group-toolbar-component.*?</metrics-card-group-toolbar-component>",
        dom,
        re.S,
    ):
        name = re.search(r'class="group-title"[^>]*title="([^"]*)"', chunk)
        count = re.search(r"(\d+) cards?", text_of(chunk))
        if name:
            groups.append((html.unescape(name.group(1)), int(count.group(1)) if count else None))
    return {"runs": [text_of(c) for c in cells], "cards": cards, "groups": groups}


def check_groups(groups: list[str]) -> tuple[list[str], list[str]]:
    """The Time Series page's tag groups, in page order: it opens the first two, so the
    learning curves must come first, and no counter gets a group of its own."""
    report = [f"page opens  {', '.join(groups[:2]) or '(nothing)'} (its first two groups)"]
    fails = []
    if groups and groups[0] in COUNTERS:
        fails.append(f"the Time Series page leads with the counter {groups[0]}")
    elif counters := [g for g in groups if g in COUNTERS]:
        fails.append(f"the Time Series page has a group for the counter {', '.join(counters)}")
    if groups and groups[0] != CURVES:
        fails.append(f"the Time Series page opens {groups[0]} first, not {CURVES}")
    return report, fails


def check_pair_card(cards: list[tuple[str, int]], runs: int) -> tuple[list[str], list[str]]:
    """The card of PAIR's curves (one tag in the train and val sub-runs) draws a line for
    each: two per run."""
    (tag,) = {curve_of(t)[1] for t in PAIR}
    series = [n for title, n in cards if title == tag]
    if not series:
        return [], [f"the Time Series page has no card {tag} ({' and '.join(PAIR)})"]
    report = [f"one card    {tag}: {series[0]} lines for {runs} runs (train and val each)"]
    if series[0] < 2 * runs:
        return report, [f"the card {tag} draws {series[0]} lines, not train and val of {runs} runs"]
    return report, []


def save_image(base: str, run: str, tag: str, path: Path) -> int:
    """Save the last image of ``run``/``tag`` as TensorBoard serves it; its size in bytes."""
    query = urllib.parse.urlencode({"run": run, "tag": tag, "sample": 0})
    entries = get(base, f"/data/plugin/images/images?{query}")
    with urllib.request.urlopen(
        f"{base}/data/plugin/images/individualImage?{entries[-1]['query']}", timeout=10
    ) as resp:
        data = resp.read()
    path.write_bytes(data)
    return len(data)


def check_pictures(base: str, out: Path) -> tuple[list[str], list[str]]:
    """Each run of PICTURES logs its image with a description; the images are saved to
    OUT as TensorBoard serves them (to look at: the words are in the pixels)."""
    report, fails = [], []
    deadline = time.monotonic() + TAG_GRACE_S
    while True:  # the runs are listed; their images may take a moment more to load
        by_run = get(base, "/data/plugin/images/tags")
        found = all(tag in by_run.get(run, {}) for run, (tag, _) in PICTURES.items())
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    for run, (tag, word) in PICTURES.items():
        info = by_run.get(run, {}).get(tag)
        if info is None:
            fails.append(f"run {run} logged no image {tag}")
            continue
        described = text_of(info.get("description", ""))
        if word not in described:
            fails.append(f"run {run}, image {tag}: its description does not mention {word!r}")
        path = out / f"{run}_{tag.replace('/', '_')}.png"
        size = save_image(base, run, tag, path)
        report.append(f"picture     {run} {tag}: {path} ({size:,} bytes); {described}")
    return report, fails


def check_pages(
    exe: str,
    base: str,
    out: Path,
    listed: list[str],
    runs: set[str],
    tags: tuple[str, ...],
    budget_ms: int,
) -> tuple[list[str], list[str]]:
    report, fails = [], []
    shot = out / "timeseries.png"
    dom = chromium(
        exe,
        f"{base}/?forceSVG=true#timeseries",
        "1400,1400",
        budget_ms,
        f"--screenshot={shot}",
        "--dump-dom",
    )
    (out / "timeseries.dom.html").write_text(dom, encoding="utf-8")
    page = read_timeseries(dom)
    drawn = [tag for tag, n in page["cards"] if n]
    groups = ", ".join(f"{g}" + (f" ({n})" if n else "") for g, n in page["groups"])
    report.append(f"page runs   {', '.join(page['runs']) or '(none)'}")
    report.append(f"page charts {', '.join(drawn) or '(none)'} drawn of {len(page['cards'])}")
    report.append(f"page groups {groups or '(none)'}")
    if not page["runs"]:
        fails.append("the Time Series page lists no runs")
    elif unlisted := sorted(set(listed) - set(page["runs"])):
        fails.append(f"the Time Series page does not list {', '.join(unlisted)}")
    if not drawn:
        fails.append("the Time Series page shows no scalar chart with data")
    for lines, failed in (
        check_groups([g for g, _ in page["groups"]]),
        check_pair_card(page["cards"], len([r for r in listed if r in runs])),
    ):
        report += lines
        fails += failed
    shown = {g for g, _ in page["groups"]} | {t for t, _ in page["cards"]}
    lost = sorted({(curve_of(t) or (None, t))[1].split("/")[0] for t in tags} - shown)
    if page["runs"] and lost:
        fails.append(f"the Time Series page has no group or card for {', '.join(lost)}")
    # The Scalars page, filtered the way a user would type it, to show the curves.
    words = {t.rsplit("/", 1)[-1] for t in tags if "/" in t}
    words = sorted(w for w in words if not any(u != w and u in w for u in words)) or ["."]
    query = urllib.parse.quote("|".join(words), safe="")
    chromium(
        exe,
        f"{base}/#scalars&tagFilter={query}",
        "1400,1300",
        budget_ms,
        f"--screenshot={out / 'scalars.png'}",
    )
    report.append(f"screenshot  {shot}")
    report.append(f"screenshot  {out / 'scalars.png'}  (filter: {'|'.join(words)})")
    # HPARAMS is wider: its metric columns come after the hyperparameters shown.
    for page, size in (("custom_scalars", "1400,1300"), ("hparams", "2100,900")):
        shot = out / f"{page}.png"
        chromium(exe, f"{base}/?forceSVG=true#{page}", size, budget_ms, f"--screenshot={shot}")
        report.append(f"screenshot  {shot}")
    return report, fails


def picture_pages(exe: str, base: str, out: Path, budget_ms: int) -> list[str]:
    """A screenshot of the IMAGES page filtered to the checked pictures (its cards load
    at once; Time Series loads image cards lazily, and headless Chromium may catch one
    still blank)."""
    shot = out / "images.png"
    words = "|".join(f"^{tag}$" for tag, _ in PICTURES.values())
    query = urllib.parse.quote(words, safe="")
    url = f"{base}/?forceSVG=true#images&tagFilter={query}"
    chromium(exe, url, "1400,1100", budget_ms, f"--screenshot={shot}")
    return [f"screenshot  {shot}  (IMAGES, filter: {words})"]


# --- main ----------------------------------------------------------------------------


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="check this logdir instead of a new run")
    parser.add_argument("--out", type=Path, help="where to write (default: a new temp dir)")
    parser.add_argument("--no-browser", action="store_true", help="check the data API only")
    parser.add_argument(
        "--no-pictures",
        action="store_true",
        help="skip the transformer and VAE runs whose pictures are checked (always "
        "skipped with --logdir)",
    )
    parser.add_argument(
        "--tags", default=",".join(TAGS), help="scalar tags every run must have (comma list)"
    )
    parser.add_argument(
        "--swept",
        help="keys the runs differ in, which HPARAMS must show by default (comma list; "
        "default: optim.name for the sweep trained here, none with --logdir)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for TB")
    parser.add_argument(
        "--budget-ms", type=int, default=15000, help="Chromium's virtual time per page"
    )
    args = parser.parse_args()
    tags = tuple(t for t in args.tags.split(",") if t)

    exe = None
    if not args.no_browser:
        exe = shutil.which("chromium")
        if exe is None:
            print(
                f"dashboard-check: chromium not found; install it ({INSTALL}) or pass --no-browser",
                file=sys.stderr,
            )
            return 2
    if args.logdir is not None and not args.logdir.is_dir():
        print(f"dashboard-check: FAIL: no such directory {args.logdir}", file=sys.stderr)
        return 1
    out = args.out or Path(tempfile.mkdtemp(prefix="dashboard_check_"))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"output: {out}", flush=True)

    start = time.monotonic()
    timings = []
    report: list[str] = []
    fails: list[str] = []
    tb = None
    try:
        if args.logdir is None:
            logdir = out / "logs"
            train(logdir)
            timings.append(f"train {time.monotonic() - start:.1f}s")
        else:
            logdir = args.logdir.resolve()
        runs = event_runs(logdir)
        if not runs:
            fails.append(f"no TensorBoard event files under {logdir}")
        t0 = time.monotonic()
        tb = start_tensorboard(logdir, out / "tensorboard.log")
        base = wait_ready(tb, out / "tensorboard.log", runs, tags, args.timeout)
        timings.append(f"tensorboard ready {time.monotonic() - t0:.1f}s")
        print(f"TensorBoard at {base}/ on {logdir}", flush=True)
        swept = (args.swept or ("optim.name" if args.logdir is None else "")).split(",")
        swept = [k for k in swept if k]
        lines, api_fails, listed = check_api(base, runs, tags, args.logdir is None, swept)
        report += lines
        fails += api_fails
        if exe is not None:
            t0 = time.monotonic()
            lines, page_fails = check_pages(exe, base, out, listed, runs, tags, args.budget_ms)
            report += lines
            fails += page_fails
            timings.append(f"browser {time.monotonic() - t0:.1f}s")
        if args.logdir is None and not args.no_pictures:
            stop(tb)
            t0 = time.monotonic()
            pictures = out / "pictures"
            train_pictures(pictures)
            timings.append(f"pictures trained {time.monotonic() - t0:.1f}s")
            tb = start_tensorboard(pictures, out / "tensorboard_pictures.log")
            base = wait_ready(tb, out / "tensorboard_pictures.log", set(PICTURES), (), args.timeout)
            lines, picture_fails = check_pictures(base, out)
            report += lines
            fails += picture_fails
            if exe is not None:
                report += picture_pages(exe, base, out, args.budget_ms)
    except CheckError as e:
        fails.append(str(e))
    except (OSError, ValueError) as e:  # an HTTP error or a reply that is not JSON
        fails.append(f"TensorBoard's data API: {e}")
    except KeyboardInterrupt:
        print("dashboard-check: interrupted", file=sys.stderr)
        return 130
    finally:
        if tb is not None:
            stop(tb)
    timings.append(f"total {time.monotonic() - start:.1f}s")

    for line in report:
        print("  " + line)
    for line in fails:
        print("  FAIL        " + line)
    print("  time        " + ", ".join(timings))
    if fails:
        more = f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""
        print(f"dashboard-check: FAIL: {fails[0].splitlines()[0]}{more}")
        return 1
    print("dashboard-check: PASS")
    return 0


if __name__ == "__main__":
    # SIGTERM (make or a CI runner stopping us) unwinds like Ctrl-C, so the finally
    # that stops TensorBoard runs.
    signal.signal(signal.SIGTERM, interrupt)
    sys.exit(main())
