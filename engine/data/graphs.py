"""Graph datasets, offline, and the data module that serves them to the shared trainer.

Two kinds of graph learning, told apart by ``DataSpec.graph_level``:

* node classification (``karate``, ``sbm``): one graph, a label per node. Training is
  full-batch and transductive, as in Kipf & Welling (2017): every step runs the model
  over the whole graph (all nodes' features and edges are visible) and the loss reads
  only the training nodes' outputs. A split is a set of nodes, so one "batch" per
  split: the graph with ``target_nodes`` set to the split's nodes, and
  ``trainer.batch_size`` is ignored (an epoch is one optimizer step).
* graph classification (``motifs``): many small graphs, a label per graph. A split is
  a set of graphs; batches of ``batch_size`` graphs are merged into one disconnected
  graph (PyG's ``Batch``, whose ``batch`` vector says which graph each node is in).

The loaders return a :class:`GraphData`; :func:`build_graph_data` (which
``engine.data.build_data`` calls for a dataset registered with ``input_kind="graph"``)
splits it from the seed, standardizes node features on the training split and
returns a :class:`GraphDataModule`, which hands out batches exactly as
``engine.data.DataModule`` does, with PyG ``Data``/``Batch`` objects as the inputs.

Measured (test accuracy, mean of seeds 0-2, Adam, early stopping on val loss):

* sbm, defaults: node features alone (a 2-layer MLP) 53%; gcn 100%, sage 98%, gat
  100%, gin 99% (lr 0.01, weight decay 5e-4, full batch, patience 20);
* motifs, defaults: a linear model of pooled node features (gcn num_layers=0) 47%,
  i.e. chance; gin 99% (lr 0.001, batch 64, patience 10); gcn 98%, sage 99%, gat 99%
  (lr 0.01, dropout 0, patience 20; at lr 0.001 they often stall at chance).

Where it continues: the graph models are ``zoo/gnn.py``; PyG is imported only when a
graph is built (``zoo/pyg.py``); ``engine/report/export.py`` exports a GNN with plain
tensors as inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.data.core import (
    DataModule,
    _moments,
    batch_count,
    batch_slices,
    load_arrays,
    register_builder,
    register_dataset,
    split_indices,
)
from engine.data.labels import label_options, select_classes, with_unlabelled
from engine.errors import ConfigError
from zoo import DataSpec
from zoo.pyg import import_pyg

if TYPE_CHECKING:
    from torch_geometric.data import Batch, Data

# torch_geometric is imported where a graph is built, not at the top: it takes about as
# long to import as torch, and every run imports this module to register the datasets.


@dataclass
class GraphData:
    """A graph dataset before splitting.

    Node-level: ``graph`` with ``x`` (N, F), ``edge_index`` (2, E) and ``y`` (N,) a
    label per node. Graph-level: ``graphs``, each with ``x`` and ``edge_index``, and
    ``y`` (G,) a label per graph. Labels are 0..C-1; ``class_names`` has C names.
    """

    class_names: list[str]
    graph_level: bool = False
    graph: Data | None = None
    graphs: list[Data] | None = None
    y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.graph_level:
            if self.graphs is None or self.y is None or len(self.y) != len(self.graphs):
                raise ValueError("graph-level GraphData needs graphs and y, one label per graph")
        elif self.graph is None or self.graph.y is None:
            raise ValueError("node-level GraphData needs a graph whose y has a label per node")

    @property
    def labels(self) -> torch.Tensor:
        """The labels splits are stratified by: per graph, or per node."""
        return self.y if self.graph_level else self.graph.y

    @property
    def num_features(self) -> int:
        return (self.graphs[0] if self.graph_level else self.graph).x.shape[1]


# ----------------------------------------------------------------------------- karate


@register_dataset("karate", input_kind="graph", target_kind="classification")
def karate() -> GraphData:
    """Zachary's karate club (1977): 34 members, 78 friendships (156 directed edges).

    PyG's ``KarateClub`` embeds the edge list in its source, so nothing is downloaded.
    Labels are the 4 communities PyG gives (found by modularity-based clustering;
    13/12/4/5 members); node features are the identity matrix, a one-hot id per member,
    so a model can only tell members apart by id and by whom they know.
    """
    # Imported here, not at the top: torch_geometric.datasets takes ~1 s to import.
    import_pyg()
    from torch_geometric.data import Data
    from torch_geometric.datasets import KarateClub

    d = KarateClub()[0]
    graph = Data(x=d.x, edge_index=d.edge_index, y=d.y)
    return GraphData(class_names=[str(c) for c in range(4)], graph=graph)


# ----------------------------------------------------------------------------- sbm


@register_dataset("sbm", input_kind="graph", target_kind="classification")
def sbm(
    block_sizes: tuple[int, ...] | list[int] = (100, 100, 100, 100),
    p_in: float = 0.1,
    p_out: float = 0.01,
    feature_dim: int = 16,
    feature_signal: float = 1.25,
    seed: int = 0,
) -> GraphData:
    """A stochastic block model graph (Holland, Laskey & Leinhardt, 1983); label = block.

    Nodes come in C blocks (communities) of ``block_sizes``; each pair of nodes is an
    (undirected) edge independently with probability ``p_in`` inside a block and
    ``p_out`` across blocks. Node features are a weak class signal in noise,

        x_i = s · e_{y_i} + ε_i,   ε_i ~ N(0, I_D),

    with e_c the c-th unit vector of R^D (D = ``feature_dim`` >= C) and s =
    ``feature_signal``. At the defaults a node's features alone give about 53% test
    accuracy (an MLP; chance is 25%), while a node has on average ~10 neighbours in its
    own block and ~3 in others, so averaging over neighbours (a GCN) reaches ~100%.

    Every pair is drawn (O(N²) memory): fine up to a few thousand nodes.
    """
    sizes = [int(b) for b in block_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigError(f"sbm block_sizes must be >= 2 positive sizes, got {list(block_sizes)}")
    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"sbm {name} must be a probability in [0, 1], got {p}")
    if feature_dim < len(sizes):
        raise ConfigError(
            f"sbm feature_dim must be >= the number of blocks ({len(sizes)}), got {feature_dim}"
        )
    gen = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    blocks = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))  # (N,)
    i, j = torch.triu_indices(n, n, offset=1)  # every pair i < j once: (P,), (P,)
    p = torch.where(blocks[i] == blocks[j], p_in, p_out)  # (P,)
    keep = torch.bernoulli(p, generator=gen).bool()
    import_pyg()
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    edge_index = to_undirected(torch.stack([i[keep], j[keep]]), num_nodes=n)  # both directions
    means = torch.eye(feature_dim)[blocks]  # (N, D): e_{y_i}
    x = feature_signal * means + torch.randn(n, feature_dim, generator=gen)
    graph = Data(x=x, edge_index=edge_index, y=blocks)
    return GraphData(class_names=[f"block {c}" for c in range(len(sizes))], graph=graph)


# ----------------------------------------------------------------------------- motifs


def barabasi_albert(n: int, m: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Undirected edges of a Barabási–Albert graph (Barabási & Albert, 1999).

    Starting from m nodes, each new node links to m distinct earlier nodes picked with
    probability proportional to their degree (preferential attachment), the algorithm
    of networkx's ``barabasi_albert_graph``: a few hubs, many low-degree nodes. m = 1
    gives a tree.
    """
    edges: list[tuple[int, int]] = []
    targets = list(range(m))
    repeated: list[int] = []  # each node once per unit of degree: sampling ∝ degree
    for v in range(m, n):
        edges += [(v, t) for t in targets]
        repeated += [*targets, *([v] * m)]
        chosen: set[int] = set()
        while len(chosen) < m:
            chosen.add(int(repeated[rng.integers(len(repeated))]))
        targets = sorted(chosen)
    return edges


# Two 5-node, 6-edge attachments with the same degrees (3, 3, 2, 2, 2): only their
# shape differs. The house (a square with a triangular roof) has a triangle; K_{2,3}
# (the complete bipartite graph) has none, and its two degree-3 nodes are not adjacent.
# Node counts, edge counts and degree histograms cannot tell the classes apart; on the
# motifs alone, two rounds of 1-WL colour refinement can (a degree-3 node's neighbours'
# degrees are {3, 2, 2} in the house, {2, 2, 2} in K_{2,3}).
HOUSE = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4)]
K23 = [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]


@register_dataset("motifs", input_kind="graph", target_kind="classification")
def motifs(
    n_graphs: int = 1000,
    min_nodes: int = 10,
    max_nodes: int = 30,
    ba_edges: int = 1,
    max_degree: int = 8,
    seed: int = 0,
) -> GraphData:
    """Does the graph contain a house? Synthetic graph classification, from the seed.

    Each graph is a random Barabási–Albert base (:func:`barabasi_albert`, n ~
    U{min_nodes..max_nodes} nodes, ``ba_edges`` links per new node) with a 5-node motif
    linked by one edge to a random base node: a house (label 1, "house") for one half
    of the graphs, K_{2,3} (label 0, "k23") for the other. Both motifs have 5 nodes,
    6 edges and the same degrees (see :data:`HOUSE`), so size and degree counts say
    nothing: the model must see how the degree-3 nodes are wired. (In the spirit of the
    BA-Shapes/BA-2Motifs benchmarks of Ying et al., 2019, and Luo et al., 2020.)

    Node features: the one-hot degree, clipped at ``max_degree`` (F = max_degree + 1
    columns for degrees 0..max_degree). With constant features a mean aggregator
    (sage) would be blind: the mean of equal vectors is that vector (Xu et al., 2019,
    sec. 5); the degrees give every family something to pass along.
    Labels are balanced exactly (graph g has label g % 2, before any shuffle).
    """
    if n_graphs < 10:
        raise ConfigError(f"motifs n_graphs must be >= 10, got {n_graphs}")
    if not ba_edges < min_nodes <= max_nodes:
        raise ConfigError(
            f"motifs needs ba_edges < min_nodes <= max_nodes, got {ba_edges}, {min_nodes}, "
            f"{max_nodes}"
        )
    if max_degree < 1:
        raise ConfigError(f"motifs max_degree must be >= 1, got {max_degree}")
    import_pyg()
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    rng = np.random.default_rng(seed)
    graphs, labels = [], []
    for g in range(n_graphs):
        label = g % 2
        n = int(rng.integers(min_nodes, max_nodes + 1))
        edges = barabasi_albert(n, ba_edges, rng)
        motif = HOUSE if label else K23
        edges += [(n + a, n + b) for a, b in motif]
        edges.append((int(rng.integers(n)), n + int(rng.integers(5))))  # motif node to base
        edge_index = to_undirected(torch.tensor(edges).T, num_nodes=n + 5)  # (2, 2·|edges|)
        degree = torch.bincount(edge_index[0], minlength=n + 5).clamp(max=max_degree)
        x = torch.nn.functional.one_hot(degree, max_degree + 1).float()  # (n+5, max_degree+1)
        graphs.append(Data(x=x, edge_index=edge_index))
        labels.append(label)
    y = torch.tensor(labels)
    return GraphData(class_names=["k23", "house"], graph_level=True, graphs=graphs, y=y)


# ----------------------------------------------------------------------------- module


class GraphDataModule(DataModule):
    """Train/val/test splits of a graph dataset, on the device, as the trainer reads them.

    A :class:`engine.data.DataModule` whose ``size``, ``num_batches``, ``batches`` and
    ``inputs`` read graphs (``lengths`` is None; ``map_targets`` and ``head`` are the
    base class's; ``head`` gives a split's graph input whole). The inputs of a split
    are, node-level, the whole graph with ``target_nodes`` the split's nodes (one batch,
    whatever ``batch_size``), and, graph-level, the split's list of graphs (batched
    ``batch_size`` at a time).
    """

    def __init__(
        self,
        spec: DataSpec,
        splits: dict[str, tuple[Any, torch.Tensor]],
        stats: dict[str, torch.Tensor],
        class_names: list[str] | None,
        device: torch.device | str,
    ) -> None:
        super().__init__(spec, splits, stats, class_names)  # stats: saved with checkpoints
        self._device = torch.device(device)  # a split's inputs are graphs, not tensors
        self._collated: dict[tuple[str, int], tuple[Any, list[Batch]]] = {}

    @property
    def device(self) -> torch.device:
        return self._device

    def size(self, split: str) -> int:
        """Labelled items in ``split``: nodes (node-level) or graphs (graph-level)."""
        return len(self.splits[split][1])

    def num_batches(self, split: str, batch_size: int) -> int:
        if not self.spec.graph_level:
            return 1  # full batch: the whole graph every step
        return batch_count(self.size(split), batch_size)  # a lone last graph joins the one before

    def batches(
        self, split: str, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Data, torch.Tensor]]:
        """Yield ``(input, targets)``; the model is called as ``model(input)``.

        Node-level: one pair, the graph with ``target_nodes`` and those nodes' targets
        (``batch_size`` and ``generator`` do not matter). Graph-level: ``Batch``es of
        ``batch_size`` graphs, shuffled when a generator is given, and their targets.
        """
        inputs, targets = self.splits[split]
        if not self.spec.graph_level:
            yield inputs, targets
            return
        import_pyg()
        from torch_geometric.data import Batch

        if generator is not None:
            order = torch.randperm(len(inputs), generator=generator)
            for idx in (order[part] for part in batch_slices(len(order), batch_size)):
                batch = Batch.from_data_list([inputs[i] for i in idx.tolist()])
                yield batch, targets[idx.to(targets.device)]
            return
        # In order (evaluation): the same batches every time, so collate them once.
        key = (split, batch_size)
        if key not in self._collated or self._collated[key][0] is not inputs:
            parts = batch_slices(len(inputs), batch_size)
            batches = [Batch.from_data_list(inputs[p]) for p in parts]
            self._collated[key] = (inputs, batches)
        start = 0
        for batch in self._collated[key][1]:
            yield batch, targets[start : start + batch.num_graphs]
            start += batch.num_graphs

    def inputs(self, split: str) -> Data:
        """A whole split's input, as the model reads it: a ``Data`` or one ``Batch``."""
        inputs = self.splits[split][0]
        if not self.spec.graph_level:
            return inputs
        return next(self.batches(split, max(1, len(inputs))))[0]


@register_builder("graph")
def build_graph_data(
    cfg: Any,
    seed: int,
    device: torch.device | str = "cpu",
    stats: dict[str, torch.Tensor] | None = None,
) -> GraphDataModule:
    """Load, split (stratified, from the seed), scale and move a graph dataset.

    ``cfg`` is the ``data`` config node: ``name``, ``params``, ``val_size``,
    ``test_size`` and ``scale`` (``standard``: node features standardized with the
    mean and std of the training nodes, or of all nodes of the training graphs;
    ``none``). Given ``stats`` saved with a run, those are applied instead.
    """
    data = load_arrays(cfg, seed)  # the registered loader's GraphData
    options = label_options(cfg, True, False)
    # Items (nodes or graphs) of data.classes only, relabelled; y = -1 for the others,
    # which no split holds (their nodes stay in the graph as neighbours).
    keep, kept_y, class_names = select_classes(
        data.labels.numpy(), data.class_names, options.get("classes")
    )
    y = torch.full((len(data.labels),), -1, dtype=torch.long)
    y[keep] = torch.as_tensor(kept_y, dtype=torch.long)
    parts = split_indices(kept_y, cfg.get("val_size", 0.15), cfg.get("test_size", 0.15), seed, True)
    parts = with_unlabelled(parts, kept_y, options.get("labels_per_class"), seed, class_names)
    parts = {k: torch.as_tensor(keep[v], dtype=torch.long) for k, v in parts.items()}
    # Scaling is fitted on every training item, labelled or not.
    fit = torch.cat([parts["train"], parts.get("unlabelled", parts["train"][:0])])

    scale = cfg.get("scale", "standard")
    if scale not in ("standard", "none"):
        raise ConfigError(f"data.scale must be 'standard' or 'none', got '{scale}'")
    if stats is None:
        stats = {}
        if scale == "standard":
            if data.graph_level:  # every node of every training graph
                x_train = torch.cat([data.graphs[i].x for i in fit.tolist()])
            else:
                x_train = data.graph.x[fit]
            stats["x_mean"], stats["x_std"] = _moments(x_train, "vector")  # (1, F) each
    stats = {k: v.cpu() for k, v in stats.items()}
    x_mean, x_std = stats.get("x_mean", 0.0), stats.get("x_std", 1.0)
    import_pyg()
    from torch_geometric.data import Data

    def scaled(g: Data) -> Data:  # only what a model reads: labels stay out of the inputs
        x = ((g.x - x_mean) / x_std).float()
        return Data(x=x, edge_index=g.edge_index).to(device)

    splits: dict[str, tuple[Any, torch.Tensor]] = {}
    if data.graph_level:
        graphs = [scaled(g) for g in data.graphs]
        for split, idx in parts.items():
            splits[split] = ([graphs[i] for i in idx.tolist()], y[idx].to(device))
    else:
        graph = scaled(data.graph)
        for split, idx in parts.items():
            view = copy.copy(graph)  # shares x and edge_index; its own target_nodes
            view.target_nodes = idx.to(device)
            splits[split] = (view, y[idx].to(device))

    spec = DataSpec(
        input_kind="graph",
        input_shape=(data.num_features,),
        target_kind="classification",
        num_classes=len(class_names),
        graph_level=data.graph_level,
    )
    module = GraphDataModule(spec, splits, stats, class_names, device)
    module.name, module.params = cfg.name, dict(cfg.get("params") or {})
    return module
