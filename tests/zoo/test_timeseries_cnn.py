"""zoo.timeseries_cnn (FCN, 1-D ResNet) and the Transformer's patch tokens for series:
layers as Wang et al. 2017 give them, padding that changes no real step, both impls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from engine.cli import compose_config
from zoo import DataSpec, create_model
from zoo.timeseries_cnn import TimeSeriesCNN, conv_bn
from zoo.transformer import patch_steps

T, F = 20, 3
SEQ = DataSpec("sequence", (T, F), "classification", num_classes=4)
LENGTHS = torch.tensor([20, 13, 7])


def model_for(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(name, SEQ, **kwargs).double()
    # Batch norm with non-trivial running statistics, so eval mode is not the identity.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model.eval()


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("k", [3, 8])
def test_same_padding_equals_pytorchs(k: int) -> None:
    """conv_bn's written-out padding: the convolution is nn.Conv1d(padding="same")'s."""
    torch.manual_seed(0)
    block = conv_bn(F, 5, k, impl="fused").double()
    conv = nn.Conv1d(F, 5, k, padding="same", bias=False).double()
    conv.weight.data.copy_(block[1].weight)
    x = torch.randn(2, F, T, dtype=torch.float64)
    torch.testing.assert_close(block[1](block[0](x)), conv(x))


def test_fcn_and_resnet_have_wang_et_als_layers() -> None:
    """Parameters of the paper's networks on F = 3 features, K = 4 classes: each conv
    C_in·C_out·k (no bias), each BN 2·C_out, the head C·K + K."""
    fcn = create_model("fcn", SEQ)
    widths, kernels = [3, 128, 256, 128], [8, 5, 3]
    expected = sum(
        widths[i] * widths[i + 1] * kernels[i] + 2 * widths[i + 1] for i in range(3)
    )  # fmt: skip
    assert sum(p.numel() for p in fcn.parameters()) == expected + 128 * 4 + 4

    resnet = create_model("resnet1d", SEQ)
    total, c_in = 0, 3
    for c in [64, 128, 128]:
        total += c_in * c * 8 + c * c * 5 + c * c * 3 + 3 * 2 * c  # three conv + BN
        total += (c_in * c + 2 * c) if c_in != c else 2 * c  # shortcut: 1x1 conv + BN, or BN
        c_in = c
    assert sum(p.numel() for p in resnet.parameters()) == total + 128 * 4 + 4


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("fcn", {}),
        ("resnet1d", {}),
        ("fcn", {"impl": "reference"}),
        ("transformer", {"tokens": "patches", "patch_size": 4, "pooling": "mean"}),
        ("transformer", {"tokens": "patches", "patch_size": 3, "pooling": "cls"}),
        ("transformer", {"pooling": "mean"}),
    ],
    ids=["fcn", "resnet1d", "fcn_reference", "patches_mean", "patches_cls", "series_default"],
)
def test_padding_does_not_change_real_steps(name: str, kwargs: dict) -> None:
    """A padded series' output equals its output alone, whatever the padding holds."""
    if name == "transformer":
        kwargs = {"hidden_size": 16, "num_heads": 2, "positional": "learned", **kwargs}
    model = model_for(name, **kwargs)
    x = torch.randn(3, T, F, dtype=torch.float64)
    padded = model(x, LENGTHS)
    for i, n in enumerate(LENGTHS.tolist()):
        alone = model(x[i : i + 1, :n])  # the real steps only, no padding at all
        torch.testing.assert_close(padded[i], alone[0])


@pytest.mark.parametrize("name", ["fcn", "resnet1d"])
def test_reference_impl_matches_fused(name: str) -> None:
    fused = model_for(name)
    reference = model_for(name, impl="reference")
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(2, T, F, dtype=torch.float64)
    torch.testing.assert_close(reference(x, LENGTHS[:2]), fused(x, LENGTHS[:2]))


def test_gap_makes_one_network_for_any_length() -> None:
    model = model_for("resnet1d")
    for steps in (5, 20, 57):
        assert model(torch.randn(2, steps, F, dtype=torch.float64)).shape == (2, 4)


def test_patch_steps_groups_consecutive_steps() -> None:
    x = torch.arange(2 * 7 * 2).reshape(2, 7, 2)  # (B, T=7, F=2)
    patches = patch_steps(x, 3)  # ⌈7/3⌉ = 3 patches of 3 steps x 2 features
    assert patches.shape == (2, 3, 6)
    assert patches[0, 0].tolist() == [0, 1, 2, 3, 4, 5]  # steps 0, 1, 2
    assert patches[0, 2].tolist() == [12, 13, 0, 0, 0, 0]  # step 6, then zero steps


def test_transformer_patches_size_the_tokens() -> None:
    model = create_model("transformer", SEQ, tokens="patches", patch_size=8)
    assert model.embed.in_features == 8 * F and model.max_len == 3  # ⌈20/8⌉ tokens


def test_transformer_reads_series_as_patches_by_default() -> None:
    """tokens=auto, patch_size=None: p = ⌈T/16⌉ steps per token for a series read whole
    (at most 16 tokens), one step per token for per-step targets, rows for images."""
    model = create_model("transformer", SEQ)  # T = 20: p = ⌈20/16⌉ = 2, 10 tokens
    assert (model.tokens, model.patch_size, model.max_len) == ("patches", 2, 10)
    assert model.embed.in_features == 2 * F
    arrowhead = DataSpec("sequence", (251, 1), "classification", num_classes=3)
    model = create_model("transformer", arrowhead)  # p = ⌈251/16⌉ = 16, ⌈251/16⌉ = 16 tokens
    assert (model.tokens, model.patch_size, model.max_len) == ("patches", 16, 16)
    steps = DataSpec("sequence", (T, F), "classification", num_classes=4, step_targets=True)
    assert create_model("transformer", steps).tokens == "rows"
    image = DataSpec("image", (1, 8, 8), "classification", num_classes=10)
    assert create_model("transformer", image).tokens == "rows"
    patches = create_model("transformer", image, tokens="patches")  # 2 x 2 pixels
    assert (patches.patch_size, patches.max_len) == (2, 16)
    model = compose_config(["model=transformer"]).model  # what train.py gets
    assert (model.tokens, model.patch_size) == ("auto", None)


@pytest.mark.parametrize("name", ["fcn", "resnet1d"])
def test_fcn_and_resnet_outputs_are_embeddings(name: str) -> None:
    """The ``embedding`` capability: an output of the width the few-shot tasks ask for."""
    assert "embedding" in zoo.model_capabilities(name)
    model = create_model(name, SEQ, out_features=16, widths=[8, 8, 8])
    assert model.embedding_size == 16
    assert model(torch.randn(2, T, F), LENGTHS[:2]).shape == (2, 16)


SEQUENCE_FAMILIES = ["mlp", "cnn", "rnn", "lstm", "gru", "transformer", "fcn", "resnet1d"]


@pytest.mark.parametrize("name", SEQUENCE_FAMILIES)
def test_every_sequence_family_reads_every_feature(name: str) -> None:
    """No family reads one feature only, so multivariate series (BasicMotions, D = 6)
    have no model to be refused by: changing only the last feature changes the output."""
    model = model_for(name)
    x = torch.randn(2, T, F, dtype=torch.float64)
    moved = x.clone()
    moved[:, :, F - 1] += 1.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(moved))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": []}, "fcn widths must be a non-empty list"),
        ({"kernel_size": [8, 5]}, "fcn kernel_size must be an int >= 1 or 3 of them"),
        ({"impl": "cuda"}, "fcn impl must be one of fused, reference"),
    ],
)
def test_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSeriesCNN(F, 4, **kwargs)
