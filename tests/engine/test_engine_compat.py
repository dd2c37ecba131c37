"""A model asked to read data it cannot read fails before training, saying what fits."""

from __future__ import annotations

import pytest
from conftest import FAST, compose_cfg
from torch import nn

from engine.data import datasets_of_kind
from engine.errors import ConfigError
from engine.run import train
from zoo.factory import MODELS, register_model


@pytest.fixture
def vector_only_model():
    """A registered model that reads flat vectors only (as a GNN reads only graphs)."""

    def build(spec, out_features=None):
        return nn.Linear(spec.input_shape[0], out_features or spec.num_outputs)

    register_model("vector_only", input_kinds=("vector",))(build)  # as a family file does
    yield "vector_only"
    del MODELS._entries["vector_only"]


def test_model_on_data_it_cannot_read_names_the_data_that_fits(vector_only_model, tmp_path):
    cfg = compose_cfg(*FAST, "logger=none")  # digits: images
    cfg.model = {"name": vector_only_model}
    with pytest.raises(ConfigError) as info:
        train(cfg, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "model 'vector_only' reads vector data, not image" in message
    fitting = datasets_of_kind("vector")
    assert "digits" not in fitting and "iris" in fitting
    assert message.endswith(f"data that fits: {', '.join(fitting)}")
    assert not (tmp_path / "checkpoints").exists()  # nothing trained


def test_the_same_model_trains_on_data_that_fits(vector_only_model, tmp_path):
    cfg = compose_cfg(*FAST, "logger=none", "data=iris")
    cfg.model = {"name": vector_only_model}
    assert train(cfg, tmp_path)["epochs"] == 3
