"""Graph datasets and the graph data module: deterministic, split cleanly, batched once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import compose_cfg
from omegaconf import OmegaConf
from torch import nn
from torch_geometric.data import Batch, Data

import engine.data.graphs
from engine.data import DATASETS, build_data
from engine.data.graphs import GraphDataModule, build_graph_data, karate, motifs, sbm
from engine.errors import ConfigError
from engine.report.evaluation import evaluate_runs
from engine.run import save_config, train
from zoo import DataSpec, create_model
from zoo.gnn import GNN  # registers the graph models


def evaluate(run_dir, checkpoint="best", split="test", device="auto"):
    """What ``python evaluate.py run_dir=...`` computes (without the figures)."""
    out = Path(run_dir) / "eval"
    return evaluate_runs([run_dir], out, checkpoint, split, device, pictures=False)


GRAPH_SETS = ("karate", "sbm", "motifs")


def data_cfg(name: str, **params):
    return OmegaConf.create(
        {"name": name, "params": params, "val_size": 0.15, "test_size": 0.15, "scale": "standard"}
    )


def small_motifs(seed: int = 0) -> dict:
    return {"n_graphs": 60, "min_nodes": 6, "max_nodes": 12, "seed": seed}


# ----------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", GRAPH_SETS)
def test_registered_as_graph_classification(name):
    assert DATASETS.meta(name) == {"input_kind": "graph", "target_kind": "classification"}
    assert DATASETS.get(name) is getattr(engine.data.graphs, name)


def test_karate_is_offline(monkeypatch):
    import torch_geometric.data.download as download

    def no_network(*args, **kwargs):
        raise AssertionError("karate tried to download")

    monkeypatch.setattr(download, "download_url", no_network)
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    d = karate()
    assert d.graph.num_nodes == 34 and d.graph.edge_index.shape == (2, 156)
    torch.testing.assert_close(d.graph.x, torch.eye(34))
    assert torch.bincount(d.graph.y).tolist() == [13, 12, 4, 5] and not d.graph_level


def test_sbm_graph_is_simple_undirected_and_labelled_by_block():
    d = sbm(block_sizes=[30, 20, 10], p_in=0.3, p_out=0.02, feature_dim=4, seed=1)
    g = d.graph
    assert g.num_nodes == 60 and g.x.shape == (60, 4)
    assert g.y.tolist() == [0] * 30 + [1] * 20 + [2] * 10
    assert g.is_undirected() and not g.has_self_loops()
    src, dst = g.edge_index
    same = (g.y[src] == g.y[dst]).float().mean()
    assert same > 0.7  # p_in >> p_out: most edges stay inside a block
    assert d.class_names == ["block 0", "block 1", "block 2"]


def test_sbm_features_carry_a_weak_class_signal():
    g = sbm(feature_signal=3.0, seed=0).graph
    means = torch.stack([g.x[g.y == c].mean(0) for c in range(4)])  # (C, D)
    torch.testing.assert_close(means[:, :4], 3.0 * torch.eye(4), atol=0.35, rtol=0)


@pytest.mark.parametrize(
    "make", [lambda s: sbm(seed=s).graph, lambda s: motifs(**small_motifs(s)).graphs[0]]
)
def test_generated_sets_are_deterministic_per_seed(make):
    a, b, c = make(0), make(0), make(1)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert not (torch.equal(a.x, c.x) and torch.equal(a.edge_index, c.edge_index))


def test_sbm_generation_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sbm(seed=5)
    torch.testing.assert_close(torch.rand(3), expected)


def test_motifs_balanced_and_sizes_say_nothing_about_the_label():
    d = motifs(**small_motifs())
    assert d.graph_level and len(d.graphs) == len(d.y) == 60
    assert torch.bincount(d.y).tolist() == [30, 30]
    for g, label in zip(d.graphs, d.y.tolist(), strict=True):
        base = g.num_nodes - 5
        assert 6 <= base <= 12 and g.is_undirected() and not g.has_self_loops()
        # A tree on the base nodes (ba_edges=1), 6 motif edges and 1 link: for either label.
        assert g.num_edges == 2 * ((base - 1) + 6 + 1), label
        assert g.x.shape == (g.num_nodes, 9) and torch.all(g.x.sum(1) == 1)  # one-hot degree


def test_motifs_motif_is_house_or_k23():
    d = motifs(**small_motifs())
    for g, label in zip(d.graphs[:4], d.y.tolist()[:4], strict=True):
        n = g.num_nodes - 5
        src, dst = g.edge_index
        inside = (src >= n) & (dst >= n)
        pairs = {(a - n, b - n) for a, b in g.edge_index[:, inside].T.tolist() if a < b}
        expected = engine.data.graphs.HOUSE if label else engine.data.graphs.K23
        assert pairs == {tuple(sorted(e)) for e in expected}


@pytest.mark.parametrize(
    ("fn", "params", "match"),
    [
        (sbm, {"block_sizes": [10]}, "block_sizes"),
        (sbm, {"p_in": 1.5}, "p_in"),
        (sbm, {"feature_dim": 2}, "feature_dim"),
        (motifs, {"min_nodes": 1}, "ba_edges < min_nodes"),
        (motifs, {"n_graphs": 3}, "n_graphs"),
    ],
)
def test_bad_params_are_config_errors(fn, params, match):
    with pytest.raises(ConfigError, match=match):
        fn(**params)


# ----------------------------------------------------------------------------- the module


def test_node_level_module_splits_nodes_and_serves_full_batches():
    data = build_graph_data(data_cfg("sbm"), seed=0)
    spec = data.spec
    assert spec == DataSpec("graph", (16,), "classification", num_classes=4, graph_level=False)
    assert data.lengths is None and data.device == torch.device("cpu")
    graph = sbm(seed=0).graph
    nodes = {}
    for split in ("train", "val", "test"):
        batches = list(data.batches(split, 8, generator=torch.Generator().manual_seed(0)))
        assert len(batches) == data.num_batches(split, 8) == 1  # batch_size is ignored
        ((x, t),) = batches
        assert isinstance(x, Data) and x.num_nodes == 400
        assert "y" not in x  # the labels of other splits never ride along in the input
        nodes[split] = x.target_nodes
        assert torch.equal(t, graph.y[x.target_nodes])
        assert data.size(split) == len(t)
        assert data.inputs(split) is x
    every = torch.cat(list(nodes.values()))
    assert sorted(every.tolist()) == list(range(400))  # disjoint, and covering every node
    assert abs(data.size("test") - 60) <= 1
    # Stratified: each block has the same share in each split (within one node).
    for split, idx in nodes.items():
        counts = torch.bincount(graph.y[idx], minlength=4)
        assert counts.max() - counts.min() <= 1, split


def test_graph_level_module_splits_graphs():
    data = build_graph_data(data_cfg("motifs", **small_motifs()), seed=0)
    assert data.spec.graph_level and data.spec.num_classes == 2
    assert data.class_names == ["k23", "house"]
    ids = {s: {id(g) for g in data.splits[s][0]} for s in ("train", "val", "test")}
    assert sum(len(v) for v in ids.values()) == len(set().union(*ids.values())) == 60
    for split in ids:
        assert data.size(split) == len(ids[split])
        whole = data.inputs(split)
        assert isinstance(whole, Batch) and whole.num_graphs == data.size(split)


def toy_graph_module(n: int) -> GraphDataModule:
    """Graph k has k + 1 nodes, each with feature k: batches show which graphs they hold."""
    graphs = [
        Data(x=torch.full((k + 1, 1), float(k)), edge_index=torch.zeros(2, 0, dtype=torch.long))
        for k in range(n)
    ]
    spec = DataSpec("graph", (1,), "classification", num_classes=n, graph_level=True)
    return GraphDataModule(spec, {"train": (graphs, torch.arange(n))}, {}, None, "cpu")


@pytest.mark.parametrize(("n", "batch_size", "count"), [(10, 4, 3), (9, 4, 2), (3, 8, 1)])
def test_graph_batches_cover_the_split_once_with_aligned_targets(n, batch_size, count):
    data = toy_graph_module(n)
    assert data.num_batches("train", batch_size) == count
    for gen in (None, torch.Generator().manual_seed(0)):
        seen = []
        batches = list(data.batches("train", batch_size, generator=gen))
        assert len(batches) == count
        for batch, t in batches:
            graph_of_node = batch.x[:, 0].long()
            assert torch.equal(graph_of_node, t[batch.batch])  # target g belongs to graph g
            seen += t.tolist()
        assert sorted(seen) == list(range(n))
        if gen is None:
            assert seen == list(range(n))  # in order when not shuffled
    first = [t.tolist() for _, t in data.batches("train", 4, torch.Generator().manual_seed(1))]
    again = [t.tolist() for _, t in data.batches("train", 4, torch.Generator().manual_seed(1))]
    assert first == again != [t.tolist() for _, t in data.batches("train", 4)]


def test_map_targets_reencodes_every_split():
    for cfg in (data_cfg("karate"), data_cfg("motifs", **small_motifs())):
        data = build_graph_data(cfg, seed=0)
        labels = {s: data.splits[s][1].clone() for s in data.splits}
        c = data.spec.num_classes
        data.map_targets(lambda y, c=c: nn.functional.one_hot(y, c).float())
        for split, y in labels.items():
            torch.testing.assert_close(data.splits[split][1], nn.functional.one_hot(y, c).float())
            _, t = next(data.batches(split, 4096))
            assert t.dtype == torch.float32 and t.shape[1] == c


def test_scaling_is_fitted_on_train_and_stats_are_reused():
    cfg = data_cfg("sbm")
    data = build_graph_data(cfg, seed=0)
    x = data.inputs("train").x
    train_nodes = data.splits["train"][0].target_nodes
    torch.testing.assert_close(x[train_nodes].mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(x[train_nodes].std(0), torch.ones(16), atol=1e-5, rtol=0)
    assert data.stats["x_mean"].shape == data.stats["x_std"].shape == (1, 16)

    raw = sbm(seed=0).graph.x
    given = {"x_mean": torch.full((1, 16), 2.0), "x_std": torch.full((1, 16), 4.0)}
    reused = build_graph_data(cfg, seed=0, stats=given)
    torch.testing.assert_close(reused.inputs("val").x, (raw - 2.0) / 4.0)
    assert reused.stats == given

    plain = build_graph_data(OmegaConf.merge(cfg, {"scale": "none"}), seed=0)
    torch.testing.assert_close(plain.inputs("test").x, raw)
    assert plain.stats == {}

    graphs = build_graph_data(data_cfg("motifs", **small_motifs()), seed=0)
    x_train = torch.cat([g.x for g in graphs.splits["train"][0]])
    torch.testing.assert_close(x_train.mean(0)[1:4], torch.zeros(3), atol=1e-5, rtol=0)


def test_build_data_dispatches_graph_sets_and_rejects_bad_config():
    assert isinstance(build_data(data_cfg("karate"), seed=0), GraphDataModule)
    with pytest.raises(ConfigError, match="scale"):
        build_graph_data(OmegaConf.merge(data_cfg("karate"), {"scale": "minmax"}), seed=0)
    with pytest.raises(ConfigError, match=r"rejected data\.params"):
        build_graph_data(data_cfg("sbm", blocks=3), seed=0)


def test_gcn_learns_sbm_full_batch():
    """A plain loop over the module, as the trainer runs it: 50 full-batch Adam steps."""
    torch.manual_seed(0)
    data = build_graph_data(data_cfg("sbm"), seed=0)
    model = create_model("gcn", data.spec)
    assert isinstance(model, GNN)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(50):
        for x, t in data.batches("train", 64):
            loss = nn.functional.cross_entropy(model(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    ((x, t),) = data.batches("val", 4096)
    accuracy = (model(x).argmax(1) == t).float().mean().item()
    assert accuracy >= 0.85


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize(("data", "model"), [("sbm", "gcn"), ("motifs", "gin")])
def test_trains_and_evaluates_through_the_shared_engine(data, model, tmp_path):
    overrides = [f"data={data}", f"model={model}", "logger=none", "trainer.progress_bar=false"]
    params = [f"data.params.{k}={v}" for k, v in small_motifs().items() if k != "seed"]
    cfg = compose_cfg(*overrides, "trainer.max_epochs=3", *(params if data == "motifs" else []))
    metrics = train(cfg, tmp_path)
    assert metrics["epochs"] == 3
    # Full batch per node: one step per epoch; graph-level: ceil(train graphs / 64).
    assert metrics["steps"] == 3 if data == "sbm" else metrics["steps"] >= 3
    # The run directory alone rebuilds the same data (saved scaling) and model.
    save_config(cfg, tmp_path)
    again = evaluate(tmp_path, "best", "test", "cpu")["test"]
    assert again == pytest.approx(metrics["test"])
