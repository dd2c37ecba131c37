"""Transformer encoder: tokens -> pre-norm self-attention blocks -> pooled or per-step head.

Vaswani et al., "Attention Is All You Need" (2017) with the layer norm moved to the
start of each residual branch (pre-norm; Xiong et al., "On Layer Normalization in the
Transformer Architecture", 2020), which keeps the residual path an identity and
trains without the learning-rate warm-up post-norm needs. Block ℓ = 1..L:

    x = x + Dropout(MHSA(LN(x)))
    x = x + Dropout(MLP(LN(x))),    MLP(x) = W₂ Dropout(GELU(W₁ x + b₁)) + b₂

with W₁: d -> r·d (r = ``mlp_ratio``) and W₂: r·d -> d, then a final LN (pre-norm
leaves the last block's output un-normalized). Before the blocks:

* tokens: a sequence ``(B, T, F)`` as it is, a vector ``(B, F)`` as F tokens of one
  feature, an image ``(B, C, H, W)`` as H rows of C·W pixels (``tokens="rows"``, see
  :mod:`zoo.sequence`) or, as ViT does (Dosovitskiy et al., 2020), as (H/p)·(W/p)
  non-overlapping p x p patches of C·p·p pixels (``tokens="patches"``); a series
  ``(B, T, F)`` with ``tokens="patches"`` as ⌈T/p⌉ patches of p consecutive steps, p·F
  values each, zeros after the last step (PatchTST: Nie et al., "A time series is worth
  64 words", ICLR 2023): one scalar per token carries too little for attention to
  compare, a patch carries a local shape. ``tokens="auto"`` (the default) picks
  patches for a series read whole (sequence data, one output per series: the UCR/UEA
  sets, the adding problem) and rows for the rest (images, vectors, per-step targets);
  ``patch_size=None`` (the default) is p = ⌈T/16⌉ steps for series (at most 16
  tokens) and 2 pixels for images;
* a linear embedding F -> d, then a position code added to each token (attention
  itself is blind to order): sinusoidal (Vaswani et al., sec. 3.5)

      PE[t, 2i] = sin(t / 10000^(2i/d)),   PE[t, 2i+1] = cos(t / 10000^(2i/d)),

  learned (one trained vector per position, as BERT and ViT), or none;
* with ``pooling="cls"`` a learned [CLS] token prepended at position 0 (Devlin et al.,
  BERT, 2019); the head reads its final vector. ``pooling="mean"`` averages the real
  (unpadded) tokens instead. With per-step targets nothing is pooled: the head reads
  every token.

Shapes use B batch, T tokens (T' = T + 1 with [CLS]), F features per token, d =
``hidden_size``, nh heads, K outputs.

Where it continues: attention itself is zoo/attention.py, the reading of sequences and
images as tokens zoo/sequence.py; the training step is the default of
:class:`engine.tasks.core.Task`; the attention maps are drawn after testing by
engine/report/pictures.py.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo.attention import MultiHeadSelfAttention
from zoo.checks import (
    IMPLS,
    check_at_least,
    check_choice,
    check_fraction,
    check_image,
    check_sizes,
)
from zoo.factory import register_model
from zoo.modes import eval_mode
from zoo.sequence import SEQUENCE_INPUT_KINDS, as_sequence, padding_mask, sequence_shape
from zoo.spec import DataSpec

POSITIONALS = ("sinusoidal", "learned", "none")
POOLINGS = ("cls", "mean")
TOKENS = ("rows", "patches")
SERIES_TOKENS = 16  # patch_size=None: p = ⌈T/16⌉, so a series gives at most 16 tokens
IMAGE_PATCH = 2  # patch_size=None on images: 2 x 2 pixels (an 8 x 8 digit: 16 tokens)


def sinusoidal_encoding(num_positions: int, d: int) -> Tensor:
    """``(num_positions, d)``: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...)."""
    t = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (⌈d/2⌉,)
    angle = t / 10000 ** (two_i / d)  # (T, ⌈d/2⌉)
    pe = torch.zeros(num_positions, d, dtype=torch.float64)
    pe[:, 0::2] = angle.sin()
    pe[:, 1::2] = angle.cos()[:, : d // 2]  # odd d: one cos column fewer
    return pe.float()


def patchify(x: Tensor, p: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, (H/p)·(W/p), C·p·p)``: p x p patches in row-major order."""
    B, C, H, W = x.shape
    if H % p or W % p:
        raise ValueError(
            f"tokens=patches with patch_size {p} needs H and W divisible by {p}, "
            f"got {H}x{W}; pick a patch_size that divides both"
        )
    x = x.reshape(B, C, H // p, p, W // p, p)
    x = x.permute(0, 2, 4, 1, 3, 5)  # -> (B, H/p, W/p, C, p, p)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def patch_steps(x: Tensor, p: int) -> Tensor:
    """``(B, T, F)`` -> ``(B, ⌈T/p⌉, p·F)``: p consecutive steps per token, the last
    one completed with zero steps. Token j holds steps jp .. jp + p − 1, step by step."""
    B, T, F_ = x.shape
    x = nn.functional.pad(x, (0, 0, 0, -T % p))  # (B, T, F) -> (B, p·⌈T/p⌉, F)
    return x.reshape(B, -1, p * F_)


def patch_count(steps: int | Tensor, p: int) -> int | Tensor:
    """⌈steps / p⌉: the patches of p steps a series of ``steps`` steps gives."""
    return -(-steps // p)


def one_hot_symbols(steps: Tensor) -> list[int] | None:
    """The symbol each step of ``(T, F)`` one-hot steps holds (the index of its 1), or
    None when a step is not one-hot (real values, or a padded step of zeros)."""
    if ((steps == 0) | (steps == 1)).all() and (steps.sum(-1) == 1).all():
        return steps.argmax(-1).tolist()
    return None


class Block(nn.Module):
    """One pre-norm encoder block: x + Dropout(MHSA(LN(x))), then x + Dropout(MLP(LN(x)))."""

    def __init__(self, d: int, num_heads: int, mlp_ratio: float, dropout: float, impl: str):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = MultiHeadSelfAttention(d, num_heads, dropout=dropout, impl=impl)
        self.ln2 = nn.LayerNorm(d)
        hidden = int(mlp_ratio * d)
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden),  # (B, T', d) -> (B, T', r·d)
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, d),  # (B, T', r·d) -> (B, T', d)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None, causal: bool, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attn(self.ln1(x), key_padding_mask, causal, need_weights)
        x = x + self.drop(a)
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, weights


class Transformer(nn.Module):
    """Transformer encoder over tokens, with a linear head on the pooled or every token.

    Args:
        in_features: F, the features per token (C·p·p for patches).
        out_features: K, the number of outputs.
        max_len: the most tokens an input gives (without [CLS]); sizes the position
            codes, so longer inputs are an error.
        hidden_size: d, the width of every token vector (``d_model`` in the paper).
        num_layers: L, the number of blocks.
        num_heads: nh, attention heads per block; d must divide by it.
        mlp_ratio: r, the MLP's hidden width as a multiple of d (4 in the paper).
        dropout: p in [0, 1) on the attention weights, inside the MLP, on both
            residual branches and on the embedded tokens.
        positional: ``"sinusoidal"``, ``"learned"`` or ``"none"``.
        pooling: ``"cls"`` or ``"mean"``; ignored with ``step_outputs``.
        tokens: ``"rows"`` (any input, via :func:`zoo.sequence.as_sequence`) or
            ``"patches"`` (images, or series of ``(B, T, F)`` steps).
        patch_size: p, the side of a square patch with ``tokens="patches"``, or the
            steps per patch of a series.
        causal: token t attends tokens <= t only, in every block.
        impl: the attention implementation, ``"fused"`` or ``"reference"``.
        step_outputs: the head reads every token: output ``(B, T, K)``, no [CLS].

    Shapes:
        input ``(B, T, F)``, ``(B, F)`` or ``(B, C, H, W)``; ``lengths`` ``(B,)`` the real
        steps of end-padded sequences. Output ``(B, K)``, or ``(B, T, K)`` with
        ``step_outputs``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_len: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2,
        dropout: float = 0.1,
        positional: str = "sinusoidal",
        pooling: str = "cls",
        tokens: str = "rows",
        patch_size: int = 2,
        causal: bool = False,
        impl: str = "fused",
        step_outputs: bool = False,
    ) -> None:
        super().__init__()
        check_sizes(
            "transformer", in_features=in_features, out_features=out_features, max_len=max_len
        )
        self.embedding_size = out_features  # D: the output read as an embedding
        check_at_least("transformer hidden_size", hidden_size, 1)
        if num_heads < 1 or hidden_size % num_heads:
            raise ValueError(
                f"transformer hidden_size {hidden_size} must be divisible by num_heads "
                f"{num_heads}; e.g. num_heads=4 with hidden_size=64"
            )
        check_at_least("transformer num_layers", num_layers, 1)
        if int(mlp_ratio * hidden_size) < 1:
            raise ValueError(f"transformer mlp_ratio must be > 0, got {mlp_ratio}")
        check_fraction("transformer dropout", dropout)
        check_choice("transformer positional", positional, POSITIONALS)
        check_choice("transformer pooling", pooling, POOLINGS)
        check_choice("transformer tokens", tokens, TOKENS)
        check_choice("transformer impl", impl, IMPLS)
        check_at_least("transformer patch_size", patch_size, 1)
        if causal and pooling == "cls" and not step_outputs:
            raise ValueError(
                "transformer causal=true with pooling=cls: the [CLS] token at position 0 "
                "would attend only itself; use pooling=mean"
            )
        self.tokens, self.patch_size, self.causal = tokens, patch_size, causal
        self.step_outputs = step_outputs
        self.pooling = None if step_outputs else pooling
        self.max_len = max_len
        num_positions = max_len + (self.pooling == "cls")

        self.embed = nn.Linear(in_features, hidden_size)  # (B, T, F) -> (B, T, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden_size)) if self.pooling == "cls" else None
        self.pos: nn.Parameter | None = None
        if positional == "learned":
            self.pos = nn.Parameter(torch.zeros(1, num_positions, hidden_size))
        elif positional == "sinusoidal":
            # Fixed, so rebuilt at construction rather than saved in checkpoints.
            pe = sinusoidal_encoding(num_positions, hidden_size)[None]  # (1, T', d)
            self.register_buffer("pe", pe, persistent=False)
        self.positional = positional
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(hidden_size, num_heads, mlp_ratio, dropout, impl) for _ in range(num_layers)
        )
        self.ln_f = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, out_features)  # (B, [T,] d) -> (B, [T,] K)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # N(0, 0.02) for every weight, as GPT-2 and ViT: small enough that each block
        # starts close to the identity on the residual path, so deep stacks train
        # without warm-up tricks; LayerNorm keeps its γ = 1, β = 0.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()
        for p in (self.cls, self.pos):
            if p is not None:
                nn.init.normal_(p, std=0.02)

    def tokenize(self, x: Tensor) -> Tensor:
        """Any input batch as ``(B, T, F)`` tokens (rows, steps, features or patches)."""
        if self.tokens == "patches":
            if x.ndim == 3:
                return patch_steps(x, self.patch_size)
            if x.ndim != 4:
                raise ValueError(
                    "tokens=patches needs image batches (B, C, H, W) or series (B, T, F), "
                    f"got {tuple(x.shape)}"
                )
            return patchify(x, self.patch_size)
        return as_sequence(x)

    def _encode(
        self, x: Tensor, lengths: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """Tokens through the blocks: ``(B, T', d)``, the padding mask, the weights."""
        if lengths is not None and self.tokens == "patches" and x.ndim == 3:
            # A series' last patch mixes real and padded steps: the padded ones count as
            # zeros, whatever the batch holds there (as a shorter series' own patch would).
            x = x.masked_fill(padding_mask(lengths, x.size(1)).unsqueeze(-1), 0.0)
        x = self.tokenize(x)  # -> (B, T, F)
        if x.size(1) > self.max_len:
            raise ValueError(
                f"transformer got {x.size(1)} tokens; it was built for at most {self.max_len}"
            )
        B, T, _ = x.shape
        if lengths is not None and self.tokens == "patches":
            lengths = patch_count(lengths, self.patch_size)  # real steps -> real patches
        mask = None if lengths is None else padding_mask(lengths, T)  # (B, T), True = padded
        h = self.embed(x)  # (B, T, F) -> (B, T, d)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(B, -1, -1), h], dim=1)  # -> (B, T' = T + 1, d)
            if mask is not None:  # [CLS] is never padding
                mask = torch.cat([mask.new_zeros(B, 1), mask], dim=1)  # -> (B, T')
        if self.positional == "learned":
            h = h + self.pos[:, : h.size(1)]
        elif self.positional == "sinusoidal":
            h = h + self.pe[:, : h.size(1)]
        h = self.drop(h)
        maps = []
        for block in self.blocks:
            h, weights = block(h, mask, self.causal, need_weights)
            maps.append(weights)
        return self.ln_f(h), mask, maps

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h, mask, _ = self._encode(x, lengths, need_weights=False)
        if self.step_outputs:
            return self.head(h)  # (B, T, d) -> (B, T, K)
        if self.pooling == "cls":
            return self.head(h[:, 0])  # (B, T', d) -> (B, d) -> (B, K)
        if mask is None:
            return self.head(h.mean(dim=1))  # (B, T, d) -> (B, d) -> (B, K)
        real = (~mask).unsqueeze(-1).to(h.dtype)  # (B, T, 1), 1 at real tokens
        pooled = (h * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)  # -> (B, d)
        return self.head(pooled)

    @torch.no_grad()
    def attention_maps(self, x: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
        """Every block's attention weights for ``x`` in eval mode: L x ``(B, nh, T', T')``."""
        with eval_mode(self):
            _, _, maps = self._encode(x, lengths, need_weights=True)
        return maps

    def token_labels(self, x: Tensor) -> list[str]:
        """What each of the T' tokens of ``x``'s first sample stands for, in order (the
        axes of :meth:`attention_maps`): ``cls`` for [CLS]; an image patch by its (row,
        column) in the patch grid, ``(0,1)``; a series patch by the steps it holds,
        ``t4-7``; otherwise by its index: an image row ``row 3``, a step ``t3``, a
        feature ``f3``; a step that is a one-hot symbol also by the symbol's index,
        ``t3=5`` (the copy task's tokens).
        """
        p = self.patch_size
        if self.tokens == "patches" and x.ndim == 4:  # (B, C, H, W): row-major patches
            rows, cols = x.shape[-2] // p, x.shape[-1] // p
            labels = [f"({r},{c})" for r in range(rows) for c in range(cols)]
        elif self.tokens == "patches":  # (B, T, F): p steps each, the last one cut short
            steps = x.shape[1]
            labels = [f"t{t}-{min(t + p, steps) - 1}" for t in range(0, steps, p)]
            labels = [f"t{t}" for t in range(steps)] if p == 1 else labels
        else:
            name = {4: "row ", 3: "t", 2: "f"}[x.ndim]
            labels = [f"{name}{i}" for i in range(as_sequence(x).shape[1])]
            symbols = one_hot_symbols(x[0]) if x.ndim == 3 else None
            if symbols is not None:
                labels = [f"t{i}={k}" for i, k in enumerate(symbols)]
        return ["cls", *labels] if self.cls is not None else labels


@register_model(
    "transformer",
    input_kinds=SEQUENCE_INPUT_KINDS,
    step_outputs=True,
    reads_lengths=True,
    capabilities=("attention_maps", "embedding"),
)
def build_transformer(
    spec: DataSpec,
    out_features: int | None = None,
    tokens: str = "auto",
    patch_size: int | None = None,
    **options: Any,
) -> Transformer:
    """:class:`Transformer` over the data's rows or steps (``tokens="rows"``) or its
    images' or series' patches; ``tokens="auto"``: patches for a series read whole,
    rows otherwise; ``patch_size=None``: ⌈T/16⌉ steps, or 2 x 2 pixels for images.
    ``options`` are its other arguments."""
    check_choice("transformer tokens", tokens, ("auto", *TOKENS))
    series = spec.input_kind == "sequence" and not spec.step_targets
    if tokens == "auto":
        tokens = "patches" if series else "rows"
    if tokens == "patches" and spec.input_kind == "sequence":
        steps, features = sequence_shape(spec)
        if patch_size is None:
            patch_size = patch_count(steps, SERIES_TOKENS)  # ⌈T/16⌉
        if patch_size < 1:
            raise ValueError(f"transformer patch_size must be >= 1, got {patch_size}")
        max_len, in_features = patch_count(steps, patch_size), features * patch_size
    elif tokens == "patches":
        if spec.input_kind != "image":
            raise ValueError(
                f"transformer tokens=patches needs image or sequence data, not "
                f"{spec.input_kind}; use tokens=rows"
            )
        c, h, w = check_image("transformer", spec.input_shape)
        patch_size = IMAGE_PATCH if patch_size is None else patch_size
        if patch_size < 1 or h % patch_size or w % patch_size:
            raise ValueError(
                f"transformer patch_size {patch_size} must divide the {h}x{w} images; "
                f"pick a common divisor of {h} and {w}"
            )
        max_len, in_features = (h // patch_size) * (w // patch_size), c * patch_size**2
    else:
        max_len, in_features = sequence_shape(spec)
    out = spec.num_outputs if out_features is None else out_features
    return Transformer(
        in_features,
        out,
        max_len,
        tokens=tokens,
        patch_size=IMAGE_PATCH if patch_size is None else patch_size,
        step_outputs=spec.step_targets,
        **options,
    )
