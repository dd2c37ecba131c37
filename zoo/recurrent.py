"""Recurrent networks: Elman RNN, LSTM and GRU, as readable cells or PyTorch's fused kernels.

A recurrent network reads a sequence x_1..x_T one step at a time and carries a state
that summarizes the steps seen so far:

* RNN (Elman, 1990, "Finding structure in time"): h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).
* LSTM (Hochreiter & Schmidhuber, 1997, "Long short-term memory", with the forget gate
  of Gers, Schmidhuber & Cummins, 2000): a cell state updated by gated addition,
  c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, read out as h_t = o_t ⊙ tanh(c_t).
* GRU (Cho et al., 2014, "Learning phrase representations using RNN encoder-decoder"):
  one state, a gated mix of its old value and a candidate, h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}.

Training unrolls the recursion over the T steps and backpropagates through the
unrolled graph: backpropagation through time (Werbos, 1990, "Backpropagation through
time: what it does and how to do it").

Why the gates matter. In the tanh RNN the gradient that step t receives from step
t + k is a product of k Jacobians ∂h_s/∂h_{s-1} = diag(1 − h_s²) W_hh. Every factor
passes through the same matrix W_hh and a tanh' ≤ 1, so over many steps the product
shrinks geometrically (or grows, if W_hh is large): the gradient of a distant step
vanishes and the network cannot learn long-range dependencies (Bengio, Simard &
Frasconi, 1994). The LSTM's cell state has a second path, c_t = f_t ⊙ c_{t-1} + ...,
whose Jacobian along that path is just diag(f_t): no weight matrix, no squashing. While
the forget gate stays near 1 the error flows back almost unchanged (the "constant
error carousel"), and the network learns when to let it decay. The GRU's update has
the same shape: ∂h_t/∂h_{t-1} contains diag(z_t), so with z_t ≈ 1 the state, and its
gradient, are copied across the step. Additive, gated updates turn the long product
into something the gates control.

Two implementations with one set of parameters: ``impl="fused"`` runs PyTorch's
nn.RNN / nn.LSTM / nn.GRU (one C++/cuDNN kernel); ``impl="reference"`` runs the cells
of :mod:`zoo.recurrent_cells` in a Python loop over time. Its :class:`RecurrentStack`
names, shapes and orders its parameters as PyTorch does (``weight_ih_l0``,
``weight_hh_l0_reverse``, ...; LSTM gates i, f, g, o and GRU gates r, z, n stacked in
that order), so a checkpoint trained with one impl loads into the other, and the
tests check that both agree.

Variable-length batches come padded at the end with their ``lengths``: the fused path
packs them (``pack_padded_sequence``), the reference path masks the padded steps;
both give the same outputs. :meth:`RecurrentNet.forward_window` runs one window of
truncated BPTT (Williams & Peng, 1990) from a carried state.

Shapes, in one notation: B batch, T steps, F input features, H hidden size, G gates
(1 rnn, 4 lstm, 3 gru), L layers, D directions (1, or 2 if bidirectional), K outputs.

Where it continues: the readable cells and the stack that runs them are
zoo/recurrent_cells.py, how every sequence model reads its input zoo/sequence.py; padded
batches and their ``lengths`` come from engine/data/core.py, the sequence datasets
(adding, copy, sine) from engine/data/sequences.py; truncated BPTT
(``trainer.tbptt_window``) and gradient clipping run in engine/trainer.py.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.checks import IMPLS, check_choice, check_sizes
from zoo.factory import register_model
from zoo.recurrent_cells import GRUCell, LSTMCell, RecurrentStack, RNNCell, State, check_args
from zoo.sequence import SEQUENCE_INPUT_KINDS, as_sequence, detach_state, sequence_shape
from zoo.spec import DataSpec

__all__ = [
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RecurrentNet",
    "RecurrentStack",
    "build_gru",
    "build_lstm",
    "build_rnn",
    "detach_state",
]

FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# --- The model: a recurrent stack read by a linear head.


class RecurrentNet(nn.Module):
    """An RNN, LSTM or GRU stack and a linear head on its top layer.

    With ``step_outputs=False`` the head reads the sequence summary: the top layer's
    final hidden states h_n, i.e. the state after the last real step, and for a
    bidirectional stack that concatenated with the backward direction's state after
    step 0. With ``step_outputs=True`` the head reads every step's top-layer output
    (zero at padded steps, so there the output is the head's bias; the engine refuses
    per-step targets on padded data, so no loss ever reads those steps).

    Args:
        mode: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        in_features: F, features per step; out_features: K.
        hidden_size: H; num_layers: L; bidirectional: read both ways (D = 2).
        dropout: p in [0, 1) between stacked layers (training only; none with L = 1).
        impl: ``"fused"`` (nn.RNN/LSTM/GRU) or ``"reference"`` (:class:`RecurrentStack`).
            Both keep their parameters in ``self.rnn`` under the same names.
        step_outputs: one output per step instead of one per sequence.
        nonlinearity: rnn only; its φ, ``"tanh"`` or ``"relu"``.
        forget_bias: lstm only; b_if (the forget slice of bias_ih) starts at this
            value, so f_t ≈ σ(1) ≈ 0.73 at first and the cell keeps its memory (and
            gradient) from the start (Gers et al., 2000; Jozefowicz, Zaremba &
            Sutskever, 2015). None keeps PyTorch's U(−1/√H, 1/√H); ``model=lstm``
            starts at 1.0.

    Shapes:
        x ``(B, T, F)``, or what :func:`zoo.sequence.as_sequence` reads as that;
        lengths ``(B,)`` int64; output ``(B, K)``, or ``(B, T, K)`` with step_outputs.
    """

    def __init__(
        self,
        mode: str,
        in_features: int,
        out_features: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        impl: str = "fused",
        step_outputs: bool = False,
        nonlinearity: str = "tanh",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        check_args(mode, hidden_size, num_layers, dropout, nonlinearity)
        check_choice(f"{mode} impl", impl, IMPLS)
        check_sizes(mode, in_features=in_features, out_features=out_features)
        self.embedding_size = out_features  # D: the output read as an embedding
        if forget_bias is not None and mode != "lstm":
            raise ValueError(f"forget_bias is an lstm option; {mode} has no forget gate")
        self.mode, self.impl, self.hidden_size = mode, impl, hidden_size
        self.bidirectional, self.step_outputs = bidirectional, step_outputs
        self.forget_bias = forget_bias
        if impl == "fused":
            self.rnn: nn.Module = FUSED[mode](
                in_features,
                hidden_size,
                num_layers=num_layers,
                bidirectional=bidirectional,
                dropout=dropout if num_layers > 1 else 0.0,  # nn.LSTM warns when it does nothing
                batch_first=True,
                **({"nonlinearity": nonlinearity} if mode == "rnn" else {}),
            )
        else:
            self.rnn = RecurrentStack(
                mode, in_features, hidden_size, num_layers, bidirectional, dropout, nonlinearity
            )
        D = 2 if bidirectional else 1
        self.head = nn.Linear(D * hidden_size, out_features)
        self._init_forget_bias()

    def reset_parameters(self) -> None:
        self.rnn.reset_parameters()
        self.head.reset_parameters()
        self._init_forget_bias()

    @torch.no_grad()
    def _init_forget_bias(self) -> None:
        if self.forget_bias is None:
            return
        H = self.hidden_size
        for name, p in self.rnn.named_parameters():
            if name.startswith("bias_ih"):
                p[H : 2 * H].fill_(self.forget_bias)  # gates i, f, g, o: f is rows H..2H

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, state = self._run(as_sequence(x), None, lengths)  # (B, *shape) -> (B, T, F)
        return self._read_out(out, state)

    def forward_window(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One window of truncated BPTT: run from ``state`` (None = zeros), return the
        output as :meth:`forward` gives it for this window, and the final state, to
        carry (detached, see :func:`detach_state`) into the next window."""
        if self.bidirectional:
            # The backward direction starts at the sequence's end: no window can run it.
            raise ValueError(
                "truncated BPTT needs a unidirectional model; set model.bidirectional=false"
            )
        out, state = self._run(as_sequence(x), state, None)
        return self._read_out(out, state), state

    @property
    def packs_lengths(self) -> bool:
        """Whether ``forward(x, lengths)`` packs the batch for the fused kernel (see
        :meth:`_run`); the reference stack runs every step, a padded one keeping the state."""
        return self.impl == "fused"

    def _run(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        """The stack over x: top-layer outputs (B, T, D·H) and final state (L·D, B, H)."""
        if self.impl == "reference":
            return self.rnn(x, state, lengths=lengths)
        if lengths is None:
            return self.rnn(x, state)
        # Packing skips the padded steps: the kernel runs each sequence only to its length.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, state

    def _read_out(self, out: Tensor, state: State) -> Tensor:
        if self.step_outputs:
            return self.head(out)  # (B, T, D·H) -> (B, T, K)
        h_n = state[0] if isinstance(state, tuple) else state  # (L·D, B, H)
        D = 2 if self.bidirectional else 1
        summary = h_n[-D:].transpose(0, 1).flatten(1)  # top layer: (D, B, H) -> (B, D·H)
        return self.head(summary)  # (B, K)


# --- Registered builders: F comes from the data, one step per row / feature.


def _build(spec: DataSpec, mode: str, out_features: int | None, **options: Any) -> RecurrentNet:
    """:class:`RecurrentNet` of ``mode`` reading the data's steps; ``options`` are its
    arguments."""
    return RecurrentNet(
        mode,
        sequence_shape(spec)[1],
        spec.num_outputs if out_features is None else out_features,
        step_outputs=spec.step_targets,
        **options,
    )


@register_model(
    "rnn",
    input_kinds=SEQUENCE_INPUT_KINDS,
    step_outputs=True,
    reads_lengths=True,
    capabilities=("forward_window", "packs_lengths", "embedding"),
)
def build_rnn(spec: DataSpec, out_features: int | None = None, **options: Any) -> RecurrentNet:
    return _build(spec, "rnn", out_features, **options)


@register_model(
    "lstm",
    input_kinds=SEQUENCE_INPUT_KINDS,
    step_outputs=True,
    reads_lengths=True,
    capabilities=("forward_window", "packs_lengths", "embedding"),
)
def build_lstm(
    spec: DataSpec, out_features: int | None = None, forget_bias: float | None = 1.0, **options: Any
) -> RecurrentNet:
    """The forget-gate bias starts at 1 (Jozefowicz et al., 2015), not PyTorch's draw."""
    return _build(spec, "lstm", out_features, forget_bias=forget_bias, **options)


@register_model(
    "gru",
    input_kinds=SEQUENCE_INPUT_KINDS,
    step_outputs=True,
    reads_lengths=True,
    capabilities=("forward_window", "packs_lengths", "embedding"),
)
def build_gru(spec: DataSpec, out_features: int | None = None, **options: Any) -> RecurrentNet:
    return _build(spec, "gru", out_features, **options)
