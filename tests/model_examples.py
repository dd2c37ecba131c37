"""What tests of every registered model share: the (model, input kind) pairs to run,
how to build and call each model, and small random graphs (node-level "graph" and
graph-level "graphs" are two kinds)."""

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


# The generative models on each data shape they are tested with: 2-D points, vectors,
# and images small and large, by MLP and by (DCGAN-style) convolutions.
GENERATIVE_CASES = [
    ((2,), "mlp"),
    ((64,), "mlp"),
    ((1, 8, 8), "mlp"),
    ((1, 8, 8), "conv"),
    ((1, 28, 28), "conv"),
    ((3, 32, 32), "conv"),
]
GENERATIVE_CASE_IDS = [f"{arch}-{'x'.join(map(str, shape))}" for shape, arch in GENERATIVE_CASES]


def random_graph(num_nodes: int, num_features: int, seed: int, edges_per_node: int = 3) -> Data:
    """An undirected random graph with Gaussian node features, from the seed."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, num_nodes, (2, edges_per_node * num_nodes), generator=g)
    edges = torch.cat([edges, edges.flip(0)], dim=1)  # both directions
    return Data(x=torch.randn(num_nodes, num_features, generator=g), edge_index=edges)


def make_model(name: str, spec: zoo.DataSpec, **options) -> torch.nn.Module:
    """``zoo.create_model``, giving a model built on another's encoder (probe) a freshly
    built autoencoder's, as the engine gives it a trained run's."""
    if name == "probe":
        source = zoo.create_model("autoencoder", spec)
        options |= {"backbone": source.feature_extractor(), "latent_size": source.latent_size}
        options |= {"freeze": False}  # every parameter learns, as the other models' do
    return zoo.create_model(name, spec, **options)


def forward_input(model: torch.nn.Module, x):
    """What ``model.forward`` reads for the data batch ``x``: a GAN's generator reads
    noise z, one row per sample; every other model reads the data."""
    if hasattr(model, "discriminate"):
        return torch.randn(len(x), model.latent_size, generator=torch.Generator().manual_seed(0))
    return x
