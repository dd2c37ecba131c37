"""engine.seeds: the per-epoch seeds of the shuffling and augmentation generators,
made in blocks, are SeedSequence's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.augmentation import AUGMENT_STREAM, augment_generator
from engine.seeds import SEED_BLOCK, epoch_seed
from engine.trainer import epoch_generator

EPOCHS = [0, 1, SEED_BLOCK - 1, SEED_BLOCK, 3 * SEED_BLOCK + 2]  # within and across blocks


def direct(*entropy: int) -> int:
    (state,) = np.random.SeedSequence(list(entropy)).generate_state(1)
    return int(state)


@pytest.mark.parametrize("seed", [0, 7, 2**40])
def test_a_block_holds_the_seeds_seedsequence_gives(seed):
    for epoch in EPOCHS:
        assert epoch_seed(seed, epoch) == direct(seed, epoch)
        assert epoch_seed(seed, epoch, 1) == direct(seed, epoch, 1)
    assert epoch_seed(seed, 5) != epoch_seed(seed, 5, 1)  # the streams differ


def test_the_generators_draw_from_those_seeds():
    for epoch in EPOCHS:
        shuffle = torch.Generator().manual_seed(direct(3, epoch))
        augment = torch.Generator().manual_seed(direct(3, epoch, AUGMENT_STREAM))
        assert torch.equal(torch.randperm(20, generator=epoch_generator(3, epoch)),
                           torch.randperm(20, generator=shuffle))  # fmt: skip
        cpu = torch.device("cpu")
        assert torch.equal(torch.rand(4, generator=augment_generator(3, epoch, cpu)),
                           torch.rand(4, generator=augment))  # fmt: skip
