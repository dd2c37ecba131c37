"""Short-name registries: the one mechanism behind every ``list_*()`` / ``create_*()``.

A component registers itself with a decorator under a short name; configs name the
same short name. A duplicate name is an error (torchvision raises too; timm only
warns and users trip on it), and an unknown name lists what is available.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


class UnknownNameError(LookupError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # LookupError would repr() the message with quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A name -> object table for one kind of component (``"model"``, ``"loss"``...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **meta: Any) -> Callable[[Any], Any]:
        """Decorator: ``@REGISTRY.register("mlp", input_kinds=(...))``."""

        def decorator(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, obj, dict(meta))
            return obj

        return decorator

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; available: {', '.join(self.names())}"
            ) from None

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def meta(self, name: str) -> dict[str, Any]:
        return self.entry(name).meta

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def import_submodules(package: str, path: Iterable[str]) -> list[str]:
    """Import every module of a package, so each one's decorators register it.

    A package calls this from its ``__init__`` (``import_submodules(__name__,
    __path__)``): a new component file dropped into the folder is found without an
    import list to extend. Modules whose names start with ``_`` are skipped.
    """
    names = sorted(m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
