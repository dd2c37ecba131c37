"""model=resnet and model=resnet18: shapes, shortcuts, zero-init residuals, offline builds."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from conftest import compose_cfg
from torch import nn

import zoo
import zoo.resnet
from engine.run import kwargs_of
from zoo import DataSpec
from zoo.resnet import BasicBlock, ResNet, adapt_input_conv

DIGITS = DataSpec("image", (1, 8, 8), "classification", num_classes=10)


def image_spec(c: int, h: int, w: int, k: int = 10) -> DataSpec:
    return DataSpec("image", (c, h, w), "classification", num_classes=k)


def blocks(model: ResNet) -> list[BasicBlock]:
    return [m for m in model.modules() if isinstance(m, BasicBlock)]


@pytest.mark.parametrize(
    ("shape", "widths", "n"),
    [((1, 8, 8), [16, 32, 64], 2), ((3, 32, 32), [8, 16], 1), ((2, 5, 11), [4, 8, 8, 16], 1)],
)
def test_shapes(shape: tuple, widths: list[int], n: int) -> None:
    model = zoo.create_model("resnet", image_spec(*shape), widths=widths, blocks_per_stage=n)
    assert model(torch.randn(3, *shape)).shape == (3, 10)
    assert len(blocks(model)) == n * len(widths)
    convs = sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in model.modules())
    assert convs == 2 * n * len(widths) + 1  # depth 6n + 2 for 3 stages: + stem and head


def test_projection_shortcut_only_where_the_shape_changes() -> None:
    model = zoo.create_model("resnet", DIGITS, widths=[16, 16, 32], blocks_per_stage=2)
    projected = [not isinstance(b.shortcut, nn.Identity) for b in blocks(model)]
    # stage 1 keeps 16 ch at 8x8; stage 2 keeps 16 ch but halves to 4x4; stage 3 doubles.
    assert projected == [False, False, True, False, True, False]
    strides = [b.conv1.stride for b in blocks(model)]
    assert strides == [(1, 1), (1, 1), (2, 2), (1, 1), (2, 2), (1, 1)]


def test_maps_never_shrink_below_one_pixel() -> None:
    # 8 -> 4 -> 2 -> 1, then stages keep 1x1 (stride 1) and project only to widen.
    model = ResNet(1, (8, 8), 10, widths=[4, 4, 4, 4, 4], blocks_per_stage=1)
    strides = [b.conv1.stride for b in blocks(model)]
    assert strides == [(1, 1), (2, 2), (2, 2), (2, 2), (1, 1)]
    assert isinstance(blocks(model)[-1].shortcut, nn.Identity)
    h = model.stages(model.stem(torch.randn(2, 1, 8, 8)))
    assert h.shape == (2, 4, 1, 1)


def test_zero_init_residual_makes_identity_blocks_pass_through() -> None:
    """With γ = 0 on each block's last BN, F(x) = 0: a block computes relu(shortcut(x)).
    Identity-shortcut blocks see the non-negative output of a ReLU, so they are exact
    identities, and deleting them changes nothing; projection blocks are not identities."""
    torch.manual_seed(0)
    model = zoo.create_model("resnet", DIGITS)  # zero_init_residual defaults to true
    model.eval()
    x = torch.randn(4, 1, 8, 8)
    h = model.stem(x)
    for block in blocks(model):
        out = block(h)
        torch.testing.assert_close(out, torch.relu(block.shortcut(h)))
        if isinstance(block.shortcut, nn.Identity):
            torch.testing.assert_close(out, h)
        h = out
    shallow = model.stages
    for stage in shallow:
        for i, block in enumerate(stage):
            if isinstance(block.shortcut, nn.Identity):
                stage[i] = nn.Identity()
    torch.testing.assert_close(model.head(model.pool(shallow(model.stem(x))).flatten(1)), model(x))


def test_without_zero_init_residual_blocks_are_not_identities() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("resnet", DIGITS, zero_init_residual=False)
    block = blocks(model)[1]
    assert isinstance(block.shortcut, nn.Identity)
    h = torch.relu(torch.randn(4, 16, 8, 8))
    assert not torch.allclose(block(h), h)
    assert all(b.bn2.weight.eq(1).all() for b in blocks(model))


def test_gradients_flow() -> None:
    """All parameters get gradients; with zero_init_residual the residual branches get
    zero gradient until their last γ moves off 0, which one SGD step does."""
    torch.manual_seed(0)
    model = zoo.create_model("resnet", DIGITS)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for step in range(2):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            inside_branch = ".conv1." in name or ".conv2." in name or ".bn1." in name
            if step == 1 or not inside_branch:
                assert p.grad.abs().sum() > 0, (step, name)
            else:
                assert p.grad.abs().sum() == 0, name
        optimizer.step()


def test_reference_and_fused_impls_agree() -> None:
    torch.manual_seed(0)
    fused = zoo.create_model("resnet", DIGITS, zero_init_residual=False, impl="fused")
    reference = zoo.create_model("resnet", DIGITS, zero_init_residual=False, impl="reference")
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(reference(x), fused(x), atol=1e-5, rtol=1e-4)
    fused.eval()
    reference.eval()
    torch.testing.assert_close(reference(x), fused(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": []}, "widths must be a non-empty list"),
        ({"blocks_per_stage": 0}, "blocks_per_stage must be >= 1, got 0"),
        ({"impl": "cuda"}, "impl must be one of fused, reference; got 'cuda'"),
    ],
)
def test_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zoo.create_model("resnet", DIGITS, **kwargs)


def test_images_only() -> None:
    vector = DataSpec("vector", (64,), "classification", num_classes=10)
    for name in ("resnet", "resnet18"):
        with pytest.raises(zoo.IncompatibleDataError, match="reads image data"):
            zoo.create_model(name, vector)


@pytest.mark.parametrize("name", ["resnet", "resnet18"])
def test_configs_mirror_builders(name: str) -> None:
    cfg = compose_cfg(f"model={name}")
    torch.manual_seed(0)
    from_yaml = zoo.create_model(name, DIGITS, **kwargs_of(cfg.model))
    torch.manual_seed(0)
    default = zoo.create_model(name, DIGITS)
    assert repr(from_yaml) == repr(default)


# ----------------------------------------------------------------------------- resnet18


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails, as it does on a machine without a connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", refuse)
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", refuse)


@pytest.fixture
def fake_pretrained(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """ResNet18_Weights "download" a fixed random state dict instead of ImageNet's."""
    from torchvision.models import resnet18

    torch.manual_seed(123)
    state = resnet18().state_dict()
    monkeypatch.setattr(
        "torchvision.models._api.load_state_dict_from_url", lambda *a, **k: dict(state)
    )
    return state


@pytest.mark.parametrize(
    ("shape", "small", "stem"),
    [((1, 8, 8), "auto", (3, 1)), ((3, 64, 64), "auto", (7, 2)), ((2, 40, 40), False, (7, 2))],
)
def test_resnet18_builds_offline_with_resized_head_and_stem(no_network, shape, small, stem) -> None:
    model = zoo.create_model("resnet18", image_spec(*shape, k=7), small_input=small)
    assert isinstance(model.fc, nn.Linear) and model.fc.weight.shape == (7, 512)
    assert model.conv1.in_channels == shape[0]
    assert (model.conv1.kernel_size[0], model.conv1.stride[0]) == stem
    assert isinstance(model.maxpool, nn.Identity) == (stem == (3, 1))
    assert model(torch.randn(2, *shape)).shape == (2, 7)


def test_resnet18_gradients_flow(no_network) -> None:
    torch.manual_seed(0)
    model = zoo.create_model("resnet18", DIGITS)
    model(torch.randn(4, 1, 8, 8)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_resnet18_bad_weights_name_lists_the_available_ones() -> None:
    with pytest.raises(
        ValueError, match="no weights 'IMAGENET'; available: IMAGENET1K_V1, DEFAULT"
    ):
        zoo.create_model("resnet18", DIGITS, weights="IMAGENET")


def test_resnet18_download_failure_is_one_line(no_network) -> None:
    with pytest.raises(OSError, match="could not be fetched") as info:
        zoo.create_model("resnet18", DIGITS, weights="DEFAULT")
    assert "weights=null trains from scratch" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("weights", ["DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"])
def test_resnet18_pretrained_grey_stem_sums_rgb_kernels(fake_pretrained, weights: str) -> None:
    spec = image_spec(1, 64, 64)
    model = zoo.create_model("resnet18", spec, weights=weights, small_input=False)
    rgb = fake_pretrained["conv1.weight"]
    torch.testing.assert_close(model.conv1.weight, rgb.sum(1, keepdim=True))
    torch.testing.assert_close(
        model.layer1[0].conv1.weight, fake_pretrained["layer1.0.conv1.weight"]
    )
    # A grey image x gets the response the RGB network gave to (x, x, x).
    x = torch.randn(2, 1, 64, 64)
    rgb_conv = nn.functional.conv2d(x.expand(-1, 3, -1, -1), rgb, stride=2, padding=3)
    torch.testing.assert_close(model.conv1(x), rgb_conv, atol=1e-5, rtol=1e-4)


def test_adapt_input_conv_keeps_the_response_to_equal_channels() -> None:
    rgb = torch.randn(8, 3, 5, 5)
    x = torch.randn(2, 1, 9, 9)
    target = nn.functional.conv2d(x.expand(-1, 3, -1, -1), rgb)
    for c in (1, 2, 4):
        w = adapt_input_conv(rgb, c)
        assert w.shape == (8, c, 5, 5)
        torch.testing.assert_close(
            nn.functional.conv2d(x.expand(-1, c, -1, -1), w), target, atol=1e-5, rtol=1e-4
        )


def test_resnet18_bad_small_input() -> None:
    with pytest.raises(ValueError, match="small_input must be true, false or 'auto'; got 'yes'"):
        zoo.create_model("resnet18", DIGITS, small_input="yes")
