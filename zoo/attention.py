"""Scaled dot-product attention and multi-head self-attention, from scratch.

Vaswani et al., "Attention Is All You Need" (2017), sec. 3.2. Each query attends to
every key it may see; its output is the average of the values, weighted by how well
the query matches each key:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V

with M = 0 where query i may attend key j and −∞ where it may not (a padded key, or
with ``causal`` a later position j > i). Dividing by √d_k keeps the scores' variance
near 1 whatever the head size, so the softmax does not saturate (sec. 3.2.1).

Multi-head attention runs h of these side by side on learned projections of the
same input x (self-attention: queries, keys and values all come from x):

    headᵢ = Attention(x W_Qᵢ, x W_Kᵢ, x W_Vᵢ),   MHSA(x) = Concat(head₁..head_h) W_O

The h projections W_Q, W_K, W_V are packed into one ``in_proj`` (d -> 3d) and W_O is
``out_proj`` (d -> d), laid out as in :class:`torch.nn.MultiheadAttention`, so weights
copy between the two one to one (the parity tests do this).

Shapes use B batch, T steps, d = embed_dim, nh heads, hs = d / nh per head.

Where it continues: zoo/transformer.py's blocks use it; tests/zoo/test_attention.py
holds it equal to :class:`torch.nn.MultiheadAttention`, and bench/sequence.py times both
``impl``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.checks import IMPLS, check_choice, check_fraction


def attention_mask(
    key_padding_mask: Tensor | None, causal: bool, T: int, device: torch.device
) -> Tensor | None:
    """``(B or 1, 1, T, T)`` bool, True where query i must *not* attend key j; or None.

    ``key_padding_mask`` ``(B, T)`` is True at padded keys; ``causal`` masks every
    key after the query (j > i).
    """
    mask = None
    if key_padding_mask is not None:
        mask = key_padding_mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)
    if causal:
        later = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)  # j > i
        mask = later[None, None] if mask is None else mask | later
    return mask


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_padding_mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ / √d_k + M) V, written out; returns the output and the weights.

    Args:
        q, k, v: queries, keys and values, ``(B, nh, T, hs)``.
        key_padding_mask: ``(B, T)`` bool, True at padded keys: no query attends them.
        causal: query i attends keys j <= i only (an autoregressive decoder's mask).
        dropout_p: drop probability on the attention weights, applied only when
            ``training`` (as :func:`torch.nn.functional.scaled_dot_product_attention`).

    Returns:
        ``out`` ``(B, nh, T, hs)`` and ``weights`` ``(B, nh, T, T)``, the softmax before
        dropout: each row sums to 1 and masked keys get exactly 0. A query that may
        attend no key at all (every key masked) gets all-zero weights and a zero output,
        not the NaN that softmax over −∞ alone would give; PyTorch's fused kernel
        returns the same zeros.
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (B, nh, T, hs) -> (B, nh, T, T)
    mask = attention_mask(key_padding_mask, causal, q.size(-2), q.device)
    if mask is not None:
        # A fully masked row would be softmax(−∞, ..., −∞) = 0/0. Leave such rows
        # unmasked (finite scores, finite gradients), then zero their weights.
        empty = mask.all(dim=-1, keepdim=True)  # (B or 1, 1 or nh, T, 1)
        scores = scores.masked_fill(mask & ~empty, float("-inf"))
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights.masked_fill(empty, 0.0)
    dropped = F.dropout(weights, dropout_p) if training and dropout_p > 0 else weights
    return dropped @ v, weights  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)


class MultiHeadSelfAttention(nn.Module):
    """MHSA(x) = Concat(head₁..head_h) W_O with headᵢ = Attention(x W_Qᵢ, x W_Kᵢ, x W_Vᵢ).

    Args:
        embed_dim: d, the size of each token's vector.
        num_heads: nh; d must divide by it (each head works in hs = d / nh dimensions).
        dropout: drop probability on the attention weights while training.
        bias: whether ``in_proj`` and ``out_proj`` have biases.
        impl: ``"fused"`` calls :func:`torch.nn.functional.scaled_dot_product_attention`
            (one kernel, no (T, T) weights kept for backward when it can avoid it);
            ``"reference"`` calls :func:`scaled_dot_product_attention` above. Both
            compute the same function.

    Shapes:
        input ``(B, T, d)``, ``key_padding_mask`` ``(B, T)`` (True = padded); output
        ``(B, T, d)`` and, with ``need_weights``, weights ``(B, nh, T, T)``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads != 0:
            raise ValueError(
                f"attention embed_dim {embed_dim} must divide into num_heads {num_heads} "
                f"equal heads; pick num_heads among the divisors of {embed_dim}"
            )
        check_fraction("attention dropout", dropout)
        check_choice("attention impl", impl, IMPLS)
        self.embed_dim, self.num_heads, self.dropout, self.impl = (
            embed_dim,
            num_heads,
            dropout,
            impl,
        )
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)  # [W_Q; W_K; W_V]
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W_O

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        B, T, d = x.shape
        nh, hs = self.num_heads, d // self.num_heads
        q, k, v = self.in_proj(x).split(d, dim=-1)  # (B, T, d) -> 3 x (B, T, d)
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))  # -> (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights or self.impl == "reference":  # the fused kernel gives no weights
            y, weights = scaled_dot_product_attention(
                q, k, v, key_padding_mask, causal, dropout_p, self.training
            )
            weights = weights if need_weights else None  # only when asked for
        elif key_padding_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)
        else:
            # F.sdpa's boolean mask is True where attention *is* allowed: the inverse.
            allowed = ~attention_mask(key_padding_mask, causal, T, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(B, T, d)  # (B, nh, T, hs) -> (B, T, d): concat heads
        return self.out_proj(y), weights
