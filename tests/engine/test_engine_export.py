"""engine.report.export: every registered model, on each kind of input it reads, exports to ONNX
with a dynamic batch dimension and ONNX Runtime computes what PyTorch does (on a batch of
3, the example, and of 5); what cannot be exported is refused in one line."""

from __future__ import annotations

import pytest
import torch
from model_examples import MODEL_CASE_IDS, MODEL_CASES, forward_input, make_model, random_graph
from torch_geometric.data import Batch, Data

import zoo
from engine.report import export
from engine.report.export import ExportError, export_onnx, not_exportable, onnx_parity
from zoo import DataSpec

pytestmark = pytest.mark.usefixtures("one_onnx_registry")

# Tiny sizes keep each export near a second; every other option is the default.
TINY = {
    "mlp": {"hidden_size": 8},
    "rnn": {"hidden_size": 8},
    "lstm": {"hidden_size": 8},
    "gru": {"hidden_size": 8},
    "transformer": {"hidden_size": 8, "num_heads": 2},
    "cnn": {"widths": (4, 8), "hidden_size": 8},
    "resnet": {"widths": (4, 8)},
    "gcn": {"hidden_size": 8},
    "sage": {"hidden_size": 8},
    "gat": {"hidden_size": 8, "num_heads": 2},
    "gin": {"hidden_size": 8},
    "gan": {"hidden_size": 8, "d_hidden_size": 8},
    "autoencoder": {"widths": (8,)},
    "vae": {"widths": (8,)},
}
T = 4  # time steps of the sequences


def graph(num_nodes: int, seed: int) -> Data:
    return random_graph(num_nodes, 5, seed, edges_per_node=2)


def spec_of(kind: str) -> DataSpec:
    shape = {"vector": (6,), "image": (1, 4, 4), "sequence": (T, 3)}.get(kind, (5,))
    input_kind = "graph" if kind.startswith("graph") else kind
    return DataSpec(input_kind, shape, "classification", 3, graph_level=kind == "graphs")


def batch_of(kind: str, n: int, lengths: bool = False):
    """n samples of ``kind``: n graphs for "graphs", one graph of 2n + 1 nodes for
    "graph" (node-level), else a tensor batch (with lengths: padded sequences)."""
    if kind == "graph":
        return graph(2 * n + 1, seed=n)
    if kind == "graphs":
        return Batch.from_data_list([graph(4 + i, seed=i) for i in range(n)])
    x = torch.randn(n, *spec_of(kind).input_shape)
    if not lengths:
        return x
    steps = (T - torch.arange(n)).clamp(min=1)  # T, T - 1, ..., 1, 1
    x = x.masked_fill(torch.arange(T)[None, :, None] >= steps[:, None, None], 0.0)
    return x, steps


def build(name: str, kind: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "probe":
        return make_model(name, spec_of(kind))
    return zoo.create_model(name, spec_of(kind), **{**TINY.get(name, {}), **options})


def check_export(tmp_path, name: str, kind: str, lengths: bool = False, **options) -> None:
    model = build(name, kind, **options)
    path = tmp_path / f"{name}.onnx"
    info = export_onnx(model, forward_input(model, batch_of(kind, 3, lengths)), path, name)
    assert info["path"] == str(path) and path.is_file()
    assert info["max_abs_diff"] <= export.TOLERANCE
    assert info["opset"] == export.OPSET
    assert info["inputs"][0] == "x" and ("lengths" in info["inputs"]) == lengths
    assert model.training  # put back as it was
    model.eval()
    diff = onnx_parity(model, path, forward_input(model, batch_of(kind, 5, lengths)))  # dynamic
    assert diff <= export.TOLERANCE, diff


@pytest.mark.parametrize(("name", "kind"), MODEL_CASES, ids=MODEL_CASE_IDS)
def test_every_model_exports_or_is_refused_in_one_line(tmp_path, name: str, kind: str) -> None:
    reason = not_exportable(name)
    if reason is None:
        check_export(tmp_path, name, kind)
        return
    assert reason and "\n" not in reason
    with pytest.raises(ExportError) as e:
        export_onnx(build(name, kind), batch_of(kind, 3), tmp_path / "m.onnx", name)
    assert str(e.value).startswith(f"model '{name}' cannot be exported to ONNX: {reason}")
    assert "\n" not in str(e.value)


# The from-scratch implementations export too: loops over time and im2col unroll into
# fixed-size graphs (T fixed), the batch stays dynamic.
REFERENCE = [
    ("lstm", "sequence"),
    ("gru", "image"),
    ("transformer", "vector"),
    ("cnn", "image"),
    ("gcn", "graphs"),
]


@pytest.mark.parametrize(("name", "kind"), REFERENCE, ids=[f"{n}-{k}" for n, k in REFERENCE])
def test_reference_impls_export(tmp_path, name: str, kind: str) -> None:
    check_export(tmp_path, name, kind, impl="reference")


LENGTHS = [("lstm", "reference"), ("transformer", "fused")]


@pytest.mark.parametrize(("name", "impl"), LENGTHS, ids=[f"{n}-{i}" for n, i in LENGTHS])
def test_padded_sequences_export_with_lengths_as_an_input(tmp_path, name: str, impl: str) -> None:
    check_export(tmp_path, name, "sequence", lengths=True, impl=impl)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_fused_recurrent_kernels_refuse_lengths_in_one_line(tmp_path, name: str) -> None:
    with pytest.raises(ExportError) as e:
        export_onnx(build(name, "sequence"), batch_of("sequence", 3, True), tmp_path / "m", name)
    assert str(e.value).startswith(f"model '{name}' cannot be exported to ONNX: with lengths ")
    assert "export without lengths" in str(e.value) and "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())


def test_a_model_in_the_table_is_refused_with_the_exportable_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(export.NOT_EXPORTABLE, "mlp", "it reads minds")
    with pytest.raises(ExportError) as e:
        export_onnx(build("mlp", "vector"), batch_of("vector", 3), tmp_path / "m.onnx", "mlp")
    message = str(e.value)
    assert message.startswith("model 'mlp' cannot be exported to ONNX: it reads minds; ")
    others = [n for n in zoo.list_models() if n != "mlp"]
    assert message.endswith(f"; exportable models: {', '.join(others)}")
    assert export.exportable_models() == others


def test_a_batch_of_one_is_refused_before_tracing(tmp_path) -> None:
    with pytest.raises(ValueError, match="batch of at least 2"):  # ExportError is a ValueError
        export_onnx(build("mlp", "vector"), batch_of("vector", 1), tmp_path / "m.onnx", "mlp")
    with pytest.raises(ExportError, match="at least 2 graphs"):  # G = 1 would be a constant
        export_onnx(build("gin", "graphs"), batch_of("graphs", 1), tmp_path / "m.onnx", "gin")


def test_a_failed_parity_check_leaves_no_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "m.onnx"
    path.write_text("the previous export")
    monkeypatch.setattr(export, "onnx_parity", lambda *args: 0.5)
    with pytest.raises(ExportError, match=r"computes something else: .* = 0\.5 > 0\.0001$"):
        export_onnx(build("mlp", "vector"), batch_of("vector", 3), path, "mlp")
    assert path.read_text() == "the previous export"  # untouched, and no temporary left
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


# ----------------------------------------------------------------------------- raw data


def run_onnx(path, *inputs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs, strict=True)}
    return torch.from_numpy(session.run(None, feed)[0])


def test_the_run_scaling_is_inside_the_graph_and_named_in_its_metadata(tmp_path) -> None:
    import onnx

    torch.manual_seed(0)
    model = build("mlp", "vector").eval()
    stats = {"x_mean": torch.randn(1, 6) * 5, "x_std": torch.rand(1, 6) + 0.5}
    stats |= {"y_mean": torch.tensor([10.0, -3.0, 0.5]), "y_std": torch.tensor([2.0, 4.0, 1.0])}
    raw = torch.randn(5, 6) * stats["x_std"] + stats["x_mean"]  # the data as a user has it
    info = export_onnx(model, raw, tmp_path / "m.onnx", "mlp", stats=stats)
    with torch.no_grad():  # what training saw, then the targets' own units
        expected = (
            model((raw - stats["x_mean"]) / stats["x_std"]) * stats["y_std"] + stats["y_mean"]
        )
    got = run_onnx(tmp_path / "m.onnx", raw)
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got, model(raw), atol=1e-1)  # the scaling does something
    saved = onnx.load(tmp_path / "m.onnx")
    said = {p.key: p.value for p in saved.metadata_props}["preprocessing"]
    assert said == info["preprocessing"] and "own units" in said and "y_std" in said
    assert saved.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert saved.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_without_stats_the_metadata_says_what_scaling_the_file_expects(tmp_path) -> None:
    import onnx

    export_onnx(build("mlp", "vector"), batch_of("vector", 3), tmp_path / "m.onnx", "mlp")
    saved = onnx.load(tmp_path / "m.onnx")
    said = {p.key: p.value for p in saved.metadata_props}["preprocessing"]
    assert "(x - x_mean) / x_std" in said and "data_stats" in said


def test_padded_steps_stay_zero_after_the_scaling_inside_the_graph(tmp_path) -> None:
    model = build("transformer", "sequence").eval()
    stats = {"x_mean": torch.full((1, 1, 3), 2.0), "x_std": torch.full((1, 1, 3), 3.0)}
    x, steps = batch_of("sequence", 4, lengths=True)
    raw = x * 3.0 + 2.0  # padded steps hold 2.0 now: the graph must zero them again
    export_onnx(model, (raw, steps), tmp_path / "m.onnx", "transformer", stats=stats)
    with torch.no_grad():
        expected = model(x, steps)
    assert torch.allclose(run_onnx(tmp_path / "m.onnx", raw, steps), expected, atol=1e-4)


def test_graph_axes_are_named_nodes_and_edges_and_node_features_scaled(tmp_path) -> None:
    import onnx

    stats = {"x_mean": torch.full((1, 5), 1.5), "x_std": torch.full((1, 5), 2.0)}
    path = tmp_path / "m.onnx"
    info = export_onnx(build("gcn", "graphs"), batch_of("graphs", 3), path, "gcn", stats=stats)
    assert info["max_abs_diff"] <= export.TOLERANCE
    inputs = {i.name: i.type.tensor_type.shape.dim for i in onnx.load(path).graph.input}
    assert inputs["x"][0].dim_param == "nodes" and inputs["batch"][0].dim_param == "nodes"
    assert inputs["edge_index"][1].dim_param == "edges"
