"""zoo.attention against PyTorch: F.scaled_dot_product_attention and nn.MultiheadAttention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.attention import MultiHeadSelfAttention, scaled_dot_product_attention
from zoo.sequence import padding_mask

B, NH, T, HS = 3, 2, 5, 4
D = NH * HS
LENGTHS = torch.tensor([5, 3, 1])
MASKS = {
    "none": (False, False),
    "padding": (True, False),
    "causal": (False, True),
    "both": (True, True),
}


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def qkv() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, NH, T, HS, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("mask_name", MASKS)
def test_function_equals_torch_sdpa(mask_name: str) -> None:
    padded, causal = MASKS[mask_name]
    kpm = padding_mask(LENGTHS, T) if padded else None
    ours = [t.clone().requires_grad_() for t in qkv()]
    theirs = [t.clone().requires_grad_() for t in qkv()]

    out, weights = scaled_dot_product_attention(*ours, key_padding_mask=kpm, causal=causal)
    allowed = torch.ones(T, T, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    if padded:
        allowed = allowed & ~kpm[:, None, None, :]  # (B, 1, T, T)
    expected = F.scaled_dot_product_attention(*theirs, attn_mask=allowed)
    close(out, expected)

    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    for a, b in zip(ours, theirs, strict=True):
        close(a.grad, b.grad)

    # Each query's weights are a distribution over the keys it may see.
    close(weights.sum(-1), torch.ones(B, NH, T, dtype=torch.float64))
    assert (weights.masked_select(~allowed.expand_as(weights)) == 0).all()


def test_literal_two_keys() -> None:
    """One query, two keys: weights softmax(q·k / √d_k), output their mix of values."""
    q = torch.tensor([[[[1.0, 1.0]]]])  # (1, 1, 1, 2)
    k = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])  # scores 2/√2 = √2 and 0
    v = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    out, weights = scaled_dot_product_attention(q, k, v)
    w0 = 1 / (1 + torch.exp(torch.tensor(-(2**0.5))))
    close(weights, torch.stack([w0, 1 - w0]).view(1, 1, 1, 2))
    close(out, torch.stack([w0, 1 - w0]).view(1, 1, 1, 2))


def test_fully_masked_rows_give_zeros_not_nan() -> None:
    q, k, v = (t.requires_grad_() for t in qkv())
    kpm = padding_mask(torch.tensor([5, 0, 2]), T)  # sample 1 has no real key at all
    out, weights = scaled_dot_product_attention(q, k, v, key_padding_mask=kpm)
    assert (out[1] == 0).all() and (weights[1] == 0).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    # PyTorch's kernel agrees on those rows.
    allowed = ~kpm[:, None, None, :]
    close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=allowed))


def test_dropout_only_while_training() -> None:
    q, k, v = qkv()
    eval_out, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False)
    close(eval_out, scaled_dot_product_attention(q, k, v)[0])
    torch.manual_seed(0)
    train_out, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=True)
    assert not torch.allclose(train_out, eval_out)
    close(weights.sum(-1), torch.ones(B, NH, T, dtype=torch.float64))  # weights before dropout


def copied_pair(impl: str) -> tuple[MultiHeadSelfAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(D, NH, impl=impl).double()
    theirs = nn.MultiheadAttention(D, NH, batch_first=True).double()
    with torch.no_grad():
        nn.init.normal_(theirs.in_proj_bias)  # torch starts them at 0: make the copy count
        nn.init.normal_(theirs.out_proj.bias)
        ours.in_proj.weight.copy_(theirs.in_proj_weight)
        ours.in_proj.bias.copy_(theirs.in_proj_bias)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours, theirs


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("mask_name", MASKS)
def test_module_equals_nn_multihead_attention(impl: str, mask_name: str) -> None:
    padded, causal = MASKS[mask_name]
    ours, theirs = copied_pair(impl)
    x = torch.randn(B, T, D, dtype=torch.float64)
    kpm = padding_mask(LENGTHS, T) if padded else None
    attn_mask = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None  # True = blocked

    out, none = ours(x, key_padding_mask=kpm, causal=causal)
    expected, avg_weights = theirs(
        x, x, x, key_padding_mask=kpm, attn_mask=attn_mask, need_weights=True
    )
    assert none is None
    close(out, expected)
    _, weights = ours(x, key_padding_mask=kpm, causal=causal, need_weights=True)
    assert weights.shape == (B, NH, T, T)
    close(weights.mean(dim=1), avg_weights)  # nn.MultiheadAttention averages over heads

    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    pairs = [
        (ours.in_proj.weight, theirs.in_proj_weight),
        (ours.in_proj.bias, theirs.in_proj_bias),
        (ours.out_proj.weight, theirs.out_proj.weight),
        (ours.out_proj.bias, theirs.out_proj.bias),
    ]
    for a, b in pairs:
        close(a.grad, b.grad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 3), "embed_dim 10 must divide into num_heads 3"),
        ((8, 0), "num_heads 0"),
        ((8, 2, 1.0), r"dropout must be in \[0, 1\), got 1.0"),
        ((8, 2, 0.0, True, "flash"), "impl must be one of fused, reference; got 'flash'"),
    ],
)
def test_argument_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultiHeadSelfAttention(*args)
