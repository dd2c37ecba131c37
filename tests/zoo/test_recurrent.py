"""zoo.recurrent: the cells and stack against nn.RNN/LSTM/GRU, both impls, padding, TBPTT."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import zoo
import zoo.recurrent  # registers rnn, lstm and gru
from zoo import DataSpec
from zoo.recurrent import (
    GRUCell,
    LSTMCell,
    RecurrentNet,
    RecurrentStack,
    RNNCell,
    detach_state,
)
from zoo.sequence import SEQUENCE_INPUT_KINDS

FAMILIES = ("rnn", "lstm", "gru")
FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
OUR_CELLS = {"rnn": RNNCell(), "lstm": LSTMCell(), "gru": GRUCell()}
F_IN, H, K = 3, 4, 2  # tiny: features per step, hidden size, outputs
LENGTHS = torch.tensor([5, 2, 4, 1])  # B = 4, T = 5: one full, one single step


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_state(mode: str, rows: int, batch: int, dtype=torch.float64):
    h = torch.randn(rows, batch, H, dtype=dtype)
    return (h, torch.randn_like(h)) if mode == "lstm" else h


# --- Cells: literal values, and one step against PyTorch's cells.


def test_cells_with_zero_weights() -> None:
    x, h, c = torch.randn(2, F_IN), torch.randn(2, H), torch.randn(2, H)
    w = lambda g: (torch.zeros(g * H, F_IN), torch.zeros(g * H, H))  # noqa: E731
    # All gates σ(0) = 1/2, candidate tanh(0) = 0.
    h1, c1 = LSTMCell()(x, (h, c), *w(4), torch.zeros(4 * H), torch.zeros(4 * H))
    torch.testing.assert_close(c1, 0.5 * c)
    torch.testing.assert_close(h1, 0.5 * torch.tanh(0.5 * c))
    torch.testing.assert_close(
        GRUCell()(x, h, *w(3), torch.zeros(3 * H), torch.zeros(3 * H)), h / 2
    )
    b_ih = torch.ones(H)
    torch.testing.assert_close(
        RNNCell()(x, h, *w(1), b_ih, torch.zeros(H)), torch.tanh(b_ih).expand(2, H)
    )
    torch.testing.assert_close(
        RNNCell("relu")(x, h, *w(1), -b_ih, torch.zeros(H)), torch.zeros(2, H)
    )


@pytest.mark.parametrize("mode", FAMILIES)
def test_cell_matches_pytorch_cell(mode: str) -> None:
    torch.manual_seed(0)
    theirs = TORCH_CELLS[mode](F_IN, H).double()
    weights = (theirs.weight_ih, theirs.weight_hh, theirs.bias_ih, theirs.bias_hh)
    x, state = torch.randn(3, F_IN).double(), random_state(mode, 1, 3)
    state = tuple(s[0] for s in state) if mode == "lstm" else state[0]
    ours = OUR_CELLS[mode](x, state, *weights)
    for a, b in zip(as_tuple(ours), as_tuple(theirs(x, state)), strict=True):
        torch.testing.assert_close(a, b)


# --- The stack against nn.RNN / nn.LSTM / nn.GRU with copied weights.


@pytest.mark.parametrize("lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("mode", FAMILIES)
def test_stack_matches_pytorch(mode: str, num_layers: int, bidirectional: bool, lengths: bool):
    torch.manual_seed(0)
    fused = FUSED[mode](F_IN, H, num_layers, batch_first=True, bidirectional=bidirectional)
    ours = RecurrentStack(mode, F_IN, H, num_layers, bidirectional)
    assert list(ours.state_dict()) == list(fused.state_dict())
    ours.load_state_dict(fused.state_dict())
    fused, ours = fused.double(), ours.double()
    D = 2 if bidirectional else 1
    x = torch.randn(4, 5, F_IN, dtype=torch.float64)
    state = random_state(mode, num_layers * D, 4)
    out_w = torch.randn(4, 5, D * H, dtype=torch.float64)  # random weights for a scalar loss
    state_w = [torch.randn_like(s) for s in as_tuple(state)]

    def run(model: nn.Module) -> dict[str, torch.Tensor]:
        xg = x.clone().requires_grad_()
        if not lengths:
            out, final = model(xg, state)
        elif model is ours:
            out, final = model(xg, state, lengths=LENGTHS)
        else:
            packed = pack_padded_sequence(xg, LENGTHS, batch_first=True, enforce_sorted=False)
            out, final = model(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=5)
        final = as_tuple(final)
        loss = (out * out_w).sum() + sum((s * w).sum() for s, w in zip(final, state_w, strict=True))
        loss.backward()
        grads = {f"grad {name}": p.grad for name, p in model.named_parameters()}
        return {"output": out, **dict(enumerate(final)), "grad x": xg.grad, **grads}

    expected, got = run(fused), run(ours)
    assert got.keys() == expected.keys()
    for key, value in got.items():
        torch.testing.assert_close(value, expected[key], atol=1e-10, rtol=1e-8, msg=str(key))
    if lengths:  # padded steps: zero output, and no gradient reaches the input there
        padded = torch.arange(5)[None, :] >= LENGTHS[:, None]
        assert (got["output"][padded] == 0).all() and (got["grad x"][padded] == 0).all()


def test_dropout_between_layers_only_in_training() -> None:
    torch.manual_seed(0)
    stack = RecurrentStack("lstm", F_IN, 16, num_layers=2, dropout=0.5)
    x = torch.randn(2, 5, F_IN)
    assert not torch.equal(stack(x)[0], stack(x)[0])
    stack.eval()
    assert torch.equal(stack(x)[0], stack(x)[0])
    one_layer = RecurrentStack("lstm", F_IN, 16, num_layers=1, dropout=0.5)  # nothing to drop
    assert torch.equal(one_layer(x)[0], one_layer(x)[0])


@pytest.mark.parametrize("mode", FAMILIES)
def test_one_layer_dropout_does_not_warn(mode: str) -> None:
    spec = DataSpec("sequence", (5, F_IN), "classification", num_classes=K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.create_model(mode, spec, hidden_size=H, dropout=0.3)


# --- The model: both impls, padding, summary and per-step outputs.


def pair(mode: str, bidirectional: bool = False, num_layers: int = 2, **kwargs):
    """A fused and a reference model holding the same weights."""
    fused = RecurrentNet(mode, F_IN, K, H, num_layers, bidirectional, impl="fused", **kwargs)
    ref = RecurrentNet(mode, F_IN, K, H, num_layers, bidirectional, impl="reference", **kwargs)
    assert list(ref.state_dict()) == list(fused.state_dict())
    ref.load_state_dict(fused.state_dict())
    return fused, ref


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", FAMILIES)
def test_impls_agree_on_same_state_dict(mode: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    fused, ref = pair(mode, bidirectional)
    x = torch.randn(4, 5, F_IN)
    for step_outputs in (False, True):
        fused.step_outputs = ref.step_outputs = step_outputs
        for lengths in (None, LENGTHS):
            torch.testing.assert_close(ref(x, lengths), fused(x, lengths), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", FAMILIES)
def test_same_seed_same_initial_weights(mode: str) -> None:
    """The reference stack draws its init like nn.RNN/LSTM/GRU, parameter by parameter."""
    spec = DataSpec("vector", (6,), "regression", num_targets=1)
    weights = []
    for impl in ("fused", "reference"):
        torch.manual_seed(0)
        weights.append(zoo.create_model(mode, spec, hidden_size=H, impl=impl).state_dict())
    fused, ref = weights
    assert fused.keys() == ref.keys()
    for name in fused:
        assert torch.equal(fused[name], ref[name]), name


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", FAMILIES)
def test_padding_does_not_change_real_steps(mode: str, bidirectional: bool, impl: str) -> None:
    torch.manual_seed(0)
    model = RecurrentNet(mode, F_IN, K, H, 2, bidirectional, impl=impl).double()
    x = torch.randn(4, 7, F_IN, dtype=torch.float64)  # 2+ garbage steps after each sequence
    for step_outputs in (False, True):
        model.step_outputs = step_outputs
        batch = model(x, LENGTHS)
        for i, n in enumerate(LENGTHS.tolist()):
            alone = model(x[i : i + 1, :n])  # the sequence by itself, no padding
            got = batch[i : i + 1, :n] if step_outputs else batch[i : i + 1]
            torch.testing.assert_close(got, alone)


def test_summary_is_final_states_of_both_directions() -> None:
    torch.manual_seed(0)
    model = RecurrentNet("gru", F_IN, K, H, 1, bidirectional=True, impl="reference")
    x = torch.randn(3, 5, F_IN)
    out, _ = model.rnn(x)  # (B, T, 2H)
    summary = torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=1)  # last forward, first backward
    torch.testing.assert_close(model(x), model.head(summary))


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_forget_bias(impl: str) -> None:
    spec = DataSpec("vector", (6,), "classification", num_classes=K)
    model = zoo.create_model("lstm", spec, hidden_size=H, num_layers=2, impl=impl, forget_bias=1.0)
    for name, p in model.rnn.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.equal(p[H : 2 * H], torch.ones(H)), name
            assert p[:H].abs().max() <= H**-0.5  # the other gates keep PyTorch's init
    plain = zoo.create_model("lstm", spec, hidden_size=H, impl=impl, forget_bias=None)
    assert plain.rnn.bias_ih_l0.abs().max() <= H**-0.5


# --- Truncated BPTT.


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("mode", FAMILIES)
def test_forward_window_chain_equals_forward(mode: str, impl: str) -> None:
    torch.manual_seed(0)
    model = RecurrentNet(mode, F_IN, K, H, num_layers=2, impl=impl).double()
    x = torch.randn(3, 9, F_IN, dtype=torch.float64, requires_grad=True)
    for step_outputs in (False, True):
        model.step_outputs = step_outputs
        full = model(x)
        state, outs = None, []
        for start in range(0, 9, 4):  # windows of 4, 4 and 1 steps; state not detached
            out, state = model.forward_window(x[:, start : start + 4], state)
            outs.append(out)
        chained = torch.cat(outs, dim=1) if step_outputs else outs[-1]
        torch.testing.assert_close(chained, full)
        (grad_full,) = torch.autograd.grad(full.sum(), x)
        (grad_chained,) = torch.autograd.grad(chained.sum(), x)
        torch.testing.assert_close(grad_chained, grad_full)
    h = state[0] if mode == "lstm" else state
    assert h.shape == (2, 3, H)  # nn.LSTM's layout: (L·D, B, H)


def test_detach_state() -> None:
    h = torch.randn(1, 2, H, requires_grad=True) * 2
    c = torch.randn(1, 2, H, requires_grad=True) * 2
    hd = detach_state(h)
    assert not hd.requires_grad and torch.equal(hd, h)
    pair_d = detach_state((h, c))
    assert isinstance(pair_d, tuple) and len(pair_d) == 2
    assert not any(s.requires_grad for s in pair_d) and torch.equal(pair_d[1], c)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_forward_window_rejects_bidirectional(impl: str) -> None:
    model = RecurrentNet("lstm", F_IN, K, H, bidirectional=True, impl=impl)
    with pytest.raises(ValueError, match="truncated BPTT needs a unidirectional model"):
        model.forward_window(torch.randn(2, 3, F_IN))


# --- Reading data, builders, configs, errors.


def test_reads_images_as_rows_and_vectors_as_steps() -> None:
    torch.manual_seed(0)
    image = DataSpec("image", (1, 8, 8), "classification", num_classes=10)
    assert zoo.create_model("gru", image, hidden_size=H).rnn.input_size == 8
    vector = DataSpec("vector", (6,), "classification", num_classes=10)
    assert zoo.create_model("gru", vector, hidden_size=H).rnn.input_size == 1

    model = RecurrentNet("gru", 8, K, H, step_outputs=True)
    x = torch.randn(2, 1, 8, 8)
    assert model(x).shape == (2, 8, K)  # 8 steps: one per row
    torch.testing.assert_close(model(x), model(x[:, 0]))  # (B, 8 rows, 8 pixels)
    model = RecurrentNet("gru", 1, K, H, step_outputs=True)
    v = torch.randn(2, 6)
    assert model(v).shape == (2, 6, K)  # 6 steps of 1 feature
    torch.testing.assert_close(model(v), model(v.unsqueeze(-1)))


@pytest.mark.parametrize("mode", FAMILIES)
def test_registered_with_step_outputs(mode: str) -> None:
    assert zoo.model_input_kinds(mode) == SEQUENCE_INPUT_KINDS
    spec = DataSpec("sequence", (5, F_IN), "classification", num_classes=K, step_targets=True)
    model = zoo.create_model(mode, spec, hidden_size=H, num_layers=2, bidirectional=True)
    assert model.step_outputs and model(torch.randn(4, 5, F_IN), LENGTHS).shape == (4, 5, K)
    regression = DataSpec("sequence", (5, F_IN), "regression", num_targets=3)
    assert zoo.create_model(mode, regression, hidden_size=H)(torch.randn(4, 5, F_IN)).shape == (
        4,
        3,
    )


def test_builder_passes_fields() -> None:
    spec = DataSpec("sequence", (5, F_IN), "classification", num_classes=K)
    rnn = zoo.create_model(
        "rnn", spec, hidden_size=H, num_layers=3, nonlinearity="relu", dropout=0.1
    )
    assert (rnn.rnn.nonlinearity, rnn.rnn.num_layers, rnn.rnn.dropout) == ("relu", 3, 0.1)
    ref = zoo.create_model("rnn", spec, hidden_size=H, nonlinearity="relu", impl="reference")
    assert isinstance(ref.rnn, RecurrentStack) and ref.rnn.cell.nonlinearity == "relu"
    gru = zoo.create_model("gru", spec, hidden_size=H, bidirectional=True, out_features=1)
    assert gru.bidirectional and gru.head.in_features == 2 * H and gru.head.out_features == 1


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        ("lstm", {"impl": "cudnn"}, "lstm impl must be one of fused, reference; got 'cudnn'"),
        ("gru", {"dropout": 1.0}, r"gru dropout must be in \[0, 1\), got 1.0"),
        ("rnn", {"dropout": -0.1}, "rnn dropout"),
        ("lstm", {"num_layers": 0}, "lstm num_layers must be >= 1, got 0"),
        ("gru", {"hidden_size": 0}, "gru hidden_size must be >= 1, got 0"),
        (
            "rnn",
            {"nonlinearity": "sigmoid"},
            "rnn nonlinearity must be one of tanh, relu; got 'sigmoid'",
        ),
    ],
)
def test_builder_argument_errors(mode: str, kwargs: dict, message: str) -> None:
    spec = DataSpec("vector", (6,), "classification", num_classes=K)
    with pytest.raises(ValueError, match=message):
        zoo.create_model(mode, spec, **kwargs)


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        ("elman", {}, "recurrent mode must be one of rnn, lstm, gru; got 'elman'"),
        ("lstm", {"nonlinearity": "relu"}, "nonlinearity is an rnn option"),
        ("gru", {"forget_bias": 1.0}, "forget_bias is an lstm option; gru has no forget gate"),
    ],
)
def test_model_argument_errors(mode: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecurrentNet(mode, F_IN, K, **kwargs)
