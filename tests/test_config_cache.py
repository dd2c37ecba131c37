"""tests/config_cache.py: compositions that share loaded files equal Hydra's own."""

from __future__ import annotations

import pytest
from config_cache import share_loaded_configs
from hydra import compose, initialize_config_dir
from hydra._internal import config_loader_impl, config_repository
from omegaconf import OmegaConf

from engine.cli import compose_config

# Each experiment overrides keys of its model's file; the bare model composed after it
# must not see them (a cache that handed out the loaded nodes themselves would).
AFTER_EACH_OTHER = [
    ["experiment=adding_lstm"],
    ["model=lstm"],
    ["experiment=diabetes_mlp"],
    ["data=diabetes", "task=regression", "loss=mse"],
    ["experiment=gan_ring"],
    ["model=gan", "task=adversarial", "loss=gan", "data=ring"],
]


@pytest.fixture
def hydra_reads_every_file(monkeypatch):
    """Hydra's own per-composition cache, in place of the session's shared one."""
    monkeypatch.setattr(
        config_loader_impl, "CachingConfigRepository", config_repository.CachingConfigRepository
    )


def composed(overrides: list[str]) -> str:
    return OmegaConf.to_yaml(compose_config(overrides))


def test_shared_files_compose_what_hydra_composes(hydra_reads_every_file):
    plain = [composed(o) for o in AFTER_EACH_OTHER]
    with share_loaded_configs():
        for _ in range(2):  # the second round reads every file from the cache
            assert [composed(o) for o in AFTER_EACH_OTHER] == plain


def test_a_changed_file_is_read_again(tmp_path, hydra_reads_every_file):
    config = tmp_path / "train.yaml"
    with share_loaded_configs(), initialize_config_dir(str(tmp_path), version_base="1.3"):
        for value in (1, 22, 333):  # a new size: a new stamp even within one clock tick
            config.write_text(f"a: {value}\n")
            assert compose("train").a == value
