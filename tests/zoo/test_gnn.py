"""Graph neural networks: GCNLayer against PyG's GCNConv, and every family's contract."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.datasets import KarateClub
from torch_geometric.nn import GCNConv

import zoo
from zoo import DataSpec
from zoo.gnn import GCNLayer, readout

FAMILIES = ("gcn", "sage", "gat", "gin")
NODE = DataSpec("graph", (5,), "classification", num_classes=3)
GRAPH = DataSpec("graph", (5,), "classification", num_classes=3, graph_level=True)


def random_graph(n: int = 12, e: int = 20, f: int = 5, isolated: int = 3, seed: int = 0) -> Data:
    """An undirected random graph whose last ``isolated`` nodes have no edges."""
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n - isolated, (2, e), generator=g)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)  # both directions
    return Data(x=torch.randn(n, f, generator=g), edge_index=edge_index)


def karate() -> Data:
    return KarateClub()[0]


# ----------------------------------------------------------------------------- GCNLayer


def test_gcn_layer_literal_path_graph():
    # Path 0 - 1 - 2 with W = I, b = 0: Â = A + I gives d̂ = (2, 3, 2), so
    # h0' = x0/2 + x1/√6, h1' = x0/√6 + x1/3 + x2/√6, h2' = x1/√6 + x2/2.
    layer = GCNLayer(1, 1)
    with torch.no_grad():
        layer.lin.weight.fill_(1.0)
    x = torch.tensor([[1.0], [10.0], [100.0]])
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    s6 = 6**0.5
    expected = torch.tensor([[1 / 2 + 10 / s6], [1 / s6 + 10 / 3 + 100 / s6], [10 / s6 + 100 / 2]])
    torch.testing.assert_close(layer(x, edge_index), expected)


def test_gcn_layer_isolated_node_keeps_its_own_features():
    layer = GCNLayer(2, 2)
    with torch.no_grad():
        layer.lin.weight.copy_(torch.eye(2))
        layer.bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    out = layer(x, torch.tensor([[0, 1], [1, 0]]))  # node 2 has no edges: d̂ = 1
    torch.testing.assert_close(out[2], x[2] + 0.5)


@pytest.mark.parametrize("graph", [random_graph, karate], ids=["random_isolated", "karate"])
def test_gcn_layer_matches_pyg_values_and_gradients(graph):
    torch.manual_seed(0)
    data = graph()
    f = data.x.shape[1]
    ours, pyg = GCNLayer(f, 7), GCNConv(f, 7)
    with torch.no_grad():
        ours.bias.normal_()  # a non-zero bias, so its gradient path is exercised too
    assert set(ours.state_dict()) == set(pyg.state_dict()) == {"lin.weight", "bias"}
    pyg.load_state_dict(ours.state_dict())
    target = torch.randn(data.num_nodes, 7)
    results = []
    for layer in (ours, pyg):
        x = data.x.clone().requires_grad_(True)
        out = layer(x, data.edge_index)
        ((out - target) ** 2).sum().backward()
        results.append((out, x.grad, layer.lin.weight.grad, layer.bias.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_gcn_layer_replaces_existing_self_loops_as_pyg_does():
    data = random_graph()
    loops = torch.arange(4).repeat(2, 1)
    edge_index = torch.cat([data.edge_index, loops], dim=1)
    ours, pyg = GCNLayer(5, 3), GCNConv(5, 3)
    pyg.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(data.x, edge_index), pyg(data.x, edge_index))


# ----------------------------------------------------------------------------- models


def graph_batch(num_graphs: int = 3) -> Batch:
    return Batch.from_data_list([random_graph(seed=i, n=8 + i) for i in range(num_graphs)])


@pytest.mark.parametrize("name", FAMILIES)
def test_registered_for_graph_data_only(name):
    assert zoo.model_input_kinds(name) == ("graph",)
    vector = DataSpec("vector", (5,), "classification", num_classes=3)
    with pytest.raises(zoo.IncompatibleDataError, match="reads graph data"):
        zoo.create_model(name, vector)


@pytest.mark.parametrize("name", FAMILIES)
def test_node_level_shapes_and_target_nodes(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, NODE).eval()
    data = random_graph()
    full = model(data)
    assert full.shape == (12, 3)
    nodes = torch.tensor([7, 0, 3])
    picked = model(Data(x=data.x, edge_index=data.edge_index, target_nodes=nodes))
    assert picked.shape == (3, 3)
    torch.testing.assert_close(picked, full[nodes])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("pooling", ["mean", "add", "max"])
def test_graph_level_shapes(name, pooling):
    torch.manual_seed(0)
    model = zoo.create_model(name, GRAPH, pooling=pooling, out_features=1).eval()
    batch = graph_batch(3)
    out = model(batch)
    assert out.shape == (3, 1)
    # Batching changes nothing: each graph alone gives its row.
    for g in range(3):
        torch.testing.assert_close(model(batch.get_example(g)), out[g : g + 1])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("spec", [NODE, GRAPH], ids=["node", "graph"])
def test_gradients_reach_every_parameter(name, spec):
    torch.manual_seed(0)
    model = zoo.create_model(name, spec)
    data = graph_batch(2) if spec.graph_level else random_graph()
    model(data).square().sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("spec", [NODE, GRAPH], ids=["node", "graph"])
def test_gcn_fused_and_reference_agree_on_the_same_weights(spec):
    torch.manual_seed(0)
    fused = zoo.create_model("gcn", spec, impl="fused").eval()
    reference = zoo.create_model("gcn", spec, impl="reference").eval()
    reference.load_state_dict(fused.state_dict())  # same names and shapes: loads 1:1
    data = graph_batch(2) if spec.graph_level else random_graph()
    torch.testing.assert_close(reference(data), fused(data), atol=1e-5, rtol=1e-5)


def test_gat_width_is_split_over_heads():
    model = zoo.create_model("gat", NODE, hidden_size=12, num_heads=3)
    assert model.convs[0].heads == 3 and model.convs[0].out_channels == 4
    assert model.head.in_features == 12


def test_zero_layers_is_a_linear_model_of_node_features():
    model = zoo.create_model("gcn", NODE, num_layers=0).eval()
    data = random_graph()
    torch.testing.assert_close(model(data), model.head(data.x))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("gcn", {"impl": "sparse"}, "impl must be one of fused, reference"),
        ("gcn", {"pooling": "sum"}, "pooling must be one of mean, add, max"),
        ("sage", {"num_layers": -1}, "num_layers must be >= 0"),
        ("gin", {"hidden_size": 0}, "hidden_size must be >= 1"),
        ("gcn", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ("gat", {"hidden_size": 10, "num_heads": 4}, "num_heads >= 1 dividing hidden_size"),
    ],
)
def test_bad_options_are_one_line_value_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.create_model(name, NODE, **kwargs)


def test_unknown_activation_lists_the_names():
    with pytest.raises(zoo.UnknownNameError, match="relu"):
        zoo.create_model("sage", NODE, activation="swishy")


@pytest.mark.parametrize("name", FAMILIES)
def test_unknown_option_is_a_type_error(name):
    with pytest.raises(TypeError):
        zoo.create_model(name, NODE, no_such_option=3)


@pytest.mark.parametrize("pooling", ["mean", "add", "max"])
def test_readout_matches_pyg_global_pooling(pooling: str) -> None:
    from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

    pyg = {"mean": global_mean_pool, "add": global_add_pool, "max": global_max_pool}[pooling]
    h = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    ours = readout(h, batch, 3, pooling)
    theirs = pyg(h, batch)
    torch.testing.assert_close(ours, theirs)
    (g_ours,) = torch.autograd.grad(ours.sin().sum(), h)
    (g_theirs,) = torch.autograd.grad(theirs.sin().sum(), h)
    torch.testing.assert_close(g_ours, g_theirs)


def test_initializers_reach_pyg_layers_so_both_impls_start_equal() -> None:
    spec = DataSpec("graph", (5,), "classification", 3)
    fused, ref = (
        zoo.apply_initializer(
            zoo.create_model("gcn", spec, impl=impl),
            "he_normal",
            generator=torch.Generator().manual_seed(1),
        )
        for impl in ("fused", "reference")
    )
    for key, value in fused.state_dict().items():
        torch.testing.assert_close(ref.state_dict()[key], value, msg=key)
    fan_in = 5
    std = fused.state_dict()["convs.0.lin.weight"].std()
    assert abs(std - (2 / fan_in) ** 0.5) < 0.35  # he_normal's std, from 5·64 samples
