"""A model's parameters as named layers: which is the head, which layers a name pattern
picks, and their order from the input to the output.

Transfer learning talks about layers, PyTorch about parameter names
(``blocks.0.1.weight``, ``layer3.1.conv2.weight``, ``head.bias``). Here a *layer* is a
parameter's module path cut to its first two parts (``blocks.0``, ``layer3.1``,
``head``): a block of a stack, or a top-level module. Layers are ordered as the model
registers them, which for every family in the zoo is input to output; the *head* is
the module holding the model's last parameter (``head``, ``fc``, ``linear``), the one
whose outputs are the classes (timm's ``get_classifier()`` plays this part).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from torch import nn

from engine.errors import ConfigError


def layer_of(param_name: str) -> str:
    """``blocks.0.1.weight -> blocks.0``; ``head.weight -> head``; ``cls -> cls``."""
    path = param_name.split(".")[:-1] or [param_name]  # a parameter of the model itself
    return ".".join(path[:2])


def within(name: str, prefix: str) -> bool:
    """Whether parameter (or module) ``name`` lies in module ``prefix``."""
    return name == prefix or name.startswith(prefix + ".")


def head_of(model: nn.Module, head: str | None = "auto") -> str:
    """The head's module name: ``head`` as given, or (``auto``) the module that holds the
    model's last parameter."""
    names = [n for n, _ in model.named_parameters()]
    if not names:
        raise ConfigError("transfer: the model has no parameters to transfer")
    if head in (None, "auto"):
        return names[-1].rpartition(".")[0] or names[-1]
    if not any(within(n, head) for n in names):
        modules = sorted({layer_of(n) for n in names})
        raise ConfigError(
            f"transfer.head={head} names no module of this model; its layers are "
            f"{', '.join(modules)} (or head=auto: the module of the last parameter)"
        )
    return head


def layers(model: nn.Module) -> list[str]:
    """The model's layers (:func:`layer_of`), input to output, each once."""
    return list(dict.fromkeys(layer_of(n) for n, _ in model.named_parameters()))


def matches(name: str, pattern: str) -> bool:
    """Whether parameter ``name`` is matched by ``pattern``: a shell-style pattern of the
    whole name (``*bn*.weight``) or of a module holding it (``blocks.0``, ``layer[12]``)."""
    return fnmatchcase(name, pattern) or fnmatchcase(name, pattern + ".*")


def matched(model: nn.Module, patterns: list[str], what: str) -> set[str]:
    """Names of the parameters any of ``patterns`` match; one line for a pattern that
    matches nothing (``what`` is the config key, e.g. ``transfer.freeze``)."""
    names = [n for n, _ in model.named_parameters()]
    picked: set[str] = set()
    for pattern in patterns:
        hits = {n for n in names if matches(n, str(pattern))}
        if not hits:
            raise ConfigError(
                f"{what} pattern '{pattern}' matches no parameter; the model's layers are "
                f"{', '.join(layers(model))}"
            )
        picked |= hits
    return picked


def without_head(model: nn.Module) -> tuple[nn.Module, int]:
    """``model`` with its linear head (:func:`head_of`) replaced by the identity: a
    feature extractor x -> ``(B, Z)``; and Z, the head's input width."""
    name = head_of(model)
    head = model.get_submodule(name)
    if not isinstance(head, nn.Linear):
        raise ConfigError(
            f"the model's head {name} is a {type(head).__name__}, not a Linear layer: its "
            "features have no single width to build a new head on"
        )
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, nn.Identity())
    return model, head.in_features
