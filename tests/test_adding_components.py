"""The README's "Adding a component" is the whole recipe: one file and one YAML each.

The project is copied to a temporary folder; every code block of that README section
whose first line names a path (``# zoo/tiny.py``) is written there as it stands; then,
in the copy, the registries list the seven new components, configs and registries
still mirror each other, and one run trains with all of them at once. A hidden step
(an import list to extend, a table of task names to edit) fails this test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = (
    "zoo",
    "losses",
    "optimizers",
    "augment",
    "engine",
    "configs",
    "tests",
    "train.py",
    "pyproject.toml",
)
NEW = {
    "model": "tiny",
    "loss": "focal",
    "optim": "signsgd",
    "sched": "inverse_sqrt",
    "init": "lecun_normal",
    "data": "xor",
    "task": "calibration",
}


def readme_files() -> dict[str, str]:
    """``path -> text`` of the README section's code blocks that start with ``# <path>``."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Adding a component", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S):
        first, _, body = block.partition("\n")
        path = first.removeprefix("# ").strip()
        if re.fullmatch(r"[\w/]+\.(py|yaml)", path):
            files[path] = body
    return files


def test_the_readme_shows_one_file_and_one_yaml_for_each_kind():
    files = readme_files()
    folders = {"model": "zoo", "loss": "losses", "optim": "optimizers", "sched": "optimizers",
               "init": "zoo", "data": "engine/data", "task": "engine/tasks"}  # fmt: skip
    for group, name in NEW.items():
        assert f"configs/{group}/{name}.yaml" in files, group
        assert any(p.startswith(folders[group] + "/") and p.endswith(".py") for p in files), group
    assert "configs/optim_d/signsgd.yaml" in files


def test_new_components_register_and_train_from_their_files_alone(tmp_path):
    project = tmp_path / "project"
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "outputs", "multirun")
            shutil.copytree(source, project / name, ignore=ignore)
        else:
            shutil.copy2(source, project / name)
    for path, text in readme_files().items():
        assert not (project / path).exists(), f"{path} would overwrite a file of the project"
        (project / path).write_text(text)

    env = {"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    listed = subprocess.run(
        [sys.executable, "-c",
         "import json, zoo, losses, optimizers, engine.data, engine.tasks\n"
         "print(json.dumps({'model': zoo.list_models(), 'loss': losses.list_losses(),"
         " 'optim': optimizers.list_optimizers(), 'sched': optimizers.list_schedulers(),"
         " 'init': zoo.list_initializers(), 'data': engine.data.list_datasets(),"
         " 'task': engine.tasks.list_tasks()}))"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    registries = json.loads(listed.stdout)
    for group, name in NEW.items():
        assert name in registries[group], f"{group} '{name}' did not register"

    mirror = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         "tests/test_configs.py", "-k", "equal_registry_names or accounted_for"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert mirror.returncode == 0, mirror.stdout[-3000:] + mirror.stderr[-3000:]

    run_dir = tmp_path / "run"
    overrides = [f"{group}={name}" for group, name in NEW.items()]
    done = subprocess.run(
        [sys.executable, "train.py", *overrides, "trainer.max_epochs=3", "logger=none",
         "trainer.progress_bar=false", f"hydra.run.dir={run_dir}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert set(metrics["test"]) == {"loss", "accuracy", "ece"}  # the new task's metrics
    assert 0.0 <= metrics["test"]["ece"] <= 1.0
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    for group, name in NEW.items():
        assert f"name: {name}" in config, group
