"""Datasets and the DataModule that serves them.

``core`` holds the machinery every dataset shares (registration, loading a user's
function, deterministic splits, scaling fitted on the training split, batches as
tensor slices). Each other module is one family of datasets and registers its
loaders with ``@register_dataset``: tables (scikit-learn's bundled sets and 2-D
generators), sequences, images, mixtures (2-D Gaussian mixtures for GANs) and
graphs. Every module in this folder is imported on first use, so a new family is
one new file here (and a YAML per dataset in ``configs/data/``).
"""

from engine.data.core import (
    DATASETS,
    SPLITS,
    ArrayData,
    DataModule,
    Inputs,
    batch_count,
    batch_slices,
    build_data,
    call_model,
    datasets_of_kind,
    list_datasets,
    load_arrays,
    register_builder,
    register_dataset,
    split_indices,
)
from zoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = [
    "DATASETS",
    "SPLITS",
    "ArrayData",
    "DataModule",
    "Inputs",
    "batch_count",
    "batch_slices",
    "build_data",
    "call_model",
    "datasets_of_kind",
    "list_datasets",
    "load_arrays",
    "register_builder",
    "register_dataset",
    "split_indices",
]
