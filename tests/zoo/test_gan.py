"""model=gan: generator and discriminator shapes, DCGAN's map sizes, output ranges,
PacGAN packing, and the one-line errors."""

from __future__ import annotations

import pytest
import torch
from model_examples import GENERATIVE_CASE_IDS, GENERATIVE_CASES
from torch import nn

import zoo
from zoo import DataSpec
from zoo.gan import GAN

CASES, CASE_IDS = GENERATIVE_CASES, GENERATIVE_CASE_IDS


def spec_of(shape: tuple[int, ...]) -> DataSpec:
    kind = "image" if len(shape) == 3 else "vector"
    return DataSpec(kind, shape, "classification", num_classes=2)


def small_gan(shape: tuple[int, ...], arch: str, **kwargs) -> GAN:
    sizes = {"latent_size": 5, "hidden_size": 16, "d_hidden_size": 16, "widths": [8, 4]}
    return zoo.create_model("gan", spec_of(shape), arch=arch, **{**sizes, **kwargs})


def stage_shapes(stages: nn.Sequential, x: torch.Tensor) -> list[tuple[int, ...]]:
    """The output shape after each child of ``stages``, without the batch dimension."""
    shapes = []
    for stage in stages:
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def linear_widths(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(("shape", "arch"), CASES, ids=CASE_IDS)
def test_shapes(shape: tuple[int, ...], arch: str) -> None:
    torch.manual_seed(0)
    gan = small_gan(shape, arch, norm="batch", d_norm="batch")
    assert (gan.latent_size, gan.pack, gan.data_shape) == (5, 1, shape)
    z = gan.sample_latent(6)
    assert z.shape == (6, 5)
    fake = gan(z)
    assert fake.shape == (6, *shape)
    assert gan.generate(6).shape == (6, *shape)
    assert gan.discriminate(fake).shape == (6, 1)
    assert gan.discriminate(torch.randn(6, *shape)).shape == (6, 1)


def test_both_networks_get_gradients_through_d_of_g() -> None:
    torch.manual_seed(0)
    gan = small_gan((1, 8, 8), "conv", norm="batch", d_norm="batch")
    gan.discriminate(gan.generate(4)).sum().backward()
    for name, p in gan.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_default_mlp_for_2d_data() -> None:
    gan = zoo.create_model("gan", spec_of((2,)))
    assert (gan.latent_size, gan.pack) == (8, 1)
    assert linear_widths(gan.generator) == [(8, 128), (128, 128), (128, 128), (128, 2)]
    assert linear_widths(gan.discriminator) == [(2, 128), (128, 128), (128, 128), (128, 1)]
    acts = [m for m in gan.discriminator.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 3 and all(a.negative_slope == 0.2 for a in acts)
    assert sum(isinstance(m, nn.ReLU) for m in gan.generator.modules()) == 3
    assert not any(isinstance(m, nn.BatchNorm1d | nn.Dropout) for m in gan.modules())
    assert isinstance(gan.generator[-1], nn.Unflatten)  # identity output: no activation


def test_out_features_is_ignored() -> None:
    spec = spec_of((1, 8, 8))
    torch.manual_seed(0)
    default = zoo.create_model("gan", spec, arch="conv")
    torch.manual_seed(0)
    one = zoo.create_model("gan", spec, arch="conv", out_features=1)
    assert repr(one) == repr(default)
    assert one.generate(2).shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    ("shape", "g_maps", "d_maps"),
    [
        ((1, 8, 8), [(64, 2, 2), (32, 4, 4), (32, 8, 8), (1, 8, 8)], [(32, 4, 4), (64, 2, 2)]),
        (
            (1, 28, 28),
            [(64, 7, 7), (32, 14, 14), (32, 28, 28), (1, 28, 28)],
            [(32, 14, 14), (64, 7, 7)],
        ),
        (
            (3, 32, 32),
            [(64, 8, 8), (32, 16, 16), (32, 32, 32), (3, 32, 32)],
            [(32, 16, 16), (64, 8, 8)],
        ),
    ],
    ids=["digits", "mnist", "cifar"],
)
def test_dcgan_map_sizes(shape: tuple, g_maps: list, d_maps: list) -> None:
    """widths=[64, 32]: G goes 64 maps at H/4 -> 32 at H/2 -> 32 at H -> C; D mirrors."""
    gan = zoo.create_model("gan", spec_of(shape), arch="conv", widths=[64, 32])
    assert stage_shapes(gan.generator, torch.randn(2, 8)) == g_maps
    conv_stages = gan.discriminator[:2]
    assert stage_shapes(conv_stages, torch.randn(2, *shape)) == d_maps


def test_dcgan_batch_norm_placement() -> None:
    gan = small_gan((1, 8, 8), "conv", norm="batch", d_norm="batch", output="tanh")
    # G: batch norm after the projection and each transposed conv, not on the output.
    g_types = [[type(m) for m in stage] for stage in gan.generator[:-2]]
    assert g_types == [
        [nn.Linear, nn.Unflatten, nn.BatchNorm2d, nn.ReLU],
        [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU],
        [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU],
    ]
    assert [type(m) for m in gan.generator[-2:]] == [nn.Conv2d, nn.Tanh]
    # D: none on the first block (it reads the samples), on every later one.
    d_types = [[type(m) for m in stage] for stage in gan.discriminator[:2]]
    assert d_types == [[nn.Conv2d, nn.LeakyReLU], [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU]]
    assert gan.discriminator[0][0].bias is not None and gan.discriminator[1][0].bias is None


@pytest.mark.parametrize(("shape", "arch"), [((3,), "mlp"), ((1, 8, 8), "conv")])
@pytest.mark.parametrize(("output", "low", "high"), [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)])
def test_output_ranges(shape: tuple, arch: str, output: str, low: float, high: float) -> None:
    torch.manual_seed(0)
    gan = small_gan(shape, arch, output=output)
    x = gan(50 * gan.sample_latent(200))  # large z: outputs reach toward saturation
    assert x.min() >= low and x.max() <= high
    assert x.min() < low + 0.5 and x.max() > high - 0.5  # the range is used, not a constant
    raw = small_gan(shape, arch, output="identity")
    raw.load_state_dict(gan.state_dict())
    z = gan.sample_latent(4)
    squash = torch.sigmoid if output == "sigmoid" else torch.tanh
    torch.testing.assert_close(gan(z), squash(raw(z)))


def test_sample_latent_is_standard_normal_seeded_and_on_the_models_dtype() -> None:
    gan = small_gan((2,), "mlp")
    z = gan.sample_latent(20_000, generator=torch.Generator().manual_seed(1))
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    again = gan.sample_latent(20_000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z, again)
    assert gan.double().sample_latent(3).dtype == torch.float64
    a = gan.generate(3, generator=torch.Generator().manual_seed(2))
    b = gan(gan.sample_latent(3, generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close(a, b)


# PacGAN: the discriminator reads `pack` consecutive samples as one input.


def test_mlp_packing_puts_pairs_side_by_side() -> None:
    torch.manual_seed(0)
    gan = small_gan((5,), "mlp", pack=2).eval()
    x = torch.randn(6, 5)
    pairs = torch.cat([x[0::2], x[1::2]], dim=1)  # (3, 10): samples 0|1, 2|3, 4|5
    torch.testing.assert_close(gan.discriminate(x), gan.discriminator(pairs))
    assert gan.discriminate(x).shape == (3, 1)


def test_mlp_packing_flattens_images() -> None:
    torch.manual_seed(0)
    gan = small_gan((1, 4, 4), "mlp", pack=3).eval()
    x = torch.randn(6, 1, 4, 4)
    flat = x.flatten(1)
    triples = torch.cat([flat[0::3], flat[1::3], flat[2::3]], dim=1)  # (2, 48)
    torch.testing.assert_close(gan.discriminate(x), gan.discriminator(triples))


@pytest.mark.parametrize(("shape", "pack"), [((1, 8, 8), 2), ((3, 8, 8), 3)])
def test_conv_packing_stacks_channels(shape: tuple, pack: int) -> None:
    torch.manual_seed(0)
    gan = small_gan(shape, "conv", pack=pack, d_norm="batch").eval()
    x = torch.randn(2 * pack, *shape)
    stacked = torch.cat([x[i::pack] for i in range(pack)], dim=1)  # (2, pack·C, 8, 8)
    assert stacked.shape == (2, pack * shape[0], 8, 8)
    torch.testing.assert_close(gan.discriminate(x), gan.discriminator(stacked))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_pack_widens_only_the_first_discriminator_layer(arch: str) -> None:
    shape = (2, 8, 8)
    one, three = small_gan(shape, arch, pack=1), small_gan(shape, arch, pack=3)
    if arch == "mlp":
        firsts = one.discriminator[1][0].in_features, three.discriminator[1][0].in_features
        assert firsts == (2 * 8 * 8, 3 * 2 * 8 * 8)
    else:
        firsts = one.discriminator[0][0].in_channels, three.discriminator[0][0].in_channels
        assert firsts == (2, 6)
    shapes_one = [p.shape for p in one.discriminator.parameters()]
    shapes_three = [p.shape for p in three.discriminator.parameters()]
    assert shapes_one[1:] == shapes_three[1:]
    assert [p.shape for p in one.generator.parameters()] == [
        p.shape for p in three.generator.parameters()
    ]


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_batch_not_divisible_by_pack_raises(arch: str) -> None:
    gan = small_gan((1, 8, 8), arch, pack=2)
    with pytest.raises(ValueError) as info:
        gan.discriminate(torch.randn(5, 1, 8, 8))
    assert str(info.value) == (
        "gan pack=2 judges samples in groups of 2, but the batch has 5; "
        "use a batch size divisible by 2"
    )


# Errors: one line, with the bad value and what would work.


def test_wrong_latent_width_raises_one_line() -> None:
    gan = zoo.create_model("gan", spec_of((2,)))
    with pytest.raises(ValueError) as info:
        gan(torch.randn(4, 3))
    assert str(info.value) == "gan latent_size is 8 but z has 3 columns; pass z of shape (B, 8)"
    with pytest.raises(ValueError, match=r"^gan latent_size is 8 but z has shape \(8,\);"):
        gan(torch.randn(8))


def test_discriminating_the_wrong_shape_raises() -> None:
    gan = small_gan((1, 8, 8), "conv")
    with pytest.raises(ValueError, match=r"^gan discriminates samples of shape \(1, 8, 8\)"):
        gan.discriminate(torch.randn(4, 3, 8, 8))


def test_conv_on_vector_data_raises() -> None:
    with pytest.raises(ValueError) as info:
        zoo.create_model("gan", spec_of((64,)), arch="conv")
    assert str(info.value) == (
        "gan arch=conv reads images (C, H, W), not data of shape (64,); use arch=mlp"
    )


@pytest.mark.parametrize(
    ("shape", "widths", "message"),
    [
        (
            (1, 28, 28),
            [8, 8, 8],
            "gan arch=conv halves the image 3 times (once per widths entry), so H and W "
            "must be multiples of 8 (8, 16, 24, ...), got 28x28; use at most 2 widths "
            "entries for 28x28 images",
        ),
        ((1, 12, 10), [8, 8], "got 12x10; use at most 1 widths entries for 12x10 images"),
        ((1, 7, 7), [8], "got 7x7; use arch=mlp for 7x7 images"),
    ],
    ids=["mnist-3-stages", "12x10", "odd"],
)
def test_image_sizes_not_divisible_by_2_to_the_n_raise(
    shape: tuple, widths: list, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        zoo.create_model("gan", spec_of(shape), arch="conv", widths=widths)
    assert str(info.value).endswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("arch", "rnn", "gan arch must be one of mlp, conv; got 'rnn'"),
        ("norm", "layer", "gan norm must be one of none, batch; got 'layer'"),
        ("d_norm", "layer", "gan d_norm must be one of none, batch; got 'layer'"),
        ("output", "relu", "gan output must be one of identity, sigmoid, tanh; got 'relu'"),
        ("pack", 0, r"gan pack must be >= 1 \(1 = no packing\), got 0"),
        ("latent_size", 0, "gan latent_size must be >= 1, got 0"),
        ("d_dropout", 1.0, r"gan d_dropout must be in \[0, 1\), got 1.0"),
        ("widths", [], r"gan widths must be a non-empty list of ints >= 1, got \[\]"),
    ],
)
def test_bad_options_raise(option: str, value: object, match: str) -> None:
    arch = "conv" if option == "widths" else "mlp"
    kwargs = {"arch": arch, option: value}
    with pytest.raises(ValueError, match=f"^{match}$"):
        zoo.create_model("gan", spec_of((1, 8, 8)), **kwargs)


def test_d_activation_kwargs_must_fit_the_activation() -> None:
    spec = spec_of((2,))
    with pytest.raises(TypeError, match="activation 'relu' has no option negative_slope"):
        zoo.create_model("gan", spec, d_activation="relu")
    gan = zoo.create_model("gan", spec, d_activation="relu", d_activation_kwargs={})
    assert isinstance(gan.discriminator[1][1], nn.ReLU)
