"""model=autoencoder, model=vae, model=probe: shapes, the VAE's sampling and its
reparameterization gradients, encoders shared with a probe that keeps them frozen."""

from __future__ import annotations

import math

import pytest
import torch
from model_examples import GENERATIVE_CASE_IDS, GENERATIVE_CASES
from torch import nn
from torch.nn import functional as F

import zoo
from zoo import DataSpec
from zoo.autoencoder import VAE, AutoEncoder, PosteriorMean, Probe

CASES, CASE_IDS = GENERATIVE_CASES, GENERATIVE_CASE_IDS


def spec_of(shape: tuple[int, ...], num_classes: int = 3) -> DataSpec:
    kind = "image" if len(shape) == 3 else "vector"
    return DataSpec(kind, shape, "classification", num_classes=num_classes)


def small(name: str, shape: tuple[int, ...] = (1, 8, 8), arch: str = "mlp", **kwargs):
    sizes = {"latent_size": 3, "widths": [16, 8] if arch == "mlp" else [4, 8]}
    return zoo.create_model(name, spec_of(shape), arch=arch, **{**sizes, **kwargs})


def linear_widths(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
@pytest.mark.parametrize(("shape", "arch"), CASES, ids=CASE_IDS)
def test_shapes(name: str, shape: tuple[int, ...], arch: str) -> None:
    torch.manual_seed(0)
    model = small(name, shape, arch, norm="batch")
    assert (model.latent_size, model.data_shape) == (3, shape)
    x = torch.randn(5, *shape)
    z = model.encode(x)
    assert z.shape == (5, 3)
    assert model.features(x).shape == (5, 3)
    assert model.decode(z).shape == (5, *shape)
    assert model(x).shape == (5, *shape)
    assert model.feature_extractor()(x).shape == (5, 3)
    if name == "vae":
        mu, logvar = model.posterior(x)
        assert mu.shape == logvar.shape == (5, 3)
        assert model.generate(4).shape == (4, *shape)


def test_default_sizes_for_digits() -> None:
    ae = zoo.create_model("autoencoder", spec_of((64,)))
    assert not ae.variational and ae.latent_size == 16
    assert linear_widths(ae.encoder) == [(64, 256), (256, 128), (128, 16)]
    assert linear_widths(ae.decoder) == [(16, 128), (128, 256), (256, 64)]
    vae = zoo.create_model("vae", spec_of((64,)))
    assert vae.variational and vae.latent_size == 8
    assert linear_widths(vae.encoder)[-1] == (128, 16)  # [μ | log σ²]
    assert linear_widths(vae.decoder)[0] == (8, 128)


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_decoder_outputs_are_raw(name: str, arch: str) -> None:
    """No output activation: the loss reads them as logits (BCE) or values (MSE)."""
    model = small(name, (1, 8, 8), arch)
    assert type(model.decoder[-1]) is (nn.Unflatten if arch == "mlp" else nn.Conv2d)
    x_hat = model.decode(1000 * torch.randn(64, 3))
    assert x_hat.abs().max() > 1  # beyond what a sigmoid or tanh could give


def test_no_widths_is_a_linear_autoencoder() -> None:
    ae = small("autoencoder", (6,), widths=[])
    assert [type(m) for m in ae.encoder] == [nn.Flatten, nn.Linear]
    x = torch.randn(4, 6)
    enc, dec = ae.encoder[1], ae.decoder[0]
    torch.testing.assert_close(ae(x), (x @ enc.weight.T + enc.bias) @ dec.weight.T + dec.bias)


def test_out_features_is_ignored() -> None:
    torch.manual_seed(0)
    default = zoo.create_model("vae", spec_of((1, 8, 8)))
    torch.manual_seed(0)
    one = zoo.create_model("vae", spec_of((1, 8, 8)), out_features=1)
    assert repr(one) == repr(default)


def test_conv_maps_mirror_each_other() -> None:
    """widths=[32, 64] on 28x28: encoder 1 -> 32@14 -> 64@7, decoder 64@7 -> 32@14 -> 32@28."""
    spec = spec_of((1, 28, 28))
    ae = zoo.create_model("autoencoder", spec, arch="conv", widths=[32, 64], norm="batch")
    x = torch.randn(2, 1, 28, 28)
    h1 = ae.encoder[0](x)
    h2 = ae.encoder[1](h1)
    assert (h1.shape[1:], h2.shape[1:]) == ((32, 14, 14), (64, 7, 7))
    assert ae.encoder[-1].in_features == 64 * 7 * 7
    maps = [ae.decoder[0](ae.encode(x))]
    for stage in ae.decoder[1:]:
        maps.append(stage(maps[-1]))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (64, 7, 7),
        (32, 14, 14),
        (32, 28, 28),
        (1, 28, 28),
    ]
    assert any(isinstance(m, nn.BatchNorm2d) for m in ae.encoder[0])  # every block, unlike D


# Errors: one line, with the bad value and what would work.


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
def test_wrong_latent_width_raises_one_line(name: str) -> None:
    model = zoo.create_model(name, spec_of((64,)))
    Z = model.latent_size
    with pytest.raises(ValueError) as info:
        model.decode(torch.randn(4, 2))
    assert (
        str(info.value)
        == f"{name} latent_size is {Z} but z has 2 columns; pass z of shape (B, {Z})"
    )


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
def test_conv_on_vectors_and_indivisible_images_raise(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} arch=conv reads images \(C, H, W\), not data"):
        zoo.create_model(name, spec_of((64,)), arch="conv")
    with pytest.raises(ValueError) as info:
        zoo.create_model(name, spec_of((1, 28, 28)), arch="conv", widths=[8, 8, 8])
    message = str(info.value)
    assert message.startswith(f"{name} arch=conv halves the image 3 times")
    assert message.endswith("use at most 2 widths entries for 28x28 images")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("arch", "rnn", "vae arch must be one of mlp, conv; got 'rnn'"),
        ("norm", "layer", "vae norm must be one of none, batch; got 'layer'"),
        ("latent_size", 0, "vae latent_size must be >= 1, got 0"),
        ("widths", [8, 0], r"vae widths must be a list of ints >= 1, got \[8, 0\]"),
    ],
)
def test_bad_options_raise(option: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=f"^{match}$"):
        zoo.create_model("vae", spec_of((64,)), **{option: value})


# The VAE: sampling in training, the mean in evaluation, the reparameterization trick.


def test_vae_eval_forward_is_deterministic_and_decodes_the_mean() -> None:
    torch.manual_seed(0)
    vae = small("vae", norm="batch")
    x = torch.randn(6, 1, 8, 8)
    vae(x)  # one training-mode pass, so batch norm has running statistics to use
    vae.eval()
    x_hat, mu, logvar = vae.forward_with_posterior(x)
    torch.testing.assert_close(vae(x), vae(x))
    torch.testing.assert_close(x_hat, vae.decode(mu))
    torch.testing.assert_close(vae(x), vae.decode(vae.encode(x)))
    torch.testing.assert_close(mu, vae.posterior(x)[0])
    torch.testing.assert_close(logvar, vae.posterior(x)[1])


def test_vae_train_forward_samples() -> None:
    torch.manual_seed(0)
    vae = small("vae").train()
    x = torch.randn(6, 1, 8, 8)
    a, b = vae(x), vae(x)
    assert not torch.allclose(a, b)
    x_hat, mu, _ = vae.forward_with_posterior(x)
    assert not torch.allclose(x_hat, vae.decode(mu))
    torch.testing.assert_close(vae.encode(x), mu)  # the code is μ in either mode


def test_reparameterize_has_the_posteriors_mean_and_std() -> None:
    n = 200_000
    mu = torch.tensor([1.0, -2.0, 0.0])
    std = torch.tensor([0.5, 2.0, 1.0])
    logvar = (2 * std.log()).expand(n, 3)
    z = VAE.reparameterize(mu.expand(n, 3), logvar, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), mu, atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), std, atol=0, rtol=0.01)
    seeded = VAE.reparameterize(mu.expand(n, 3), logvar, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, seeded)  # the generator fixes ε


def test_reparameterize_gradients_reach_mu_and_logvar() -> None:
    """E[z] = μ gives ∂E[z]/∂μ = 1; E[z²] = μ² + σ² gives ∂E[z²]/∂log σ² = σ²."""
    n = 200_000
    mu = torch.tensor(0.5, requires_grad=True)
    logvar = torch.tensor(math.log(4.0), requires_grad=True)
    z = VAE.reparameterize(
        mu.expand(n), logvar.expand(n), generator=torch.Generator().manual_seed(0)
    )
    (d_mu,) = torch.autograd.grad(z.mean(), mu, retain_graph=True)
    torch.testing.assert_close(d_mu, torch.tensor(1.0))  # exactly: ∂z/∂μ = 1 for every ε
    d_mu, d_logvar = torch.autograd.grad(z.square().mean(), (mu, logvar))
    torch.testing.assert_close(d_mu, torch.tensor(1.0), atol=0.03, rtol=0)  # 2μ = 1
    torch.testing.assert_close(d_logvar, torch.tensor(4.0), atol=0, rtol=0.02)  # σ² = 4


def test_reparameterize_gradcheck() -> None:
    mu = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)

    def fixed_eps(m: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
        return VAE.reparameterize(m, lv, generator=torch.Generator().manual_seed(0))

    assert torch.autograd.gradcheck(fixed_eps, (mu, logvar))


def test_vae_sample_latent_and_generate() -> None:
    vae = small("vae")
    z = vae.sample_latent(20_000, generator=torch.Generator().manual_seed(1))
    assert z.shape == (20_000, 3)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    a = vae.generate(5, generator=torch.Generator().manual_seed(2))
    b = vae.decode(vae.sample_latent(5, generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close(a, b)
    assert vae.double().sample_latent(2).dtype == torch.float64


# Feature extractors share their parameters with the model.


def shares_parameters(part: nn.Module, model: nn.Module) -> bool:
    ptrs = {p.data_ptr() for p in model.parameters()}
    return all(p.data_ptr() in ptrs for p in part.parameters())


def test_autoencoder_feature_extractor_is_its_encoder() -> None:
    ae = small("autoencoder")
    extractor = ae.feature_extractor()
    assert extractor is ae.encoder and shares_parameters(extractor, ae)
    x = torch.randn(4, 1, 8, 8)
    before = extractor(x)
    with torch.no_grad():
        ae.encoder[-1].weight.add_(1.0)
    assert not torch.allclose(extractor(x), before)
    torch.testing.assert_close(extractor(x), ae.features(x))


def test_vae_feature_extractor_returns_mu_with_shared_parameters() -> None:
    torch.manual_seed(0)
    vae = small("vae", arch="conv").train()
    extractor = vae.feature_extractor()
    assert isinstance(extractor, PosteriorMean)
    assert shares_parameters(extractor, vae)
    assert len(list(extractor.parameters())) == len(list(vae.encoder.parameters()))
    x = torch.randn(4, 1, 8, 8)
    mu, _ = vae.posterior(x)
    torch.testing.assert_close(extractor(x), mu)  # μ, not a sample, even in training mode
    torch.testing.assert_close(vae.features(x), mu)
    with torch.no_grad():
        vae.encoder[-1].bias.add_(1.0)
    torch.testing.assert_close(extractor(x), mu + 1.0)


# The probe: a head on a (frozen) encoder.


def batch_norm_encoder() -> tuple[AutoEncoder, nn.Module]:
    torch.manual_seed(0)
    ae = small("autoencoder", (10,), norm="batch")
    ae(torch.randn(16, 10))  # move the running statistics off their initial values
    return ae, ae.feature_extractor()


def sgd_step(probe: Probe) -> None:
    x, y = torch.randn(16, 10), torch.randint(0, 3, (16,))
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.5)
    optimizer.zero_grad()
    F.cross_entropy(probe(x), y).backward()
    optimizer.step()


def test_frozen_probe_trains_only_its_head() -> None:
    ae, encoder = batch_norm_encoder()
    before = {k: v.clone() for k, v in ae.state_dict().items()}  # with BN running stats
    probe = Probe(encoder, latent_size=3, out_features=3)
    probe.train()
    assert probe.training and probe.head.training and not encoder.training
    assert all(not p.requires_grad for p in encoder.parameters())
    head_before = probe.head[0].weight.clone()
    sgd_step(probe)
    assert all(p.grad is None for p in encoder.parameters())
    for name, value in ae.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=name)
    assert not torch.allclose(probe.head[0].weight, head_before)
    assert probe.head[0].weight.grad is not None


def test_unfrozen_probe_trains_the_encoder_too() -> None:
    ae, encoder = batch_norm_encoder()
    before = {k: v.clone() for k, v in ae.state_dict().items()}
    Probe(encoder, latent_size=3, out_features=3)  # freezes the shared parameters...
    probe = Probe(encoder, latent_size=3, out_features=3, freeze=False).train()  # ...and back
    assert all(p.requires_grad for p in encoder.parameters())
    assert encoder.training
    sgd_step(probe)
    weight = "encoder.1.0.weight"
    running_mean = "encoder.1.1.running_mean"
    assert not torch.allclose(ae.state_dict()[weight], before[weight])
    assert not torch.allclose(ae.state_dict()[running_mean], before[running_mean])


def test_probe_eval_and_train_modes() -> None:
    _, encoder = batch_norm_encoder()
    probe = Probe(encoder, latent_size=3, out_features=3)
    assert probe.eval() is probe and not probe.training and not encoder.training
    assert probe.train() is probe and probe.training and not encoder.training


def test_probe_heads() -> None:
    _, encoder = batch_norm_encoder()
    linear = Probe(encoder, latent_size=3, out_features=4)
    assert [type(m) for m in linear.head] == [nn.Linear]
    mlp = Probe(encoder, latent_size=3, out_features=4, hidden_size=7, activation="tanh")
    assert [type(m) for m in mlp.head] == [nn.Linear, nn.Tanh, nn.Linear]
    assert linear_widths(mlp.head) == [(3, 7), (7, 4)]
    x = torch.randn(5, 10)
    mlp.eval()
    torch.testing.assert_close(mlp(x), mlp.head(encoder(x)))


def test_build_probe_from_a_vae_feature_extractor() -> None:
    vae = small("vae", (1, 8, 8), arch="conv")
    spec = spec_of((1, 8, 8), num_classes=5)
    probe = zoo.create_model(
        "probe",
        spec,
        backbone=vae.feature_extractor(),
        latent_size=3,
        run="runs/x",
        checkpoint="last",
    )
    assert probe(torch.randn(4, 1, 8, 8)).shape == (4, 5)
    assert zoo.create_model(
        "probe", spec, out_features=1, backbone=vae.feature_extractor(), latent_size=3
    )(torch.randn(4, 1, 8, 8)).shape == (4, 1)


def test_probe_without_a_backbone_raises_one_line() -> None:
    with pytest.raises(ValueError) as info:
        zoo.create_model("probe", spec_of((64,)))
    assert str(info.value) == (
        "probe needs an encoder: set model.run=<an autoencoder or vae run directory>"
    )
    with pytest.raises(ValueError, match=r"^probe needs latent_size"):
        zoo.create_model("probe", spec_of((64,)), backbone=nn.Identity())
