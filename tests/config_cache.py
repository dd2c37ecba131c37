"""Config files read once per test session, not once per composed config; and a
composition in Hydra's own two steps, so that the first can be shared.

Hydra reads and parses every YAML file of a config again on each ``compose``: its
``CachingConfigRepository`` lives for one composition only. Parsing is pure-Python
YAML plus OmegaConf's node wrapping, about 40 of the ~145 ms a composition of the
zoo's train config takes here, and the suite composes about a thousand of them.
:func:`share_loaded_configs` gives every composition of the session one cache of
loaded files (keyed by the search path and the config's name, like Hydra's own),
and drops an entry when a file it was read from changes on disk.

Each composition gets its own copy of a loaded file, unpickled from bytes kept in the
cache (3.5x cheaper here than ``copy.deepcopy`` of the same nodes, which walks every
OmegaConf node in Python; a composition 0.17 s instead of 0.23 s): Hydra merges the
loaded nodes into the config it builds and then applies the overrides to them, so a
shared one would carry one composition's values into the next
(``experiment=adding_lstm`` then ``model=lstm`` gave the second a hidden size of 64).
``tests/test_config_cache.py`` checks that compositions with and without the cache are
equal.

:func:`split_choices` and :func:`set_values` split a composition where Hydra does:
the defaults list of the group choices (``model=cnn``) composed and merged first, the
values (``model.hidden_size=16``) set on the result after. ``compose_cfg`` in
``tests/conftest.py`` keeps the first step per list of choices, so tests that differ
only in values share it; the same test module checks mixed lists against Hydra's one
composition.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from hydra._internal import config_loader_impl
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.config_repository import CachingConfigRepository
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig

Stamp = tuple[tuple[str, int, int], ...]


def file_stamp(sources: list[Any], config_path: str) -> Stamp:
    """Modification time and size of every file a config name can be read from."""
    stamp = []
    for source in sources:
        if source.scheme() != "file":  # Hydra's own configs, packaged or structured
            continue
        name = config_path if config_path.endswith(".yaml") else f"{config_path}.yaml"
        path = os.path.join(source.path, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        stamp.append((path, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


class SharedCachingRepository(CachingConfigRepository):
    """Hydra's per-composition cache, with its entries kept across compositions."""

    shared: ClassVar[dict[tuple, tuple[Stamp, bytes]]]  # one per share_loaded_configs() block

    def load_config(self, config_path: str) -> Any:
        if config_path in self.cache:  # this composition's own copy, as Hydra keeps it
            return self.cache[config_path]
        sources = self.delegate.get_sources()
        key = (tuple((s.provider, s.path) for s in sources), config_path)
        stamp = file_stamp(sources, config_path)
        hit = self.shared.get(key)
        if hit is None or hit[0] != stamp:
            loaded = self.delegate.load_config(config_path=config_path)
            hit = self.shared[key] = (stamp, pickle.dumps(loaded))
        # A copy per composition: one merges the loaded nodes into its config and applies
        # the overrides to them, so the next composition would see this one's values.
        self.cache[config_path] = pickle.loads(hit[1])
        return self.cache[config_path]


@contextmanager
def share_loaded_configs() -> Iterator[None]:
    """Within the block, every Hydra composition shares one cache of loaded files (its
    own: a block nested in another neither sees nor empties the outer one's)."""
    original = config_loader_impl.CachingConfigRepository
    config_loader_impl.CachingConfigRepository = type(
        "BlockCachingRepository", (SharedCachingRepository,), {"shared": {}}
    )
    try:
        yield
    finally:
        config_loader_impl.CachingConfigRepository = original


def split_choices(
    overrides: Sequence[str], groups: set[str]
) -> tuple[tuple[str, ...], list[Override]] | None:
    """The overrides that choose a config group's option, and the parsed ones that set
    values, split as Hydra splits them (a key that names a group chooses an option,
    unless its value is a dict: ``defaults_list.py``'s ``is_dict or not is_group``);
    ``None`` where that split is not plain: a sweep, a package, a nested group or a
    ``hydra`` key, which then compose in one step.

    Hydra composes the defaults list from the choices, then sets the values on the
    result (``ConfigLoaderImpl._apply_overrides_to_config``). The defaults list and the
    merge are most of a composition's time, and depend on the choices alone: tests that
    differ only in values (``trainer.max_epochs=1``, ``model.hidden_size=16``) can share
    them."""
    parsed = OverridesParser.create().parse_overrides(overrides=list(overrides))
    choices, values = [], []
    for text, override in zip(overrides, parsed, strict=True):
        key = override.key_or_group
        if override.is_sweep_override() or override.package is not None:
            return None
        if "/" in key or key.split(".")[0] == "hydra":
            return None
        if key in groups and not isinstance(override.value(), dict):
            choices.append(text)  # model=cnn (Hydra: a dict, model={...}, sets values)
        else:
            values.append(override)
    return tuple(choices), values


def set_values(cfg: DictConfig, values: list[Override]) -> DictConfig:
    """The value overrides set on a config composed from the choices, by Hydra's own
    code (its errors included: an unknown key asks for ``+key``)."""
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    return cfg
