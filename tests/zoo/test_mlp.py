from __future__ import annotations

import pytest
import torch
from conftest import compose_cfg
from torch import nn

import zoo
from engine.run import kwargs_of
from zoo import MLP, DataSpec


def layer_types(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules() if not isinstance(m, nn.Sequential | MLP)]


def test_default_structure() -> None:
    """The defaults are configs/model/mlp.yaml's: batch norm, ReLU, dropout 0.2."""
    model = MLP(20, 3, hidden_size=8, num_layers=2)
    block = [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert layer_types(model) == [*block, *block, nn.Linear]
    assert model.hidden[0][3].p == 0.2
    widths = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [(20, 8), (8, 8), (8, 3)]


def test_plain_structure() -> None:
    model = MLP(20, 3, hidden_size=8, num_layers=2, norm="none", dropout=0.0)
    assert layer_types(model) == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


def test_batch_norm_before_activation_and_dropout_after() -> None:
    model = MLP(20, 3, hidden_size=8, num_layers=1, activation="tanh", dropout=0.5, norm="batch")
    assert layer_types(model) == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]
    # BatchNorm's β replaces the bias of the Linear before it.
    assert model.hidden[0][0].bias is None
    assert model.hidden[0][3].p == 0.5


def test_zero_hidden_layers_is_a_linear_model() -> None:
    model = MLP(20, 3, num_layers=0, norm="batch", dropout=0.3)
    assert layer_types(model) == [nn.Linear]
    x = torch.randn(4, 20)
    torch.testing.assert_close(model(x), x @ model.head.weight.T + model.head.bias)


def test_flattens_images() -> None:
    model = MLP(2 * 3 * 4, 5, hidden_size=7, num_layers=1).eval()
    x = torch.randn(6, 2, 3, 4)
    torch.testing.assert_close(model(x), model(x.reshape(6, -1)))


def test_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    model = MLP(10, 2, hidden_size=64, dropout=0.5)
    x = torch.randn(8, 10)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_builder_passes_yaml_fields() -> None:
    spec = DataSpec("vector", (12,), "classification", num_classes=4)
    model = zoo.create_model(
        "mlp", spec, hidden_size=16, num_layers=3, activation="gelu", dropout=0.1, norm="batch"
    )
    assert sum(isinstance(m, nn.GELU) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 3
    assert model.head.out_features == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_layers": -1}, "num_layers must be >= 0, got -1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, "dropout"),
        ({"norm": "layer"}, "norm must be one of none, batch; got 'layer'"),
        ({"hidden_size": 0}, "hidden_size must be >= 1, got 0"),
    ],
)
def test_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MLP(10, 2, **kwargs)


def test_unknown_activation_lists_names() -> None:
    with pytest.raises(zoo.UnknownNameError, match="relu"):
        MLP(10, 2, activation="swish2")


def test_activation_kwargs_reach_every_layer() -> None:
    model = MLP(
        10,
        2,
        hidden_size=4,
        num_layers=2,
        activation="leaky_relu",
        activation_kwargs={"negative_slope": 0.2},
    )
    slopes = [m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.2, 0.2]
    with pytest.raises(TypeError, match="activation 'tanh' has no option negative_slope"):
        MLP(10, 2, activation="tanh", activation_kwargs={"negative_slope": 0.2})


def test_activation_options_from_the_command_line() -> None:
    """The override documented in configs/model/mlp.yaml builds what it says."""
    cfg = compose_cfg("model.activation=leaky_relu", "model.activation_kwargs={negative_slope:0.2}")
    spec = DataSpec("vector", (12,), "classification", num_classes=4)
    model = zoo.create_model("mlp", spec, **kwargs_of(cfg.model))
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    prelu = zoo.create_model("mlp", spec, **kwargs_of(compose_cfg("model.activation=prelu").model))
    assert sum(isinstance(m, nn.PReLU) for m in prelu.modules()) == 2
