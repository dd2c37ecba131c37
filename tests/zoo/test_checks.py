"""zoo.checks: the one-line argument errors every family, loss and optimizer shares."""

from __future__ import annotations

import pytest

import zoo
from zoo import DataSpec
from zoo.checks import (
    IMPLS,
    check_at_least,
    check_choice,
    check_fraction,
    check_image,
    check_impl,
    check_positive,
    check_sizes,
    check_widths,
)

IMAGE = DataSpec("image", (1, 8, 8), "classification", num_classes=3)


@pytest.mark.parametrize(
    ("check", "args", "message"),
    [
        (
            check_choice,
            ("cnn pool", "min", ("max", "avg")),
            "cnn pool must be one of max, avg; got 'min'",
        ),
        (check_fraction, ("mlp dropout", 1.0), "mlp dropout must be in [0, 1), got 1.0"),
        (
            check_at_least,
            ("gan pack", 0, 1, "(1 = no packing)"),
            "gan pack must be >= 1 (1 = no packing), got 0",
        ),
        (check_positive, ("hinge margin", 0), "hinge margin must be > 0, got 0"),
        (
            check_widths,
            ("cnn widths", []),
            "cnn widths must be a non-empty list of ints >= 1, got []",
        ),
        (
            check_widths,
            ("vae widths", [8, 0], True),
            "vae widths must be a list of ints >= 1, got [8, 0]",
        ),
        (check_image, ("resnet", (64,)), "resnet reads images (C, H, W), not data of shape (64,)"),
        (
            check_impl,
            ("loss impl", "cuda"),
            "loss impl must be one of fused, reference; got 'cuda'",
        ),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_messages_name_the_bad_value_and_what_works(check, args, message):
    with pytest.raises(ValueError) as info:
        check(*args)
    assert str(info.value) == message


def test_sizes_message_lists_each_size():
    with pytest.raises(ValueError) as info:
        check_sizes("mlp", in_features=0, out_features=3)
    assert str(info.value) == "mlp needs in_features >= 1 and out_features >= 1, got 0 and 3"


def test_good_values_pass():
    check_choice("gan norm", "batch", ("none", "batch"))
    check_fraction("mlp dropout", 0.0)
    check_at_least("mlp num_layers", 0, 0)
    assert check_widths("vae widths", (), allow_empty=True) == []
    assert check_image("cnn", (3, 32, 32)) == (3, 32, 32)
    assert [check_impl("optim.impl", i) for i in IMPLS] == list(IMPLS)


def test_the_former_impl_name_reads_as_fused():
    assert check_impl("optim.impl", "torch") == "fused"


@pytest.mark.parametrize(
    ("name", "old"),
    [
        ("cnn", "channels"),
        ("gan", "channels"),
        ("autoencoder", "hidden_sizes"),
        ("vae", "channels"),
    ],
)
def test_a_renamed_option_names_the_new_one(name, old):
    with pytest.raises(TypeError, match=f"^{name} option '{old}' is now called 'widths'"):
        zoo.create_model(name, IMAGE, **{old: [4]})
