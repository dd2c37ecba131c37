"""Graph neural networks: node embeddings by message passing along a graph's edges.

Every family here stacks L message-passing layers. Layer ℓ updates each node i from
itself and its neighbours N(i), with h⁽⁰⁾ = x the node features:

    h⁽ℓ⁾ = dropout(φ(conv⁽ℓ⁾(h⁽ℓ⁻¹⁾, edges)))

so after L layers a node's embedding has seen its L-hop neighbourhood. A linear head
then reads the embeddings h⁽ᴸ⁾: per node for node classification, or, for graph
classification, after a readout that pools each graph's nodes into one vector,
h_G = mean | Σ | max over i ∈ G of h_i⁽ᴸ⁾. The families differ only in conv:

* gcn (Kipf & Welling, "Semi-supervised classification with graph convolutional
  networks", ICLR 2017): H' = D̂^{-1/2} Â D̂^{-1/2} H W + b, a degree-normalized mean
  over N(i) ∪ {i} (:class:`GCNLayer` writes it out; see there).
* sage (Hamilton, Ying & Leskovec, "Inductive representation learning on large
  graphs", NeurIPS 2017; GraphSAGE-mean): h_i' = W₁ h_i + W₂ mean_{j ∈ N(i)} h_j + b,
  the node's own state kept apart from its neighbours'.
* gat (Veličković et al., "Graph attention networks", ICLR 2018):
  h_i' = ‖_{k=1..K} Σ_{j ∈ N(i) ∪ {i}} α_ij^k W^k h_j with
  α_ij^k = softmax_j(LeakyReLU(a^kᵀ [W^k h_i ‖ W^k h_j])): learned weights per
  neighbour, K heads concatenated. The paper's last layer averages K heads into class
  scores; here, as in every family, a linear head reads the concatenated embedding.
* gin (Xu, Hu, Leskovec & Jegelka, "How powerful are graph neural networks?", ICLR
  2019): h_i' = MLP((1 + ε) h_i + Σ_{j ∈ N(i)} h_j) with ε = 0 (GIN-0, as good as a
  learned ε in the paper's table 1) and a 2-layer MLP. A sum, unlike a mean or max,
  tells apart neighbourhoods with the same elements in different numbers, which makes
  GIN as discriminative as the 1-WL graph isomorphism test. The paper reads out with
  a sum (``pooling=add``) over every layer's embeddings; here the last layer's.

The convolutions are PyG's (``torch_geometric.nn``), the fast path; gcn's
``impl=reference`` swaps in :class:`GCNLayer`, which has the same parameters (a
checkpoint loads into either) and gives the same numbers (tests/zoo/test_gnn.py).

Inputs are PyG ``Data``/``Batch`` objects: ``x`` (N, F), ``edge_index`` (2, E) with
row 0 the source j and row 1 the target i of each message j → i (an undirected graph
lists both directions), ``batch`` (N,) the graph of each node when several graphs are
batched, and optionally ``target_nodes`` (M,), the nodes a node-level model should
score (all when absent).

Where it continues: the graph datasets, their batching into PyG ``Batch`` objects and
the node splits live in engine/data/graphs.py; the training step is the default of
:class:`engine.tasks.core.Task`; bench/graph_layer.py times :class:`GCNLayer` against
PyG's ``GCNConv``, and engine/report/export.py exports a GNN to ONNX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from zoo.activations import make_activation
from zoo.checks import IMPLS, check_activation, check_at_least, check_choice, check_fraction
from zoo.factory import register_model
from zoo.pyg import import_pyg
from zoo.spec import DataSpec

if TYPE_CHECKING:
    from torch_geometric.data import Data

# PyG's layers are imported inside the builders that use them: importing torch_geometric
# takes about as long as importing torch, and runs on other data should not pay for it.


POOLINGS = ("mean", "add", "max")


def readout(h: Tensor, batch: Tensor, num_graphs: int, pooling: str) -> Tensor:
    """One vector per graph from its nodes' embeddings (graph-level tasks).

    r_g = Σ_{i ∈ g} h_i (``add``), that sum / |g| (``mean``), or the element-wise max
    (``max``). ``add`` keeps how many nodes carry a feature, which is what makes GIN
    as discriminative as the Weisfeiler-Lehman test (Xu et al., 2019, sec. 4.2);
    ``mean`` and ``max`` forget it.

    Shapes:
        h ``(N, H)``, batch ``(N,)`` (the graph of each node); output ``(G, H)``.
    """
    if pooling == "max":
        index = batch[:, None].expand_as(h)  # (N,) -> (N, H)
        empty = h.new_zeros(num_graphs, h.shape[1])
        return empty.scatter_reduce(0, index, h, "amax", include_self=False)
    total = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)  # (G, H)
    if pooling == "add":
        return total
    count = torch.bincount(batch, minlength=num_graphs).clamp_min(1).to(h.dtype)  # (G,)
    return total / count[:, None]


class GCNLayer(nn.Module):
    """The graph convolution of Kipf & Welling (2017), written out.

    .. math::
        H' = D̂^{-1/2} Â D̂^{-1/2} H W + b,   Â = A + I,   D̂_ii = Σ_j Â_ij

    A is the adjacency matrix (A_ij = 1 for an edge j → i), I adds a self loop to
    every node so its own features count, and D̂ is Â's degree matrix. Node by node:

        h_i' = Σ_{j ∈ N(i) ∪ {i}} h_j W / √(d̂_j d̂_i) + b

    a mean over the neighbourhood in which a high-degree neighbour counts less. The
    symmetric normalization keeps D̂^{-1/2} Â D̂^{-1/2}'s eigenvalues in (-1, 1], so
    stacking layers neither blows features up nor (for degrees that differ) lets
    hubs dominate (sec. 2.2 of the paper: the "renormalization trick").

    The same parameters as PyG's ``GCNConv``: ``lin.weight`` (F', F) (W stored
    transposed, as in ``nn.Linear``) and ``bias`` (F'), Glorot-initialized weight and
    zero bias; so weights copy 1:1 and a checkpoint loads into either. Like PyG,
    self loops already in ``edge_index`` are replaced, so Â's diagonal is 1.

    Args:
        in_features: F, features per input node.
        out_features: F', features per output node.

    Shapes:
        x ``(N, F)``, edge_index ``(2, E)`` (row 0 source j, row 1 target i);
        output ``(N, F')``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_features, out_features, bias=False)  # W
        self.bias = nn.Parameter(torch.empty(out_features))  # b
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)  # Glorot & Bengio (2010), as PyG and the paper
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        n = x.shape[0]
        # Â = A + I: drop any self loops already there, then add one per node.
        src, dst = edge_index[:, edge_index[0] != edge_index[1]]
        loops = torch.arange(n, device=x.device)
        src, dst = torch.cat([src, loops]), torch.cat([dst, loops])  # E -> E' = E_no_loops + N
        a_hat = torch.ones(src.shape[0], dtype=x.dtype, device=x.device)  # Â_ij, one per edge
        d_hat = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(0, dst, a_hat)
        d_inv_sqrt = d_hat.rsqrt()  # D̂^{-1/2}, (N,); d̂ >= 1 thanks to the self loop
        # Edge j -> i of D̂^{-1/2} Â D̂^{-1/2}: Â_ij / √(d̂_j d̂_i).
        norm = d_inv_sqrt[src] * a_hat * d_inv_sqrt[dst]  # (E',)
        h = self.lin(x)  # H W: (N, F) -> (N, F'); before propagating, as F' <= F usually
        # (E', F'): h_j W / √(d̂_j d̂_i) on each edge. index_select is h[src], with a faster
        # backward (index_add_, not the accumulating index_put_ of advanced indexing).
        messages = h.index_select(0, src) * norm[:, None]
        out = torch.zeros_like(h).index_add_(0, dst, messages)  # Σ over j per target i
        return out + self.bias

    def extra_repr(self) -> str:
        return f"{self.lin.in_features}, {self.lin.out_features}"


class GNN(nn.Module):
    """Message-passing layers, then a linear head per node or per pooled graph.

    Args:
        convs: the L message-passing layers, each called ``conv(h, edge_index)``.
        width: H, the width of the last layer's node embeddings (or F if L = 0).
        out_features: K, outputs per node (node-level) or per graph (graph-level).
        activation: φ, a name from :func:`zoo.list_activations`; one module per layer.
        dropout: p, the drop probability after each layer's activation.
        graph_level: pool each graph's nodes with ``pooling`` before the head.
        pooling: ``mean`` | ``add`` | ``max``, the readout (graph-level only).

    Every family's builder below gives its own defaults for these (GAT's ELU, GIN's
    sum readout), so they have none here.

    Shapes:
        ``data.x`` ``(N, F)``, ``data.edge_index`` ``(2, E)``, ``data.batch`` ``(N,)``
        (graph-level, several graphs) and ``data.target_nodes`` ``(M,)`` (node-level,
        optional); output ``(M, K)`` (or ``(N, K)``) node-level, ``(G, K)`` graph-level.
    """

    def __init__(
        self,
        convs: list[nn.Module],
        width: int,
        out_features: int,
        activation: str,
        dropout: float,
        graph_level: bool,
        pooling: str,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.acts = nn.ModuleList(make_activation(activation) for _ in convs)  # prelu: per layer
        self.dropout = nn.Dropout(dropout)
        self.graph_level = graph_level
        self.pooling = pooling
        self.head = nn.Linear(width, out_features)

    def embed(self, data: Data) -> Tensor:
        """Node embeddings h⁽ᴸ⁾ ``(N, H)``, before readout and head."""
        h, edge_index = data.x, data.edge_index
        for conv, act in zip(self.convs, self.acts, strict=True):
            h = self.dropout(act(conv(h, edge_index)))  # (N, F) -> (N, H)
        return h

    def forward(self, data: Data) -> Tensor:
        h = self.embed(data)
        if self.graph_level:
            batch = data.batch
            if batch is None:  # a single graph
                batch = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
            num_graphs = getattr(data, "num_graphs", 1)
            h = readout(h, batch, num_graphs, self.pooling)  # (N, H) -> (G, H)
        else:
            target_nodes = getattr(data, "target_nodes", None)
            if target_nodes is not None:
                h = h[target_nodes]  # (N, H) -> (M, H)
        return self.head(h)


# ----------------------------------------------------------------------------- builders


def _check(
    name: str,
    spec: DataSpec,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    activation: str,
    pooling: str,
) -> int:
    """Validate the options every family shares; return F, the node feature size."""
    if len(spec.input_shape) != 1:
        raise ValueError(
            f"{name} reads node features of shape (F,), got input_shape {spec.input_shape}"
        )
    check_at_least(f"{name} num_layers", num_layers, 0, "(0 = no message passing)")
    check_at_least(f"{name} hidden_size", hidden_size, 1)
    check_fraction(f"{name} dropout", dropout)
    check_choice(f"{name} pooling", pooling, POOLINGS)
    check_activation(activation)
    return spec.input_shape[0]


def _widths(in_features: int, hidden_size: int, num_layers: int) -> list[tuple[int, int]]:
    """(in, out) of each layer: F -> H -> ... -> H."""
    return [(in_features if i == 0 else hidden_size, hidden_size) for i in range(num_layers)]


def _gnn(
    convs: list[nn.Module],
    spec: DataSpec,
    out_features: int | None,
    hidden_size: int,
    activation: str,
    dropout: float,
    pooling: str,
) -> GNN:
    return GNN(
        convs,
        hidden_size if convs else spec.input_shape[0],
        spec.num_outputs if out_features is None else out_features,
        activation=activation,
        dropout=dropout,
        graph_level=spec.graph_level,
        pooling=pooling,
    )


@register_model("gcn", input_kinds=("graph",))
def build_gcn(
    spec: DataSpec,
    out_features: int | None = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    dropout: float = 0.5,
    activation: str = "relu",
    pooling: str = "mean",
    impl: str = "fused",
) -> GNN:
    """GCN (Kipf & Welling, 2017). ``impl``: fused (PyG's GCNConv) | reference (GCNLayer)."""
    f = _check("gcn", spec, hidden_size, num_layers, dropout, activation, pooling)
    check_choice("gcn impl", impl, IMPLS)
    import_pyg()
    from torch_geometric.nn import GCNConv

    layer = GCNConv if impl == "fused" else GCNLayer
    convs = [layer(i, o) for i, o in _widths(f, hidden_size, num_layers)]
    return _gnn(convs, spec, out_features, hidden_size, activation, dropout, pooling)


@register_model("sage", input_kinds=("graph",))
def build_sage(
    spec: DataSpec,
    out_features: int | None = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    dropout: float = 0.5,
    activation: str = "relu",
    pooling: str = "mean",
) -> GNN:
    """GraphSAGE with the mean aggregator (Hamilton et al., 2017)."""
    f = _check("sage", spec, hidden_size, num_layers, dropout, activation, pooling)
    import_pyg()
    from torch_geometric.nn import SAGEConv

    convs = [SAGEConv(i, o, aggr="mean") for i, o in _widths(f, hidden_size, num_layers)]
    return _gnn(convs, spec, out_features, hidden_size, activation, dropout, pooling)


@register_model("gat", input_kinds=("graph",))
def build_gat(
    spec: DataSpec,
    out_features: int | None = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 8,
    dropout: float = 0.5,
    activation: str = "elu",
    pooling: str = "mean",
) -> GNN:
    """GAT (Veličković et al., 2018): num_heads heads of hidden_size / num_heads each,
    concatenated (the paper's Cora model: 8 heads x 8 features, ELU)."""
    f = _check("gat", spec, hidden_size, num_layers, dropout, activation, pooling)
    if num_heads < 1 or hidden_size % num_heads:
        raise ValueError(
            f"gat needs num_heads >= 1 dividing hidden_size; got num_heads={num_heads}, "
            f"hidden_size={hidden_size}"
        )
    import_pyg()
    from torch_geometric.nn import GATConv

    per_head = hidden_size // num_heads
    convs = [GATConv(i, per_head, heads=num_heads) for i, _ in _widths(f, hidden_size, num_layers)]
    return _gnn(convs, spec, out_features, hidden_size, activation, dropout, pooling)


@register_model("gin", input_kinds=("graph",))
def build_gin(
    spec: DataSpec,
    out_features: int | None = None,
    hidden_size: int = 64,
    num_layers: int = 3,
    dropout: float = 0.0,
    activation: str = "relu",
    pooling: str = "add",
) -> GNN:
    """GIN-0 (Xu et al., 2019): each layer's update is a 2-layer MLP, Linear-φ-Linear."""
    f = _check("gin", spec, hidden_size, num_layers, dropout, activation, pooling)
    import_pyg()
    from torch_geometric.nn import GINConv

    convs = [
        GINConv(nn.Sequential(nn.Linear(i, o), make_activation(activation), nn.Linear(o, o)))
        for i, o in _widths(f, hidden_size, num_layers)
    ]
    return _gnn(convs, spec, out_features, hidden_size, activation, dropout, pooling)
