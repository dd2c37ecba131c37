"""What tests of every registered model share: the (model, input kind) pairs to run,
and small random graphs (node-level "graph" and graph-level "graphs" are two kinds)."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

import zoo

# Every model with every kind of input it reads; graph models read one graph (node
# classification) and batches of graphs (graph classification).
MODEL_CASES = [
    (name, kind)
    for name in zoo.list_models()
    for read in zoo.model_input_kinds(name)
    for kind in (("graph", "graphs") if read == "graph" else (read,))
]
MODEL_CASE_IDS = [f"{name}-{kind}" for name, kind in MODEL_CASES]


def random_graph(num_nodes: int, num_features: int, seed: int, edges_per_node: int = 3) -> Data:
    """An undirected random graph with Gaussian node features, from the seed."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, num_nodes, (2, edges_per_node * num_nodes), generator=g)
    edges = torch.cat([edges, edges.flip(0)], dim=1)  # both directions
    return Data(x=torch.randn(num_nodes, num_features, generator=g), edge_index=edges)
