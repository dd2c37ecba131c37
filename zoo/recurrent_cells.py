"""Readable recurrent cells, and the stack that runs them over time and layers.

This is the from-scratch ("reference") path of :mod:`zoo.recurrent`, which has the
models, the sources and why the gates help. Each cell is one step of its recurrence,
written from the equations in its docstring: Elman's RNN (1990), the LSTM (Hochreiter
& Schmidhuber, 1997) with its forget gate (Gers, Schmidhuber & Cummins, 2000), the
GRU (Cho et al., 2014). :class:`RecurrentStack` runs a cell over T steps, L layers and
D directions as nn.RNN / nn.LSTM / nn.GRU do, with their parameter names, shapes and
gate order, so weights copy 1:1 between the two.

Shapes, in one notation: B batch, T steps, F input features, H hidden size, G gates
(1 rnn, 4 lstm, 3 gru), L layers, D directions (1, or 2 if bidirectional).

Where it continues: the models that run this stack, and why the gates help, are
zoo/recurrent.py; tests/zoo/test_recurrent.py holds it equal to nn.RNN/LSTM/GRU, and
bench/sequence.py and bench/gru_vs_lstm.py time the two paths.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.checks import check_at_least, check_choice, check_fraction
from zoo.sequence import padding_mask

# The recurrent state: h, or (h, c) for the LSTM; each (L·D, B, H) as in nn.LSTM.
State = Tensor | tuple[Tensor, ...]

MODES = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "relu")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # per layer and direction


def check_args(
    mode: str, hidden_size: int, num_layers: int, dropout: float, nonlinearity: str
) -> None:
    """Raise a one-line ValueError for an argument the stack cannot take."""
    check_choice("recurrent mode", mode, MODES)
    check_at_least(f"{mode} hidden_size", hidden_size, 1)
    check_at_least(f"{mode} num_layers", num_layers, 1)
    check_fraction(f"{mode} dropout", dropout)
    check_choice(f"{mode} nonlinearity", nonlinearity, NONLINEARITIES)
    if mode != "rnn" and nonlinearity != "tanh":
        raise ValueError(f"nonlinearity is an rnn option; {mode} has fixed gate activations")


# --- Cells: one time step. They hold no parameters: the stack passes in its layer's
# weights, so the parameters live under PyTorch's names (see RecurrentStack).


class RNNCell(nn.Module):
    """Elman's step: h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), φ = tanh (or relu).

    Shapes:
        x ``(B, F)``, h ``(B, H)``, W_ih ``(H, F)``, W_hh ``(H, H)``, b_ih, b_hh ``(H,)``;
        returns h_t ``(B, H)``.
    """

    def __init__(self, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.nonlinearity = nonlinearity
        self.phi = torch.tanh if nonlinearity == "tanh" else torch.relu

    def forward(
        self, x: Tensor, h: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor, b_hh: Tensor
    ) -> Tensor:
        return self.phi(F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh))

    def extra_repr(self) -> str:
        return f"nonlinearity={self.nonlinearity}"


class LSTMCell(nn.Module):
    """Long short-term memory step (PyTorch's gate order i, f, g, o)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate (Gers et al., 2000)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    W_ih stacks W_ii, W_if, W_ig, W_io row-wise (likewise W_hh, b_ih, b_hh).

    Shapes:
        x ``(B, F)``, state (h, c) each ``(B, H)``, W_ih ``(4H, F)``, W_hh ``(4H, H)``,
        b_ih, b_hh ``(4H,)``; returns (h_t, c_t).
    """

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor],
        W_ih: Tensor,
        W_hh: Tensor,
        b_ih: Tensor,
        b_hh: Tensor,
    ) -> tuple[Tensor, Tensor]:
        h, c = state
        gates = F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # (B, 4H) -> 4 x (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c


class GRUCell(nn.Module):
    """Gated recurrent unit step (PyTorch's gate order r, z, n)::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)              reset gate
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)              update gate
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))   candidate
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The reset gate scales W_hn h + b_hn after the product, as in PyTorch and cuDNN
    (Cho et al. apply it to h before W_hn; both are GRUs, the weights just differ).

    Shapes:
        x ``(B, F)``, h ``(B, H)``, W_ih ``(3H, F)``, W_hh ``(3H, H)``, b_ih, b_hh
        ``(3H,)``; returns h_t ``(B, H)``.
    """

    def forward(
        self, x: Tensor, h: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor, b_hh: Tensor
    ) -> Tensor:
        x_r, x_z, x_n = F.linear(x, W_ih, b_ih).chunk(3, dim=1)  # (B, 3H) -> 3 x (B, H)
        h_r, h_z, h_n = F.linear(h, W_hh, b_hh).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h


CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


# --- The stack: cells over time, layers and directions.


class RecurrentStack(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU written out: L layers of a cell run over the T steps.

    Layer ℓ reads x (ℓ = 0) or layer ℓ − 1's outputs, the D directions concatenated,
    with dropout on them in training (not after the last layer), as PyTorch does. The
    backward direction runs t = T−1, ..., 0, and its outputs are put back in time
    order, so ``output[:, t] = [h→_t, h←_t]``.

    ``lengths`` (real steps per sequence, padded at the end): a padded step leaves the
    state as it was and outputs zero. So the forward direction's final state is the
    one after the sequence's last real step, and the backward direction, whose state
    stays at its start value through the padding, starts at each sequence's own last
    real step; exactly what nn.LSTM computes on a packed sequence.

    Args:
        mode: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        input_size: F; hidden_size: H; num_layers: L; bidirectional: D = 2 if True.
        dropout: p in [0, 1) on the outputs of every layer but the last (training only).
        nonlinearity: φ of the rnn, ``"tanh"`` or ``"relu"``.

    Shapes:
        x ``(B, T, F)`` (batch_first), state None (zeros) or h ``(L·D, B, H)`` ((h, c)
        for lstm), lengths ``(B,)`` int64; returns output ``(B, T, D·H)`` and the final
        state, laid out like the input state.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        check_args(mode, hidden_size, num_layers, dropout, nonlinearity)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.cell = RNNCell(nonlinearity) if mode == "rnn" else CELLS[mode]()
        self.suffixes = ("", "_reverse") if bidirectional else ("",)
        G, H, D = GATES[mode], hidden_size, len(self.suffixes)
        for layer in range(num_layers):
            width = input_size if layer == 0 else D * H
            shapes = [(G * H, width), (G * H, H), (G * H,), (G * H,)]  # of WEIGHTS
            for sfx in self.suffixes:  # nn.LSTM's names and order, so state_dicts match
                for name, shape in zip(WEIGHTS, shapes, strict=True):
                    param = nn.Parameter(torch.empty(shape))
                    self.register_parameter(f"{name}_l{layer}{sfx}", param)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init for its recurrent modules: every weight and bias ~ U(−1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        B, T, _ = x.shape
        L, D, H = self.num_layers, len(self.suffixes), self.hidden_size
        if state is None:
            zeros = x.new_zeros(L * D, B, H)
            state = (zeros, zeros) if self.mode == "lstm" else zeros
        real = None if lengths is None else ~padding_mask(lengths.to(x.device), T)  # (B, T)
        finals = []
        for layer in range(L):
            outputs = []
            for d, sfx in enumerate(self.suffixes):
                k = layer * D + d  # this layer and direction's row of the state
                s0 = tuple(s[k] for s in state) if self.mode == "lstm" else state[k]
                weights = [getattr(self, f"{name}_l{layer}{sfx}") for name in WEIGHTS]
                out, s = self._run_direction(x, s0, weights, reverse=d == 1, real=real)
                outputs.append(out)
                finals.append(s)
            x = torch.cat(outputs, dim=2)  # D x (B, T, H) -> (B, T, D·H)
            if layer < L - 1 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
        if self.mode == "lstm":  # (L·D) x ((B, H), (B, H)) -> ((L·D, B, H), (L·D, B, H))
            return x, tuple(torch.stack(s) for s in zip(*finals, strict=True))
        return x, torch.stack(finals)  # (L·D) x (B, H) -> (L·D, B, H)

    def _run_direction(
        self, x: Tensor, s: State, weights: list[Tensor], reverse: bool, real: Tensor | None
    ) -> tuple[Tensor, State]:
        """One layer in one direction: the cell over the steps, in time order or reversed."""
        T = x.shape[1]
        outputs = []
        for t in range(T - 1, -1, -1) if reverse else range(T):
            s_new = self.cell(x[:, t], s, *weights)
            if real is None:
                s = s_new
                outputs.append(s[0] if isinstance(s, tuple) else s)
                continue
            # A padded step keeps the state: frozen after the last real step, and in the
            # backward direction not started yet; its output is zero, as packing gives.
            keep = real[:, t, None]  # (B, 1)
            if isinstance(s, tuple):
                s = tuple(torch.where(keep, a, b) for a, b in zip(s_new, s, strict=True))
            else:
                s = torch.where(keep, s_new, s)
            h = s[0] if isinstance(s, tuple) else s
            outputs.append(h.masked_fill(~keep, 0.0))
        if reverse:
            outputs.reverse()  # back to time order
        return torch.stack(outputs, dim=1), s  # T x (B, H) -> (B, T, H)
