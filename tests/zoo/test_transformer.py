"""zoo.transformer: padding, causality, positions, tokens and the two attention impls."""

from __future__ import annotations

import math

import pytest
import torch

from zoo import DataSpec, create_model
from zoo.transformer import Transformer, build_transformer, patchify, sinusoidal_encoding

T, F = 6, 3
SEQ = DataSpec("sequence", (T, F), "classification", num_classes=4)
STEPS = DataSpec("sequence", (T, F), "classification", num_classes=4, step_targets=True)
IMAGE = DataSpec("image", (1, 8, 8), "classification", num_classes=10)
VECTOR = DataSpec("vector", (5,), "regression", num_targets=2)
SERIES_10 = DataSpec("sequence", (10, F), "classification", num_classes=4)
SMALL = {"hidden_size": 16, "num_heads": 2}
LENGTHS = torch.tensor([6, 4, 2])


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def model_for(spec: DataSpec, **kwargs) -> Transformer:
    torch.manual_seed(0)
    return create_model("transformer", spec, **{**SMALL, **kwargs}).double().eval()


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [(SEQ, {"pooling": "mean"}), (SEQ, {"pooling": "cls"}), (STEPS, {}), (STEPS, {"causal": True})],
    ids=["mean", "cls", "steps", "causal_steps"],
)
def test_padding_does_not_change_real_steps(spec: DataSpec, kwargs: dict, impl: str) -> None:
    model = model_for(spec, impl=impl, positional="learned", **kwargs)
    x = torch.randn(3, T, F, dtype=torch.float64)
    garbage = x.clone()
    for i, n in enumerate(LENGTHS):
        garbage[i, n:] = 100 * torch.randn(T - n, F, dtype=torch.float64)
    padded = model(garbage, LENGTHS)
    for i, n in enumerate(LENGTHS):
        alone = model(x[i : i + 1, :n])  # the real steps only, no padding at all
        if spec.step_targets:
            assert padded.shape == (3, T, 4)
            close(padded[i, :n], alone[0])
        else:
            assert padded.shape == (3, 4)
            close(padded[i], alone[0])


@pytest.mark.parametrize(
    "kwargs", [{}, {"pooling": "mean"}, {"causal": True, "pooling": "mean"}], ids=str
)
def test_fused_and_reference_agree(kwargs: dict) -> None:
    fused = model_for(SEQ, impl="fused", dropout=0.0, **kwargs)
    reference = model_for(SEQ, impl="reference", dropout=0.0, **kwargs)
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(3, T, F, dtype=torch.float64)
    out_f, out_r = fused(x, LENGTHS), reference(x, LENGTHS)
    close(out_f, out_r)
    out_f.square().sum().backward()
    out_r.square().sum().backward()
    grads_r = dict(reference.named_parameters())
    for name, p in fused.named_parameters():
        close(p.grad, grads_r[name].grad)


def test_causal_steps_do_not_see_the_future() -> None:
    model = model_for(STEPS, causal=True)
    x = torch.randn(2, T, F, dtype=torch.float64)
    out = model(x)
    for t in range(T - 1):
        changed = x.clone()
        changed[:, t + 1 :] = torch.randn(2, T - t - 1, F, dtype=torch.float64)
        again = model(changed)
        close(again[:, : t + 1], out[:, : t + 1])
        assert not torch.allclose(again[:, t + 1 :], out[:, t + 1 :])
    # Without the mask, step 0 does depend on later steps.
    free = model_for(STEPS)
    changed = x.clone()
    changed[:, -1] += 1
    assert not torch.allclose(free(changed)[:, 0], free(x)[:, 0])


def test_sinusoidal_encoding_follows_the_formula() -> None:
    pe = sinusoidal_encoding(10, 6)
    assert pe.shape == (10, 6)
    close(pe[0], torch.tensor([0.0, 1.0] * 3))  # sin 0, cos 0
    for t, i in [(1, 0), (3, 1), (7, 2)]:
        angle = t / 10000 ** (2 * i / 6)
        close(pe[t, 2 * i], torch.tensor(math.sin(angle)))
        close(pe[t, 2 * i + 1], torch.tensor(math.cos(angle)))
    assert sinusoidal_encoding(4, 5).shape == (4, 5)  # odd d: one cos column fewer


def test_sinusoidal_buffer_is_not_saved_learned_positions_are() -> None:
    sinusoidal = model_for(SEQ)
    assert "pe" not in sinusoidal.state_dict() and "pe" in dict(sinusoidal.named_buffers())
    assert sinusoidal.pe.shape == (1, T + 1, 16)  # + [CLS] at position 0
    close(sinusoidal.pe[0, 1].float(), sinusoidal_encoding(T + 1, 16)[1])
    learned = model_for(SEQ, positional="learned", pooling="mean")
    assert learned.pos.shape == (1, T, 16) and "pos" in learned.state_dict()
    assert "pe" not in dict(model_for(SEQ, positional="none").named_buffers())


def test_patchify_order() -> None:
    x = torch.arange(2 * 4 * 4.0).view(1, 2, 4, 4)  # two channels
    patches = patchify(x, 2)
    assert patches.shape == (1, 4, 8)
    # First patch: rows 0-1, columns 0-1 of channel 0, then of channel 1.
    assert patches[0, 0].tolist() == [0, 1, 4, 5, 16, 17, 20, 21]
    assert patches[0, 1].tolist() == [2, 3, 6, 7, 18, 19, 22, 23]  # next patch to the right


@pytest.mark.parametrize(("tokens", "num_tokens"), [("patches", 16), ("rows", 8)])
def test_image_tokens_and_attention_maps(tokens: str, num_tokens: int) -> None:
    model = model_for(IMAGE, tokens=tokens, num_layers=3).train()
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    assert model.tokenize(x).shape[1] == num_tokens
    assert model(x).shape == (5, 10)
    maps = model.attention_maps(x)
    assert model.training  # back to the mode it was in
    assert len(maps) == 3
    for w in maps:
        assert w.shape == (5, 2, num_tokens + 1, num_tokens + 1)  # + [CLS]
        assert not w.requires_grad
        close(w.sum(-1), torch.ones(5, 2, num_tokens + 1, dtype=torch.float64))


@pytest.mark.parametrize(
    ("spec", "kwargs", "shape", "expected"),
    [
        (
            IMAGE,
            {"tokens": "patches", "patch_size": 4},
            (1, 1, 8, 8),
            ["(0,0)", "(0,1)", "(1,0)", "(1,1)"],
        ),
        (IMAGE, {"tokens": "rows"}, (1, 1, 8, 8), [f"row {i}" for i in range(8)]),
        (SERIES_10, {"tokens": "patches", "patch_size": 4}, (1, 10, F), ["t0-3", "t4-7", "t8-9"]),
        (SEQ, {"tokens": "patches", "patch_size": 1}, (1, T, F), [f"t{i}" for i in range(T)]),
        (STEPS, {}, (1, T, F), [f"t{i}" for i in range(T)]),
        (VECTOR, {}, (1, 5), [f"f{i}" for i in range(5)]),
    ],
    ids=["image_patches", "image_rows", "series_patches", "series_steps", "steps", "features"],
)
def test_token_labels_name_each_row_and_column_of_the_attention_maps(
    spec: DataSpec, kwargs: dict, shape: tuple, expected: list[str]
) -> None:
    model = model_for(spec, **kwargs)
    x = torch.randn(*shape, dtype=torch.float64)
    labels = model.token_labels(x)
    assert labels == (["cls", *expected] if model.cls is not None else expected)
    assert model.attention_maps(x)[0].shape[-1] == len(labels)


def test_one_hot_steps_are_labelled_with_their_symbol() -> None:
    model = model_for(STEPS)
    symbols = torch.tensor([2, 0, 1, 1, 0, 2])
    x = torch.eye(F, dtype=torch.float64)[symbols][None]  # (1, T, F), one-hot steps
    assert model.token_labels(x) == ["t0=2", "t1=0", "t2=1", "t3=1", "t4=0", "t5=2"]
    x[0, 3] = 0.0  # a step that holds no symbol (e.g. padding): indices only
    assert model.token_labels(x) == [f"t{i}" for i in range(T)]


def test_attention_maps_mask_padding() -> None:
    model = model_for(SEQ)
    maps = model.attention_maps(torch.randn(3, T, F, dtype=torch.float64), LENGTHS)
    for w in maps:
        for i, n in enumerate(LENGTHS):
            assert (w[i, :, :, 1 + n :] == 0).all()  # no query attends a padded step


def test_vectors_are_read_one_feature_per_token() -> None:
    model = model_for(VECTOR, pooling="mean")
    assert model.tokenize(torch.randn(4, 5)).shape == (4, 5, 1)
    assert model(torch.randn(4, 5, dtype=torch.float64)).shape == (4, 2)


def test_init_and_all_parameters_learn() -> None:
    torch.manual_seed(0)
    model = create_model("transformer", IMAGE)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(m.bias.abs().sum() == 0 for m in linears)
    assert all(abs(m.weight.std().item() - 0.02) < 0.005 for m in linears)
    model(torch.randn(4, 1, 8, 8)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_builder_builds_a_transformer() -> None:
    """(Its YAML and defaults: tests/zoo/test_zoo_models.py, for every model.)"""
    assert isinstance(build_transformer(IMAGE), Transformer)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        (
            SEQ,
            {"hidden_size": 10, "num_heads": 4},
            "hidden_size 10 must be divisible by num_heads 4",
        ),
        (SEQ, {"num_heads": 0}, "num_heads 0"),
        (SEQ, {"num_layers": 0}, "num_layers must be >= 1, got 0"),
        (SEQ, {"mlp_ratio": 0}, "mlp_ratio must be > 0, got 0"),
        (SEQ, {"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        (SEQ, {"positional": "rope"}, "positional must be one of sinusoidal, learned, none"),
        (SEQ, {"pooling": "max"}, "pooling must be one of cls, mean; got 'max'"),
        (SEQ, {"tokens": "pixels"}, "tokens must be one of auto, rows, patches; got 'pixels'"),
        (SEQ, {"impl": "flash"}, "impl must be one of fused, reference; got 'flash'"),
        (SEQ, {"causal": True}, "causal=true with pooling=cls"),
        (VECTOR, {"tokens": "patches"}, "tokens=patches needs image or sequence data, not vector"),
        (IMAGE, {"tokens": "patches", "patch_size": 3}, "patch_size 3 must divide the 8x8"),
        (IMAGE, {"tokens": "patches", "patch_size": 0}, "patch_size 0"),
    ],
)
def test_argument_errors(spec: DataSpec, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("transformer", spec, **kwargs)


def test_input_errors() -> None:
    model = model_for(SEQ)
    with pytest.raises(ValueError, match="got 7 tokens; it was built for at most 6"):
        model(torch.randn(2, 7, F, dtype=torch.float64))
    patches = model_for(IMAGE, tokens="patches")
    with pytest.raises(ValueError, match="needs H and W divisible by 2, got 8x7"):
        patches(torch.randn(2, 1, 8, 7, dtype=torch.float64))
    with pytest.raises(ValueError, match="tokens=patches needs image batches"):
        patches(torch.randn(2, 64, dtype=torch.float64))
