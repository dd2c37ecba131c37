"""zoo.capabilities: what each registered model declares it can do is what it implements,
Protocol by Protocol, and a wrong or unknown declaration fails where it is made."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_examples import make_model
from omegaconf import OmegaConf

import zoo
from zoo import DataSpec
from zoo.capabilities import CAPABILITIES, Decoder, Variational, members
from zoo.factory import MODELS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "model"

# Small data of each kind a model can read (the first kind it declares is used).
SPECS = {
    "vector": DataSpec("vector", (12,), "classification", 3),
    "image": DataSpec("image", (1, 8, 8), "classification", 3),
    "sequence": DataSpec("sequence", (6, 3), "classification", 3),
    "graph": DataSpec("graph", (5,), "classification", 3),
}


def built(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return make_model(name, SPECS[zoo.model_input_kinds(name)[0]])


@pytest.mark.parametrize("name", zoo.list_models())
def test_a_model_implements_a_protocol_exactly_when_it_declares_it(name: str) -> None:
    model = built(name)
    declared = zoo.model_capabilities(name)
    implemented = {c for c, protocol in CAPABILITIES.items() if isinstance(model, protocol)}
    assert implemented == declared, f"{name}: declared {sorted(declared)}"


def test_the_zoo_declares_what_the_engine_relies_on() -> None:
    assert zoo.models_with("discriminate") == ["gan"]
    assert zoo.models_with("decode") == ["autoencoder", "vae"]
    assert zoo.models_with("variational") == ["vae"]
    assert zoo.models_with("feature_extractor") == ["autoencoder", "vae"]
    assert zoo.models_with("forward_window") == ["gru", "lstm", "rnn"]
    assert zoo.models_with("attention_maps") == ["transformer"]
    assert zoo.models_with("embedding") == [
        "cnn", "fcn", "gru", "lstm", "mlp", "resnet1d", "rnn", "transformer"
    ]  # fmt: skip
    assert {"first_layer_filters", "feature_maps"} <= zoo.model_capabilities("cnn")
    tasks = {n: zoo.model_task(n) for n in zoo.list_models() if zoo.model_task(n)}
    assert tasks == {"autoencoder": "reconstruction", "gan": "adversarial", "vae": "reconstruction"}


@pytest.mark.parametrize("name", zoo.list_models())
def test_the_registered_task_is_the_one_the_model_yaml_brings(name: str) -> None:
    """``pairs_with.task`` (what train.py adds when only the model is named) agrees
    with ``register_model(task=...)`` (what the engine checks)."""
    node = OmegaConf.load(CONFIG_DIR / f"{name}.yaml")
    node = node.get("model", node)  # a `@package _global_` file nests it under model
    assert (node.get("pairs_with") or {}).get("task") == zoo.model_task(name)


def test_a_per_instance_option_is_read_through_the_protocol() -> None:
    """A declared capability may still depend on how the model was built: the Protocol
    names the attribute that says so."""
    spec = SPECS["sequence"]
    assert zoo.create_model("lstm", spec, impl="fused").packs_lengths
    assert not zoo.create_model("lstm", spec, impl="reference").packs_lengths
    assert zoo.create_model("gru", spec, bidirectional=True).bidirectional  # no windows


def test_protocol_members_include_those_of_the_protocols_they_extend() -> None:
    assert set(members(Decoder)) == {"latent_size", "encode", "decode", "features"}
    assert set(members(Decoder)) < set(members(Variational))
    assert "posterior" in members(Variational)


def test_an_unknown_capability_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match="model '_x' declares unknown capabilities fly; known: "):
        zoo.register_model("_x", capabilities=("fly",))
    assert "_x" not in MODELS
    with pytest.raises(ValueError, match="unknown capability 'fly'"):
        zoo.models_with("fly")


def test_a_model_lacking_what_it_declares_fails_when_built() -> None:
    try:

        @zoo.register_model("_test_liar", capabilities=("decode", "forward_window"))
        def build(spec: DataSpec, out_features: int | None = None) -> torch.nn.Module:
            return torch.nn.Linear(spec.in_features, 2)

        assert zoo.model_capabilities("_test_liar") == {"decode", "forward_window"}
        with pytest.raises(TypeError) as info:
            zoo.create_model("_test_liar", SPECS["vector"])
        assert str(info.value) == (
            "model '_test_liar' declares capability 'decode' (zoo.capabilities.Decoder) "
            "but has no decode, encode, features, latent_size"
        )
    finally:  # keep the shared registry clean for the parametrized tests
        MODELS._entries.pop("_test_liar", None)
