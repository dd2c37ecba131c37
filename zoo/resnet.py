"""Residual networks: blocks that learn a correction F(x) to the identity.

He, Zhang, Ren & Sun, "Deep residual learning for image recognition" (CVPR 2016).
A residual block computes

    y = relu(F(x) + shortcut(x)),   F(x) = BN₂(W₂ ⋆ relu(BN₁(W₁ ⋆ x)))

with W₁, W₂ 3x3 convolutions (the *BasicBlock*). The shortcut is the identity when x
and F(x) have the same shape, else a 1x1 convolution with the block's stride plus
batch norm (the paper's projection shortcut, option B). Because gradients reach
early layers through the identity paths unchanged, depth stops hurting optimization.

* ``model=resnet``: the paper's small-image network (sec. 4.2, CIFAR-10): a 3x3 stem,
  then stages of ``blocks_per_stage`` = n blocks, each stage after the first halving
  the map with stride 2 and (usually) doubling the width, then global average pooling
  and a linear head. With 3 stages the depth is 6n + 2 (n = 3: ResNet-20).
* ``model=resnet18``: torchvision's ImageNet ResNet-18 (four stages of two blocks,
  7x7 stride-2 stem and a max pool), optionally with its pretrained weights, adapted
  to the data's channels, image size and number of outputs.

Where it continues: the convolutions' reference arithmetic is zoo/conv.py; the training
step is the default of :class:`engine.tasks.core.Task`, run by engine/trainer.py;
resnet18's pretrained weights come from torchvision.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo.checks import IMPLS, check_at_least, check_choice, check_image, check_widths
from zoo.conv import Conv2d, conv_output_size
from zoo.factory import register_model
from zoo.spec import DataSpec


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, impl: str = "fused") -> Conv2d:
    # No bias: the batch norm after every conv has its own shift β.
    return Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False, impl=impl)


class BasicBlock(nn.Module):
    """y = relu(BN₂(W₂ ⋆ relu(BN₁(W₁ ⋆ x))) + shortcut(x)).

    Shapes:
        input ``(B, C_in, H, W)``; output ``(B, C_out, H', W')``, H' = floor((H − 1)/s) + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, impl: str = "fused"):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride, impl)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels, 1, impl)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:  # x and F(x) differ in shape
            self.shortcut = nn.Sequential(
                Conv2d(in_channels, out_channels, 1, stride, bias=False, impl=impl),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        f = self.relu(self.bn1(self.conv1(x)))  # (B, C_in, H, W) -> (B, C_out, H', W')
        f = self.bn2(self.conv2(f))
        return self.relu(f + self.shortcut(x))


class ResNet(nn.Module):
    """3x3 stem -> stages of BasicBlocks -> global average pool -> linear head.

    Args:
        in_channels: C, the image channels.
        image_size: ``(H, W)``; a stage downsamples only while the map is larger than 1x1.
        out_features: K, the number of outputs.
        widths: channels of each stage (the stem has ``widths[0]``).
        blocks_per_stage: n, BasicBlocks per stage; depth = 2·n·len(widths) + 2.
        zero_init_residual: start each block's last BN at γ = 0, so F(x) = 0 and every
            block with an identity shortcut passes its (non-negative) input through
            unchanged: the network starts as a shallow one and grows its residuals.
            Goyal et al., "Accurate, large minibatch SGD" (2017, sec. 5.1) found it
            eases early training; torchvision says it "improves the model by
            0.2~0.3%". Until γ moves off 0 (the first update), the layers inside
            the residual branches (conv1, bn1, conv2) receive zero gradient.
        impl: the convolutions' arithmetic, ``"fused"`` or ``"reference"`` (:mod:`zoo.conv`).

    Shapes:
        input ``(B, C, H, W)``; output ``(B, K)``.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: tuple[int, int],
        out_features: int,
        widths: list[int] | tuple[int, ...] = (16, 32, 64),
        blocks_per_stage: int = 2,
        zero_init_residual: bool = True,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        widths = check_widths("resnet widths", widths)
        check_at_least("resnet blocks_per_stage", blocks_per_stage, 1)
        check_choice("resnet impl", impl, IMPLS)
        self.zero_init_residual = zero_init_residual

        self.stem = nn.Sequential(
            conv3x3(in_channels, widths[0], impl=impl), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        size = tuple(image_size)
        stages: list[nn.Module] = []
        width = widths[0]
        for i, w in enumerate(widths):
            # Stages after the first halve the map, as in the paper; a 1x1 map stays 1x1.
            stride = 2 if i > 0 and max(size) > 1 else 1
            size = tuple(conv_output_size(n, 3, stride, padding=1) for n in size)
            blocks = [BasicBlock(width, w, stride, impl)]
            blocks += [BasicBlock(w, w, 1, impl) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            width = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal convs for ReLU (He et al., 2015, fan_out as torchvision), BN γ = 1,
        β = 0, then γ = 0 on each block's last BN if ``zero_init_residual``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                m.reset_parameters()
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)  # (B, C, H, W) -> (B, w₁, H, W)
        h = self.stages(h)  # -> (B, w_last, H', W')
        h = self.pool(h).flatten(1)  # -> (B, w_last)
        return self.head(h)  # (B, K)


@register_model("resnet", input_kinds=("image",))
def build_resnet(spec: DataSpec, out_features: int | None = None, **options: Any) -> ResNet:
    """:class:`ResNet` for the data's images; ``options`` are its arguments."""
    c, h, w = check_image("resnet", spec.input_shape)
    return ResNet(c, (h, w), spec.num_outputs if out_features is None else out_features, **options)


# ----------------------------------------------------------------------------- resnet18


def resnet18_weights(name: str) -> Any:
    """The ``torchvision.models.ResNet18_Weights`` member called ``name`` ("DEFAULT",
    "IMAGENET1K_V1", or with the class prefix); a ValueError lists the choices."""
    from torchvision.models import ResNet18_Weights

    member = name.removeprefix("ResNet18_Weights.")
    if member not in ResNet18_Weights.__members__:
        raise ValueError(
            f"resnet18 has no weights '{name}'; available: "
            f"{', '.join(ResNet18_Weights.__members__)}, or null for random init"
        )
    return ResNet18_Weights[member]


def adapt_input_conv(weight: Tensor, in_channels: int) -> Tensor:
    """Pretrained RGB kernels ``(O, 3, k, k)`` for ``in_channels`` input channels.

    One channel gets the sum of the RGB kernels: a grey image x then gives exactly the
    response the network gave the colour image (x, x, x). Other counts repeat the mean
    kernel, scaled by 3/C so that the response to C equal channels is the same again
    (the rule of timm's ``adapt_input_conv``).

    Shapes: ``(O, 3, k, k)`` -> ``(O, C, k, k)``.
    """
    if in_channels == 1:
        return weight.sum(1, keepdim=True)
    return weight.mean(1, keepdim=True).repeat(1, in_channels, 1, 1) * (3 / in_channels)


@register_model("resnet18", input_kinds=("image",))
def build_resnet18(
    spec: DataSpec,
    out_features: int | None = None,
    weights: str | None = None,
    small_input: bool | str = "auto",
) -> nn.Module:
    """torchvision's ResNet-18 with its head, and if needed its stem, fitted to ``spec``.

    * ``weights``: ``None`` (random init, nothing downloads) or a
      ``ResNet18_Weights`` name (torchvision downloads them once, to ~/.cache/torch).
    * C != 3 input channels: conv1 gets C input channels, from the pretrained RGB
      kernels by :func:`adapt_input_conv`, or freshly initialized.
    * ``small_input`` (``"auto"``: when H or W < 64): the CIFAR adaptation. The 7x7
      stride-2 stem and its max pool would shrink a 32x32 image 4x before the first
      block (and an 8x8 one to 2x2); a 3x3 stride-1 conv and no max pool keep the
      resolution. The new stem starts from random weights (7x7 kernels do not fit).
    * ``fc``, the 1000-class ImageNet head, is replaced by Linear(512, K).
    """
    # torchvision is imported here, not at the top, so `import zoo` stays fast.
    from torchvision.models import resnet18

    c, h, w = check_image("resnet18", spec.input_shape)
    if small_input == "auto":
        small_input = min(h, w) < 64
    if not isinstance(small_input, bool):
        raise ValueError(f"resnet18 small_input must be true, false or 'auto'; got {small_input!r}")
    resolved = None if weights is None else resnet18_weights(weights)
    try:
        model = resnet18(weights=resolved)
    except (OSError, RuntimeError) as e:  # no connection (URLError is an OSError), bad file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OSError(  # the environment failed, not a value: the engine says so in one line
            f"resnet18: weights '{weights}' could not be fetched ({reason}); "
            "weights=null trains from scratch"
        ) from None

    if small_input:
        model.conv1 = nn.Conv2d(c, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    elif c != 3:
        pretrained = model.conv1.weight.detach()  # (64, 3, 7, 7)
        model.conv1 = nn.Conv2d(c, 64, kernel_size=7, stride=2, padding=3, bias=False)
        with torch.no_grad():
            if resolved is not None:
                model.conv1.weight.copy_(adapt_input_conv(pretrained, c))
            else:  # torchvision's own init for its convs
                nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.fc = nn.Linear(
        model.fc.in_features, spec.num_outputs if out_features is None else out_features
    )
    return model
