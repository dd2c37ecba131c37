"""How a run's TensorBoard dashboard reads: the learning curves, one-line descriptions and
the chart layout.

What a user wants to see first is the overfitting picture (Goodfellow et al., *Deep
Learning*, 2016, §7.8): the training and the validation curve of one metric on one
chart. TensorBoard draws one card per tag, with a line for every run that logged the
tag, so the per-epoch metrics ``train/<m>`` and ``val/<m>`` are written as Keras'
TensorBoard callback writes them: into two sub-runs of the run, ``<run>/train`` and
``<run>/val``, under one tag, ``Learning curves/<m>`` (:func:`curve_of`). The landing
page (Time Series) groups cards by the tag's first part, sorts the groups by name and
opens the first two; upper case sorts before the lower-case names of every other
group (``attention``, ``baseline``, ``grad_norm``, ...), so ``Learning curves`` opens
first. Everything else stays in the run itself under the names the rest of the zoo
uses (``test/accuracy``, ``baseline/accuracy``, ``train/loss_step``, ...).

TensorBoard's CUSTOM SCALARS tab draws several tags on one chart from a *layout*
written into the run; :func:`layout` builds it from the tags a run has logged:

- ``learning curves``: per metric m, its two curves (``Learning curves/m`` of the
  ``train`` and ``val`` sub-runs) with ``test/m`` and the trivial ``baseline/m`` as
  single points at the end, so the gap between the curves is the generalization gap
  and the baseline the number to beat;
- ``gradients``: every ``grad_norm/<parameter>`` on one chart, first layer to last,
  the picture of vanishing or exploding gradients (Glorot & Bengio, 2010);
- ``optimization``: the learning rate and the per-step training loss.

:func:`describe` gives each tag its one-line description, shown under the card
(the ``summary_description`` of TensorBoard's summary metadata).

The PROJECTOR tab opens every embedding uncoloured ("Color by: No color map" is its
first option and it has no setting for another); :func:`projector_view` writes the view
a user wants, the points on their principal components coloured by class, as a
bookmark: the projector opens its bookmarks panel when an embedding has one, and a
click on it colours the points.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import Tensor

# The tag prefixes of per-epoch and final metrics, in the order the layout lists them.
SPLITS = ("train", "val", "test", "baseline")
# The splits whose per-epoch metrics are curves, each written to a sub-run of its name.
CURVE_RUNS = ("train", "val")
# The group of the curves' tags: capitalized, it sorts before every other group.
CURVES = "Learning curves"


def curve_of(tag: str) -> tuple[str, str] | None:
    """Where a per-epoch metric is drawn: ``("train", "Learning curves/loss")`` for
    ``train/loss`` (sub-run, tag), likewise for ``val/...``; None for every other tag
    (a step's ``train/loss_step`` included), which stays in the run itself."""
    split, _, metric = tag.partition("/")
    if split in CURVE_RUNS and metric and not metric.endswith("_step"):
        return split, f"{CURVES}/{metric}"
    return None


_SCALARS = {
    CURVES: "{m} after each epoch: run …/train averages the training batches (dropout "
    "on, weights moving), run …/val is the validation split; the gap between the two "
    "lines is the generalization gap",
    "test": "{m} on the test split, once, with the weights that were tested "
    "(trainer.test_checkpoint); the curves are in Learning curves/{m}",
    "baseline": "{m} of the trivial predictor (majority class, mean, copy-blank) on the "
    "test split: what the model has to beat",
    "grad_norm": "‖∂L/∂θ‖₂ of parameter {m}, before clipping; all layers on one chart in "
    "CUSTOM SCALARS > gradients",
    "val_final": "{m} on the validation split with the weights that were tested (HPARAMS "
    "shows it beside test/{m})",
}
_EXACT = {
    "lr": "learning rate at the step it was set (a constant rate: one point)",
}
_IMAGES = {
    "attention": "attention weights on the first test sample: blocks down, heads across; "
    "row i of a map is where query token i looks; the axes name the tokens (cls, a patch's "
    "(row,col), a step t5), the colour bar runs from 0 to the largest weight",
    "filters": "the first convolution's kernels, one tile per output channel (its input "
    "channels averaged), each on its own scale (dark low, bright high)",
    "feature_maps": "the first test input (first tile, grey) and the activations it "
    "produces in this block, one tile per channel (each on its own scale)",
    "augment": "8 training inputs (top row) and, below, two augmented draws of each: what "
    "the model is fed",
    "samples": "samples from fixed noise (2-D data: blue, over real points in grey)",
    "latent_space": "the validation split's codes in the 2-D latent space, a colour per "
    "class (the legend at the right names them); grey lines at z = 0, the prior's mean",
    "reconstructions": "8 validation inputs (top row) over the model's reconstructions",
    "episode": "a test episode: the support set (a column per class), then each query over "
    "the support example of its predicted class, framed green when right, red when wrong",
    "eval": "a figure of evaluate.py (the same as the PNG in eval/<split>/)",
}


def describe(tag: str, kind: str = "scalar") -> str:
    """The one-line description of ``tag`` ("" when none is known).

    ``kind`` is ``"scalar"`` or ``"image"``; a scalar ``<prefix>/<m>`` gets its
    prefix's sentence with ``m`` filled in, an image the sentence of its group.
    """
    if kind == "image":
        group = tag.split("/", 1)[0]
        name = tag.rsplit("/", 1)[-1]
        return _IMAGES.get(group) or _IMAGES.get(name, "")
    if tag in _EXACT:
        return _EXACT[tag]
    prefix, _, metric = tag.partition("/")
    if prefix == "train" and metric.endswith("_step"):
        return f"{metric[:-5]} of each training batch, every trainer.log_every_n_steps steps"
    template = _SCALARS.get(prefix)
    return template.format(m=metric) if template and metric else ""


def layout(tags: Iterable[str]) -> dict[str, dict[str, list]]:
    """The CUSTOM SCALARS layout for a run that logged ``tags`` (as the trainer names
    them: ``train/loss``, not the curve's tag):
    ``{category: {chart title: ["Multiline", [tag regex, ...]]}}`` (the format of
    ``torch.utils.tensorboard.summary.custom_scalars``). Empty categories are left out.
    """
    tags = set(tags)
    curves = {}
    # A metric with a training curve and a validation curve: both, plus its end points.
    trained = sorted({t.partition("/")[2] for t in tags if t.startswith("train/") and curve_of(t)})
    for metric in trained:
        if f"val/{metric}" not in tags:
            continue
        ends = [s for s in SPLITS if s not in CURVE_RUNS and f"{s}/{metric}" in tags]
        groups = "|".join([CURVES, *ends])
        curves[metric] = ["Multiline", [f"^({groups})/{re.escape(metric)}$"]]
    gradients = {}
    if any(t.startswith("grad_norm/") for t in tags):
        gradients["gradient norm per parameter"] = ["Multiline", ["^grad_norm/"]]
    optimization = {}
    if "lr" in tags:
        optimization["learning rate"] = ["Multiline", ["^lr$", "^lr/"]]
    steps = sorted(t for t in tags if t.startswith("train/") and t.endswith("_step"))
    if steps:
        optimization["training loss per step"] = ["Multiline", [f"^{re.escape(t)}$" for t in steps]]
    found = {
        "learning curves": curves,
        "gradients": gradients,
        "optimization": optimization,
    }
    return {name: charts for name, charts in found.items() if charts}


# The projector's own defaults for the fields of a view this one leaves as they are.
_VIEW_DEFAULTS = {
    "isSelected": False,
    "tSNEIteration": 0,
    "tSNEPerplexity": 30,
    "tSNELearningRate": 10,
    "tSNEis3d": True,
    "umapIs3d": True,
    "umapNeighbors": 15,
    "umapMinDist": 0.1,
    "selectedPoints": [],
    "customSelectedSearchByMetadataOption": "label",
    **{f"custom{side}Text": "" for side in ("XLeft", "XRight", "YUp", "YDown")},
    **{f"custom{side}Regex": False for side in ("XLeft", "XRight", "YUp", "YDown")},
}


def projector_view(features: Tensor, name: str = "PCA, coloured by label") -> dict:
    """A saved view of TensorBoard's projector (the ``State`` its bookmarks panel loads):
    the points at their first k ≤ 3 principal components, coloured and labelled by the
    ``label`` column of their metadata (the name the projector gives a one-column file).

    PCA: with X̄ = X − mean(X) = U S Vᵀ (singular values in decreasing order), point i
    sits at z_i = (U S)_{i, :k}, its coordinates along the first k right singular
    vectors, the directions of largest variance.

    Shapes:
        features ``(N, D)``; the view's ``projections`` N dicts ``{"pca-j": z_ij}``.
    """
    x = features.detach().double().cpu()  # (N, D)
    x_bar = x - x.mean(dim=0)
    u, s, _ = torch.linalg.svd(x_bar, full_matrices=False)
    k = min(3, *x.shape)
    z = (u[:, :k] * s[:k]).tolist()  # (N, k)
    return {
        **_VIEW_DEFAULTS,
        "label": name,
        "selectedProjection": "pca",
        "pcaComponentDimensions": list(range(k)),
        "dataSetDimensions": list(x.shape),
        "projections": [{f"pca-{j}": row[j] for j in range(k)} for row in z],
        "selectedColorOptionName": "label",
        "forceCategoricalColoring": False,
        "selectedLabelOption": "label",
    }
