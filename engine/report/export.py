"""ONNX export of a trained model, checked by running the exported file against PyTorch.

ONNX (Open Neural Network Exchange, https://onnx.ai) stores a network as a graph of
standard operators plus its weights, which runtimes other than PyTorch execute; ONNX
Runtime (https://onnxruntime.ai) is the reference one. Export takes two steps, those
of ``torch.onnx.export(..., dynamo=True)`` (PyTorch's default exporter since 2.9):

1. ``torch.export.export`` runs ``forward`` once on example inputs whose batch size is
   a symbol B and records every ATen operator it calls: one graph, Python control flow
   unrolled (a loop over T time steps becomes T copies of the cell, so T is fixed).
2. onnxscript's torch_lib translates each ATen operator into ONNX operators of opset
   ``OPSET``.

The exported model takes the data as the user has it. Training saw scaled inputs
(and, for regression, scaled targets: :func:`engine.data.build_data`); given the run's
``stats``, the graph starts and ends with that scaling (:class:`OnRawData`):

    x̃ = (x − x_mean) / x_std,   ỹ = f(x̃),   y = ỹ · y_std + y_mean

The file says so in its metadata (``preprocessing``), and its dynamic axes carry names
(``batch``; for graphs ``nodes`` and ``edges``) instead of the exporter's ``s77``.

Then the parity check: ONNX Runtime runs the file on the example inputs and

    max_abs_diff = max |y_onnx − y_torch| <= ``TOLERANCE``

or :class:`ExportError`. Float32 kernels sum in different orders, so the two differ by
rounding (~1e-7 for the zoo's models); a wrong translation differs by far more. (The
older TorchScript exporter, ``dynamo=False``, is faster but fails this check: its
GNN exports were off by up to 1, and it cannot translate a graph-level readout.)

ONNX inputs are tensors, never Python objects, so the inputs become:

* a batch ``x``: input ``x``, its dimension 0 dynamic;
* padded sequences ``(x, lengths)``: inputs ``x`` and ``lengths``, both dynamic in B
  (T stays fixed). A model that packs them for a fused kernel (it declares
  ``packs_lengths``, :mod:`zoo.capabilities`) does not export: see
  ``FUSED_RNN_WITH_LENGTHS``;
* a PyG ``Data`` (one graph, node-level) or ``Batch`` (graph-level) for a GNN: inputs
  ``x`` (N, F) and ``edge_index`` (2, E), plus ``batch`` (N,) and ``ptr`` (G + 1,) for a
  ``Batch`` (:class:`GraphInputs`), with N, E and G dynamic (so the example needs >= 2
  graphs). ``target_nodes`` is not an input: the export scores every node.

Usage::

    from engine.report.export import export_onnx
    info = export_onnx(model, x, Path("model.onnx"), "mlp")  # x: a batch of >= 2 inputs
    info["max_abs_diff"]  # e.g. 6e-08; the file's one output is named "y"
    export_onnx(model, x_raw, path, "mlp", stats=data.stats)  # the run's scaling inside
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import zoo
from engine.errors import ZooError
from zoo.modes import eval_mode

OPSET = 18  # what onnxscript's torch_lib translates to (torch.onnx's default)
TOLERANCE = 1e-4  # the largest max |y_onnx − y_torch| accepted

# Registered models that cannot be exported, each with why. Every zoo model exports
# today (GNNs through GraphInputs); a model added here is refused in one line.
NOT_EXPORTABLE: dict[str, str] = {}

FUSED_RNN_WITH_LENGTHS = (
    "with lengths the fused kernel packs the batch (pack_padded_sequence), whose sizes "
    "depend on the lengths' values; export without lengths, or build the model with "
    "impl=reference (the same parameters: its checkpoint loads) to keep them"
)


class ExportError(ZooError, ValueError):
    """A model that cannot be exported, or whose export computes something else (a
    ZooError: entry points print it as one line)."""


def not_exportable(model_name: str) -> str | None:
    """Why registered model ``model_name`` cannot be exported to ONNX; None if it can."""
    return NOT_EXPORTABLE.get(model_name)


def exportable_models() -> list[str]:
    """The registered models that export: all but those in ``NOT_EXPORTABLE``."""
    return [name for name in zoo.list_models() if name not in NOT_EXPORTABLE]


# ----------------------------------------------------------------------------- scaling


class OnRawData(nn.Module):
    """``module`` with the run's scaling inside: it takes inputs in the data's own units
    and gives regression outputs in the targets' own units.

        x̃ = (x − x_mean) / x_std,   ỹ = f(x̃),   y = ỹ · y_std + y_mean

    ``stats`` are those fitted on the training split (``x_mean``/``x_std``, and
    ``y_mean``/``y_std`` for regression; absent ones are skipped). Padded sequences
    ``(x, lengths)`` keep zeros on their padded steps (t >= length), as in training.

    Shapes:
        x as ``module`` reads it (the stats broadcast: ``(1, F)``, ``(1, C, 1, 1)`` or
        ``(1, 1, F)``); the other inputs are passed on unchanged.
    """

    def __init__(self, module: nn.Module, stats: dict[str, Tensor], padded: bool) -> None:
        super().__init__()
        self.module, self.padded = module, padded
        self.scales_x, self.scales_y = "x_mean" in stats, "y_mean" in stats
        for key in ("x_mean", "x_std", "y_mean", "y_std"):
            if key in stats:
                self.register_buffer(key, stats[key].detach().float().clone())

    def forward(self, x: Tensor, *rest: Tensor) -> Tensor:
        if self.scales_x:
            x = (x - self.x_mean) / self.x_std
        if self.padded:  # (B, T, F): padded steps back to 0
            steps = torch.arange(x.shape[1], device=x.device)
            x = x.masked_fill((steps[None, :] >= rest[0][:, None])[..., None], 0.0)
        y = self.module(x, *rest)
        return y * self.y_std + self.y_mean if self.scales_y else y


def preprocessing(stats: dict[str, Tensor] | None) -> str:
    """What the exported file expects of its inputs, in one line (its metadata)."""
    if stats is None:
        return (
            "inputs as the model saw them in training: scaled with the run's training "
            "statistics (data_stats in its checkpoint), x_scaled = (x - x_mean) / x_std"
        )
    said = "none: give the data in its own units; the graph scales x with the training split's"
    said += " statistics, (x - x_mean) / x_std" if "x_mean" in stats else " (no scaling: none)"
    if "y_mean" in stats:
        said += ", and gives y in the targets' own units (y * y_std + y_mean)"
    return said


# ----------------------------------------------------------------------------- graphs


class GraphInputs(nn.Module):
    """A GNN called on plain tensors: rebuilds the PyG ``Data`` the GNN reads.

    Only ``ptr``'s length is read, G + 1 for G graphs (graph g's nodes are
    ``ptr[g]..ptr[g+1]-1``): as a shape, the exporter keeps G symbolic, where a number
    of graphs passed as a value would be frozen at the example's.

    Shapes:
        x ``(N, F)``, edge_index ``(2, E)``; graph-level also batch ``(N,)`` and
        ptr ``(G + 1,)``. Output ``(N, K)`` node-level, ``(G, K)`` graph-level.
    """

    def __init__(self, gnn: nn.Module) -> None:
        super().__init__()
        self.gnn = gnn

    def forward(
        self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None, ptr: Tensor | None = None
    ) -> Tensor:
        from torch_geometric.data import Data

        if batch is None:
            return self.gnn(Data(x=x, edge_index=edge_index))
        return self.gnn(Data(x=x, edge_index=edge_index, batch=batch, num_graphs=ptr.shape[0] - 1))


def _bincount(self: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """``aten.bincount`` as a scatter-add into ``minlength`` bins.

    bincount's length is max(self) + 1, known only at run time, and the ONNX translation
    cannot size it from a symbolic ``minlength``. The GNN readout counts the nodes of
    each of G graphs, ``bincount(batch, minlength=G)`` with every value < G: there the
    two agree.
    """
    ones = torch.ones_like(self) if weights is None else weights
    return torch.zeros(minlength, dtype=ones.dtype, device=self.device).index_add(0, self, ones)


# ----------------------------------------------------------------------------- export


def _is_graph(inputs: Any) -> bool:
    """Whether ``inputs`` is a PyG ``Data`` or ``Batch``. PyG is imported only where a
    graph is built (:mod:`zoo.pyg`): if it is not loaded, no input can be a graph."""
    pyg_data = sys.modules.get("torch_geometric.data")
    return pyg_data is not None and isinstance(inputs, pyg_data.Data)


def onnx_inputs(
    model: nn.Module, example_inputs: Any, stats: dict[str, Tensor] | None = None
) -> tuple[nn.Module, tuple[Tensor, ...], list[str], tuple[dict[int, Any], ...]]:
    """What is exported for ``model`` called on ``example_inputs``: the module (with the
    run's scaling inside, given ``stats``), its tensor inputs, their names and their
    dynamic dimensions."""
    module, args, names, dims = _tensor_inputs(model, example_inputs)
    if stats is not None:
        module = OnRawData(module, stats, padded="lengths" in names)
    return module, args, names, dims


# The names of the dynamic axes: input -> {dimension: name}.
AXIS_NAMES = {
    "x": {0: "batch"},
    "lengths": {0: "batch"},
    "edge_index": {1: "edges"},
    "batch": {0: "nodes"},
}
GRAPH_AXIS_NAMES = {**AXIS_NAMES, "x": {0: "nodes"}}


def _tensor_inputs(
    model: nn.Module, example_inputs: Any
) -> tuple[nn.Module, tuple[Tensor, ...], list[str], tuple[dict[int, Any], ...]]:
    dyn = torch.export.Dim.DYNAMIC
    if _is_graph(example_inputs):
        data = example_inputs
        if data.batch is None:  # one graph (node-level data)
            args = (data.x, data.edge_index)
        else:  # a Batch of graphs (graph-level data)
            counts = torch.bincount(data.batch, minlength=data.num_graphs)  # (G,)
            ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (G + 1,)
            args = (data.x, data.edge_index, data.batch, ptr)
        names = ["x", "edge_index", "batch", "ptr"][: len(args)]
        dims = {"x": {0: dyn}, "edge_index": {1: dyn}, "batch": {0: dyn}, "ptr": {0: dyn}}
        return GraphInputs(model), args, names, tuple(dims[name] for name in names)
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    names = ["x", "lengths"][: len(args)]
    return model, args, names, tuple({0: dyn} for _ in args)


def _refusal(
    model: nn.Module, model_name: str, args: tuple[Tensor, ...], names: list[str], dims: tuple
) -> str:
    """Why these inputs cannot be exported (known in advance), or ""."""
    if (
        "lengths" in names
        and "packs_lengths" in zoo.model_capabilities(model_name)
        and model.packs_lengths  # zoo.capabilities.PacksLengths: whether this instance packs
    ):
        return FUSED_RNN_WITH_LENGTHS
    # torch.export specializes sizes 0 and 1 to constants, G = len(ptr) - 1 included.
    if "ptr" in names and args[3].shape[0] < 3:
        return "a graph-level model needs an example Batch of at least 2 graphs"
    for name, t, dim in zip(names, args, dims, strict=True):
        for d in dim:
            if t.shape[d] < 2:
                return (
                    f"input '{name}' has size {t.shape[d]} in its dynamic dimension {d}; "
                    "give example inputs with a batch of at least 2"
                )
    return ""


def _root_cause(e: BaseException) -> str:
    """The innermost error's first line: torch.onnx wraps it in layers of advice."""
    while e.__cause__ is not None:
        e = e.__cause__
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


@torch.no_grad()
def onnx_parity(
    model: nn.Module,
    path: Path | str,
    example_inputs: Any,
    stats: dict[str, Tensor] | None = None,
) -> float:
    """max |y_onnx − y_torch| of ``model`` (as it is: call ``eval()`` first; with the
    run's scaling before and after it, given ``stats``) and the ONNX file at ``path``,
    both run on ``example_inputs`` (ONNX Runtime, CPU)."""
    import onnxruntime as ort

    module, args, _, _ = onnx_inputs(model, example_inputs, stats)
    expected = module(*args).cpu().numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: t.cpu().numpy() for i, t in zip(session.get_inputs(), args, strict=True)}
    got = session.run(None, feed)[0]
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected).max(initial=0.0))


def export_onnx(
    model: nn.Module,
    example_inputs: Any,
    path: Path | str,
    model_name: str,
    stats: dict[str, Tensor] | None = None,
) -> dict[str, Any]:
    """Export ``model`` in eval mode to ``path``, then check the file against PyTorch.

    Args:
        model: a model of the zoo (or any module called ``model(*inputs)``).
        example_inputs: one batch as the model reads it, of at least 2 samples: a
            tensor ``x``, a tuple ``(x, lengths)``, or a PyG ``Data``/``Batch`` (GNNs).
        path: where to write the ``.onnx`` file (atomically, once it passed the check).
        model_name: the model's registered name: what it declares (``packs_lengths``),
            ``NOT_EXPORTABLE`` and messages.
        stats: the run's scaling (``DataModule.stats``), put inside the graph
            (:class:`OnRawData`); ``example_inputs`` are then in the data's own units.
            None: the file takes inputs scaled as in training, and its metadata says so.

    Returns:
        ``{"path": str, "max_abs_diff": float, "opset": int, "inputs": [names],
        "preprocessing": str}``.

    Raises:
        ExportError: the model or its inputs cannot be exported, or the exported file's
            outputs differ from PyTorch's by more than ``TOLERANCE``.
    """
    import onnx

    def refuse(reason: str) -> ExportError:
        return ExportError(f"model '{model_name}' cannot be exported to ONNX: {reason}")

    reason = not_exportable(model_name)
    if reason is not None:
        exportable = ", ".join(exportable_models()) or "none"
        raise refuse(f"{reason}; exportable models: {exportable}")
    path = Path(path)
    tmp: str | None = None
    with eval_mode(model):  # dropout off, batch norm on its running statistics
        try:
            module, args, names, dims = onnx_inputs(model, example_inputs, stats)
            reason = _refusal(model, model_name, args, names, dims)
            if reason:
                raise refuse(reason)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tracer notes a user cannot act on
                    if isinstance(module, OnRawData) and len(dims) > 1:
                        dims = (dims[0], dims[1:])  # forward(x, *rest): the rest as one
                    program = torch.export.export(module, args, dynamic_shapes=dims, strict=False)
                    bincount = torch.ops.aten.bincount.default
                    if any(node.target is bincount for node in program.graph.nodes):
                        program = program.run_decompositions({bincount: _bincount})
                    onnx_program = torch.onnx.export(
                        program,
                        args,
                        input_names=names,
                        output_names=["y"],
                        opset_version=OPSET,
                        verbose=False,
                    )
                name_axes(onnx_program, names)
                onnx_program.model.metadata_props["preprocessing"] = preprocessing(stats)
            except Exception as e:
                raise refuse(_root_cause(e)) from None
            # Written beside ``path``, checked, then renamed over it: a rename within one file
            # system is atomic, so ``path`` never holds half a model, nor one that failed.
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            onnx_program.save(tmp, external_data=False)  # the weights inside the one file
            try:
                diff = onnx_parity(model, tmp, example_inputs, stats)
            except Exception as e:  # ONNX Runtime refuses the graph or fails running it
                raise ExportError(
                    f"model '{model_name}' exported to ONNX fails in ONNX Runtime: {_root_cause(e)}"
                ) from None
            if not diff <= TOLERANCE:
                raise ExportError(
                    f"model '{model_name}' exported to ONNX computes something else: "
                    f"max |onnx - torch| = {diff:.3g} > {TOLERANCE}"
                )
            opset = next(
                o.version for o in onnx.load(tmp).opset_import if o.domain in ("", "ai.onnx")
            )
            os.replace(tmp, path)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    return {
        "path": str(path),
        "max_abs_diff": diff,
        "opset": opset,
        "inputs": names,
        "preprocessing": preprocessing(stats),
    }


def name_axes(onnx_program: Any, names: list[str]) -> None:
    """Give the dynamic axes of the exported inputs (and wherever the same symbol
    appears, outputs included) their names: ``batch``, ``nodes``, ``edges``."""
    axis_names = GRAPH_AXIS_NAMES if "edge_index" in names else AXIS_NAMES
    mapping = {}
    for value in onnx_program.model.graph.inputs:
        for dim, name in axis_names.get(value.name, {}).items():
            symbol = value.shape[dim]
            if not isinstance(symbol, int) and isinstance(symbol.value, str):
                mapping.setdefault(symbol.value, name)
    onnx_program.rename_axes(mapping)
