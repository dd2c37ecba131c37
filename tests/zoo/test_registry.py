from __future__ import annotations

import pytest

import zoo
from zoo import DataSpec, IncompatibleDataError, Registry, UnknownNameError


def test_duplicate_name_raises() -> None:
    registry = Registry("thing")
    registry.register("a")(object)
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        registry.register("a")(int)
    assert registry.get("a") is object


def test_duplicate_model_name_raises_and_keeps_original() -> None:
    original = zoo.factory.MODELS.get("mlp")
    with pytest.raises(ValueError, match="registered twice"):
        zoo.register_model("mlp")(lambda spec: None)
    assert zoo.factory.MODELS.get("mlp") is original


def test_unknown_name_lists_available() -> None:
    spec = DataSpec("vector", (4,), "classification", num_classes=2)
    with pytest.raises(UnknownNameError) as info:
        zoo.create_model("resnet9000", spec)
    message = str(info.value)
    assert "resnet9000" in message
    for name in zoo.list_models():
        assert name in message
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("name", ["mlp", "perceptron"])
def test_graph_data_is_incompatible(name: str) -> None:
    spec = DataSpec("graph", (7,), "classification", num_classes=3)
    with pytest.raises(IncompatibleDataError) as info:
        zoo.create_model(name, spec)
    assert str(info.value) == f"model '{name}' reads vector, image or sequence data, not graph"
    assert isinstance(info.value, ValueError)


def test_register_model_records_input_kinds() -> None:
    registry_size = len(zoo.factory.MODELS)
    try:

        @zoo.register_model("_test_vector_only", input_kinds=["vector"])
        def build(spec: DataSpec, out_features: int | None = None) -> object:
            return "built"

        assert zoo.model_input_kinds("_test_vector_only") == ("vector",)
        image = DataSpec("image", (1, 2, 2), "classification", num_classes=2)
        with pytest.raises(IncompatibleDataError, match="reads vector data, not image"):
            zoo.create_model("_test_vector_only", image)
    finally:  # keep the shared registry clean for the parametrized tests
        zoo.factory.MODELS._entries.pop("_test_vector_only", None)
    assert len(zoo.factory.MODELS) == registry_size
