"""DataSpec: what a dataset tells a model about itself, so no size is typed by hand.

The engine's data module produces it; every model builder takes it. It lives here,
with the models, because it is the contract models are written against (components
never import the engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

InputKind = Literal["vector", "image", "sequence", "graph"]
TargetKind = Literal["classification", "regression"]


@dataclass(frozen=True)
class DataSpec:
    """Shape and meaning of one dataset's inputs and targets.

    Shapes are per sample, without the batch dimension:
    vector ``(F,)``, image ``(C, H, W)``, sequence ``(T, F)``. Sequences of
    different lengths come padded to the longest; the data module hands out their
    ``lengths`` with each batch.
    """

    input_kind: InputKind
    input_shape: tuple[int, ...]
    target_kind: TargetKind
    num_classes: int | None = None  # classification: number of classes
    num_targets: int | None = None  # regression: number of target columns
    # True when targets are per time step: (T,) labels or (T, K) values per sample,
    # and the model must give one output per step, (B, T, out).
    step_targets: bool = False
    # True when sequences have different lengths: padded at the end, with their lengths
    # handed out next to each batch (the model is called as model(x, lengths)).
    padded: bool = False
    # Graph data: True when each sample is a whole graph with one target (graph
    # classification), False when the targets are the nodes of one graph.
    graph_level: bool = False

    def __post_init__(self) -> None:
        if self.target_kind == "classification" and not (self.num_classes or 0) >= 2:
            raise ValueError(f"classification needs num_classes >= 2, got {self.num_classes}")
        if self.target_kind == "regression" and not (self.num_targets or 0) >= 1:
            raise ValueError(f"regression needs num_targets >= 1, got {self.num_targets}")

    @property
    def in_features(self) -> int:
        """Size of one sample flattened to a vector (what an MLP reads)."""
        return math.prod(self.input_shape)

    @property
    def num_outputs(self) -> int:
        """Default head size: one score per class, or one value per target."""
        if self.target_kind == "classification":
            assert self.num_classes is not None
            return self.num_classes
        assert self.num_targets is not None
        return self.num_targets
