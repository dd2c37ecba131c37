"""Time-series classification benchmarks of the UCR and UEA archives, read offline.

The UCR archive of univariate series (Dau et al. 2019, "The UCR time series archive",
IEEE/CAA J. Autom. Sinica 6(6)) and the UEA archive of multivariate ones (Bagnall et
al. 2018, "The UEA multivariate time series classification archive", arXiv:1811.00075)
are where deep time-series classifiers are compared (Fawaz et al. 2019, "Deep learning
for time series classification: a review"). Each dataset comes with a fixed train/test
split that every published number uses: ``data.split=official`` (the default here)
keeps it.

The files are the ``.ts`` copies bundled inside the ``aeon`` wheel (``aeon==1.6.0``,
``aeon/datasets/data/<Name>/<Name>_TRAIN.ts`` and ``_TEST.ts``): ``make setup`` installs
that wheel with ``--no-deps`` as a data package, because no aeon release installs
beside this project's pins (aeon 1.6.0 needs numba < 0.64, which needs numpy < 2.4;
aeon 1.5.0 needs scikit-learn < 1.9). So aeon's Python code is never imported; its
``.ts`` format is parsed here (:func:`read_ts`) and tested against aeon's own loader's
arrays (``tests/engine/test_engine_ucr.py``).

The ``.ts`` format (sktime/aeon): ``#`` comment lines, ``@key value`` header lines up to
``@data``, then one case per line: the D dimensions separated by ``:``, each a
comma-separated series, and the class label last::

    @problemName GunPoint
    @univariate true
    @classLabel true 1 2
    @data
    -0.64,-0.64,...,-0.65:2

A case becomes ``(T_i, D)``: T_i steps of D features (one for the univariate UCR
sets). Series of different lengths (``@equalLength false``: JapaneseVowels,
PickupGestureWiimoteZ) are padded at the end with zeros to the longest, with
``lengths`` their real steps, for the engine's padded-batch path.

Where it continues: the data core (``engine/data/core.py``) makes the official or the
seeded split; the models made for these series are ``zoo/timeseries_cnn.py`` (FCN and ResNet of
Wang et al. 2017), ``zoo/recurrent.py`` and ``zoo/transformer.py`` (``tokens=patches``);
the pinned comparison with the published numbers is ``bench/ucr.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from engine.data.core import ArrayData, register_dataset
from engine.errors import ConfigError

# The classification datasets aeon 1.6.0 ships, univariate (UCR) then multivariate (UEA).
UNIVARIATE = (
    "ACSF1",
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
    "PickupGestureWiimoteZ",
)
MULTIVARIATE = ("BasicMotions", "JapaneseVowels")
BUNDLED = UNIVARIATE + MULTIVARIATE
AEON = "aeon==1.6.0"  # the wheel whose data folder is read (Makefile: make setup)


def archive_dir() -> Path:
    """aeon's bundled data folder, found without importing aeon (whose numba is absent)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"data=ucr reads the archive files bundled in the aeon wheel, which is not "
            f"installed; run `make setup` or `.venv/bin/pip install --no-deps {AEON}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str], dict[str, str]]:
    """Parse one ``.ts`` file: its cases as ``(T_i, D)`` float arrays, their labels (as
    written) and the header (``@key value`` lines, keys lower-cased)."""
    header: dict[str, str] = {}
    cases: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with path.open(encoding="utf-8") as f:
        for n, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                key, _, value = line[1:].partition(" ")
                if key.lower() == "data":
                    in_data = True
                else:
                    header[key.lower()] = value.strip()
                continue
            *dims, label = line.split(":")
            try:
                series = [np.array(d.split(","), dtype=np.float64) for d in dims]
            except ValueError as e:
                raise ConfigError(f"{path}:{n}: not a .ts case ({e})") from None
            if len({len(s) for s in series}) != 1:
                raise ConfigError(f"{path}:{n}: the dimensions of one case differ in length")
            cases.append(np.stack(series, axis=1))  # D x (T_i,) -> (T_i, D)
            labels.append(label.strip())
    if not in_data:
        raise ConfigError(f"{path} has no @data line: not a .ts file")
    return cases, labels, header


def pad(cases: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Cases ``(T_i, D)`` as one ``(N, T_max, D)`` array, zeros after each case's end,
    and the ``(N,)`` lengths T_i."""
    lengths = np.array([len(c) for c in cases], dtype=np.int64)
    X = np.zeros((len(cases), lengths.max(), cases[0].shape[1]))
    for i, c in enumerate(cases):
        X[i, : len(c)] = c
    return X, lengths


@register_dataset("ucr", input_kind="sequence", target_kind="classification")
def ucr(name: str = "GunPoint") -> ArrayData:
    """One dataset of the UCR/UEA archives, official train part first, then test.

    Shapes: ``X`` ``(N, T, D)`` float32 (D = 1 for univariate series), padded at the end
    when lengths differ (``lengths`` ``(N,)`` then); ``y`` ``(N,)`` int64, the index of
    each label in the file's ``@classLabel`` list; ``official_test`` ``(N,)`` bool, True
    for the test part's cases.
    """
    if name not in BUNDLED:
        raise ConfigError(
            f"data=ucr has no dataset '{name}'; the bundled ones are {', '.join(BUNDLED)} "
            "(data.params.name=GunPoint)"
        )
    folder = archive_dir() / name
    parts = [read_ts(folder / f"{name}_{part}.ts") for part in ("TRAIN", "TEST")]
    cases = parts[0][0] + parts[1][0]
    labels = parts[0][1] + parts[1][1]
    header = parts[0][2]
    # Class names in the file's declared order ("@classLabel true 1 2"), then any other.
    declared = header.get("classlabel", "").split()[1:]
    names = declared + sorted(set(labels) - set(declared))
    index = {label: i for i, label in enumerate(names)}
    X, lengths = pad(cases)
    equal = bool((lengths == lengths[0]).all())
    official_test = np.arange(len(cases)) >= len(parts[0][0])
    return ArrayData(
        X.astype(np.float32),
        np.array([index[label] for label in labels], dtype=np.int64),
        "sequence",
        "classification",
        names,
        lengths=None if equal else lengths,
        official_test=official_test,
    )
