"""``eval_mode``: run a block of code with a model in eval mode, then put it back.

Eval mode turns dropout off and makes batch norm use its running statistics instead
of the batch's; a picture, an export or an evaluation pass must see the model as it
predicts, and must leave it as it found it (in the middle of training, say).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode (dropout off, batch norm
    on its running statistics) and puts the model back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
