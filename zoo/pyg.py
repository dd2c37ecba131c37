"""PyTorch Geometric, imported only where a graph is built or read.

Importing it costs about a second, so runs on other data never pay for it: the graph
models (``zoo/gnn.py``) and the graph datasets (``engine/data/graphs.py``) call
:func:`import_pyg` inside the functions that need it.
"""

from __future__ import annotations

import warnings


def import_pyg() -> None:
    """Import torch_geometric, without the FutureWarning its import raises about
    ``torch.jit.script`` (PyG's own use of it, nothing a user can act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import torch_geometric  # noqa: F401
