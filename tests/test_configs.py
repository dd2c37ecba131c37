"""Configs and registries mirror each other, and every config option trains.

A component is only half-added if it has a registry entry but no YAML (or the
reverse); these tests catch that for every group.
"""

from __future__ import annotations

import pytest
from conftest import (
    CONFIG_DIR,
    FAST,
    FEW_EPISODES,
    GROUPS,
    TWO_BATCHES,
    compose_cfg,
    episodic,
    train_run,
)
from omegaconf import OmegaConf
from vision_fixtures import offline_overrides

import augment
import losses
import optimizers
import zoo
from engine.cli import add_pairings, check_keys, expand_home, quote_values
from engine.data import list_datasets
from engine.logger import list_loggers
from engine.run import train as run_train
from engine.tasks import list_tasks
from engine.transfer import list_strategies

REGISTRIES = {
    "data": list_datasets,
    "model": zoo.list_models,
    "task": list_tasks,
    "loss": losses.list_losses,
    "optim": optimizers.list_optimizers,
    "optim_d": optimizers.list_optimizers,  # the same options, for a GAN's discriminator
    "sched": optimizers.list_schedulers,
    "init": zoo.list_initializers,
    "regularization": zoo.list_regularizers,
    "logger": list_loggers,
    "transfer": list_strategies,
    "augment": lambda: ["none", *augment.list_augments()],
}
# Groups that are recipes or settings rather than registered components.
UNREGISTERED = {"trainer", "experiment", "hparams_search", "hydra"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


# Options that need data.labels_per_class (engine/tasks/semi_supervised.py).
SEMI_SUPERVISED = {("task", "pseudo_label"), ("task", "mean_teacher"), ("task", "fixmatch")}
ALL_OPTIONS = [(g, o) for g in REGISTRIES for o in options(g)]


def test_every_group_is_accounted_for():
    assert set(REGISTRIES) | UNREGISTERED == GROUPS


@pytest.mark.parametrize("group", sorted(REGISTRIES))
def test_config_options_equal_registry_names(group):
    assert options(group) == sorted(REGISTRIES[group]())


def augment_data(group: str, option: str) -> list[str]:
    """Data an augment option applies to: the digits' images, or the sine's sequences."""
    if group != "augment" or option == "none" or "image" in augment.AUGMENTS.meta(option)["kinds"]:
        return []
    return ["data=sine", "data.params.n_samples=200"]


# An option of these groups meets batches unlike the first ones (a task's or a dataset's
# last, smaller batch; a GAN's k-th discriminator step; a schedule's warm-up), so it
# trains a whole epoch; the others act alike on every step and train on two batches.
WHOLE_EPOCH = {"task", "loss", "data", "augment", "sched"}


@pytest.mark.parametrize(("group", "option"), ALL_OPTIONS, ids=[f"{g}={o}" for g, o in ALL_OPTIONS])
def test_every_option_composes_and_trains_one_step(group, option, tmp_path, monkeypatch):
    quiet = [] if group == "logger" else ["logger=none"]
    # Datasets that need files train on small fixtures in their real formats.
    files = offline_overrides(option, tmp_path / "data", monkeypatch) if group == "data" else []
    # As train.py does: an option named alone brings what its YAML pairs_with.
    overrides = add_pairings([*quiet, f"{group}={option}", *files, *augment_data(group, option)])
    if (group, option) == ("model", "probe"):  # a head on the encoder of a trained run
        encoder = tmp_path / "encoder"
        train_run(compose_cfg(*FAST, "logger=none", "model=autoencoder", "task=reconstruction",
                              "loss=mse", "trainer.max_epochs=1"), encoder)  # fmt: skip
        overrides.append(f"model.run={encoder}")
    if (group, option) in SEMI_SUPERVISED:  # a few labels, the rest of train unlabelled
        overrides.append("data.labels_per_class=5")
    if group == "transfer":  # starts from a trained run (transfer=none: from scratch)
        source = tmp_path / "source"
        train_run(compose_cfg(*FAST, "logger=none", "trainer.max_epochs=1"), source)
        overrides += [f"transfer.from={source}", "trainer.max_epochs=2"]
        overrides += ["transfer.unfreeze_at_epoch=1"] * (option == "gradual")
    epoch = ["trainer.max_epochs=1"] if group in WHOLE_EPOCH else TWO_BATCHES
    cfg = compose_cfg(*FAST, *epoch, *overrides)
    if episodic(cfg):
        cfg = compose_cfg(*FAST, *epoch, *overrides, *FEW_EPISODES)
    assert cfg[group].name == option  # each option carries its registry entry's name
    metrics = run_train(cfg, tmp_path)
    assert metrics["epochs"] == cfg.trainer.max_epochs and metrics["steps"] >= 1
    assert (tmp_path / "metrics.json").is_file()
    assert (tmp_path / "checkpoints" / "last.pt").is_file()


def test_defaults_compose_to_mlp_on_digits():
    cfg = compose_cfg()
    assert (cfg.model.name, cfg.data.name, cfg.task.name, cfg.loss.name) == (
        "mlp",
        "digits",
        "classification",
        "sparse_cross_entropy",
    )
    assert (cfg.optim.name, cfg.sched.name, cfg.init.name, cfg.regularization.name) == (
        "adam",
        "constant",
        "default",
        "none",
    )


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = compose_cfg(f"experiment={experiment}")
    for group in REGISTRIES:
        if group == "optim_d" and group not in cfg:  # null unless a GAN's recipe sets it
            continue
        assert cfg[group].name in REGISTRIES[group]()


EXPERIMENTS = options("experiment")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_builds(name, tmp_path):
    """Each pinned recipe composes and builds its data, model and optimizer (training
    them all is `make results`; tests/test_accuracy.py trains the pinned ones)."""
    from engine.run import make_trainer

    cfg = compose_cfg(f"experiment={name}", "logger=none", "trainer.progress_bar=false")
    trainer, built = make_trainer(cfg, tmp_path)
    assert trainer.cfg.max_epochs >= 1
    assert sum(p.numel() for p in built.model.parameters()) > 0


@pytest.mark.parametrize("option", options("trainer"))
def test_every_trainer_option_trains_one_step(option, tmp_path):
    cfg = compose_cfg(*FAST, "trainer.max_epochs=1", "logger=none", f"trainer={option}")
    assert run_train(cfg, tmp_path)["steps"] >= 1  # trainer=ddp without torchrun: one process


@pytest.mark.parametrize("search", options("hparams_search"))
def test_every_search_composes_with_a_validation_objective(search):
    cfg = compose_cfg(f"hparams_search={search}")
    assert cfg.objective.startswith("val/")  # never tuned on the test split


def test_pairings_stay_with_the_overrides_ahead_of_flags(capsys):
    args = add_pairings(["data=copy", "--cfg", "job"])
    assert args == ["data=copy", "model=lstm", "--cfg", "job"]  # not after `job`
    assert add_pairings(["-m", "loss=huber"])[:2] == ["-m", "loss=huber"]


YAMLS = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if p.parent != CONFIG_DIR)


@pytest.mark.parametrize("path", YAMLS, ids=[str(p.relative_to(CONFIG_DIR)) for p in YAMLS])
def test_package_headers_follow_one_rule(path):
    """`# @package`: an experiment is _global_ (it sets every group). Any other option
    has no header, so Hydra puts its keys under its group, unless it also sets another
    group's keys (a recurrent model's trainer.grad_clip, a dataset's task): then it is
    _global_ and its own keys sit under its group's name. A header-less file with a
    `trainer:` key would silently set model.trainer."""
    first = path.read_text().splitlines()[0]
    header = first.removeprefix("# @package").strip() if first.startswith("# @package") else None
    group = path.relative_to(CONFIG_DIR).parts[0]
    keys = set(OmegaConf.load(path)) - {"defaults"}
    if group in ("experiment", "hparams_search"):  # recipes: they set several groups
        assert header == "_global_"
    elif header is None:
        assert not keys & GROUPS, f"sets {sorted(keys & GROUPS)}: needs # @package _global_"
    else:
        assert header == "_global_", f"header '{header}': none, or _global_"
        assert group in keys and keys <= GROUPS, f"_global_ with keys {sorted(keys)}"


@pytest.mark.parametrize(("model", "old"), [("cnn", "channels"), ("autoencoder", "hidden_sizes")])
def test_a_renamed_model_key_names_the_new_one(model, old, capsys):
    with pytest.raises(SystemExit):
        check_keys([f"model={model}", f"model.{old}=[4]"])
    error = capsys.readouterr().err.strip()
    assert error == f"error: unknown key 'model.{old}'; it is now called model.widths"


def test_paths_as_a_shell_user_types_them_are_quoted_for_hydra(capsys):
    """``data.root=~/data`` stops Hydra's lexer (LexerNoViableAltException); train.py
    quotes such a value itself, and leaves readable ones alone."""
    args = ["data=mnist", "data.root=~/data", "data.params.size=32", "-m"]
    assert quote_values(args) == ["data=mnist", "data.root='~/data'", *args[2:]]
    cfg = compose_cfg("data=mnist", *quote_values(["data.root=~/data"]))
    assert cfg.data.params.root == "~/data"
    with pytest.raises(SystemExit) as e:
        quote_values(["data.root=it's \"odd"])
    assert e.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: cannot read the override") and "\n" not in line


def test_home_in_run_paths_is_expanded(monkeypatch):
    """``run_dir=~/x`` reaches Python verbatim under sh, in quotes or via a script."""
    monkeypatch.setenv("HOME", "/home/me")
    args = ["run_dir=~/runs/a", "run_dirs=[~/a,'~/b']", "out_dir=x~y", "data.root=~/d"]
    assert expand_home(args, ("run_dir", "run_dirs", "out_dir")) == [
        "run_dir=/home/me/runs/a",
        "run_dirs=[/home/me/a,'/home/me/b']",
        "out_dir=x~y",  # not a path's start
        "data.root=~/d",  # not a key named: left to the dataset (expanduser)
    ]


@pytest.mark.parametrize("script", ["evaluate.py", "sample.py"])
def test_evaluate_and_sample_read_a_run_dir_under_home(script, tmp_path, scripts):
    proc = scripts.run(script, "run_dir=~/no_run", env={"HOME": str(tmp_path)}, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip() == f"error: {tmp_path}/no_run is not a run directory " + (
        "(no .hydra/config.yaml in it)"
    )
