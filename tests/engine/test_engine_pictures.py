"""What models can show goes to TensorBoard's IMAGES tab after testing."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.report.pictures import colorize, feature_maps_picture, grid
from engine.report.plots import attention_figure, latent_figure
from engine.run import train


def images_of(run_dir) -> dict[str, np.ndarray]:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    return {
        tag: np.asarray(Image.open(io.BytesIO(events.Images(tag)[-1].encoded_image_string)))
        for tag in events.Tags()["images"]
    }


def test_cnn_filters_and_feature_maps_are_drawn(tmp_path):
    cfg = compose_cfg(*FAST, "trainer.max_epochs=1", "model=cnn", "model.widths=[4,6]")
    train(cfg, tmp_path)
    images = images_of(tmp_path)
    assert {"filters/first_layer", "feature_maps/block1", "feature_maps/block2"} <= set(images)
    assert all(im.ndim == 3 and im.shape[2] == 3 for im in images.values())


def test_models_without_pictures_log_no_images(tmp_path):
    train(compose_cfg(*FAST, "trainer.max_epochs=1", "model.hidden_size=8"), tmp_path)
    assert images_of(tmp_path) == {}


def test_colorize_runs_dark_to_bright_and_grid_scales_cells_up():
    ramp = colorize(np.array([[0.0, 0.5, 1.0]]))
    assert ramp.shape == (1, 3, 3) and ramp.dtype == np.uint8
    assert ramp[0, 0].sum() < ramp[0, 1].sum() < ramp[0, 2].sum()  # brighter with the value
    cell = colorize(np.eye(2))
    picture = grid([[cell, cell]], cell_px=8, gap=1)
    assert picture.shape == (8, 17, 3)  # 2x2 cells scaled x4, a 1-pixel gap between them
    np.testing.assert_array_equal(picture[:4, :4], np.broadcast_to(cell[0, 0], (4, 4, 3)))


def test_feature_maps_follow_their_input_in_grey():
    maps, image = torch.rand(3, 4, 4), torch.rand(1, 4, 4)
    alone, beside = feature_maps_picture(maps), feature_maps_picture(maps, image)
    corner = beside[0, 0]  # the first tile: the input, grey (R = G = B)
    assert corner[0] == corner[1] == corner[2]
    assert not (alone[0, 0, 0] == alone[0, 0, 1] == alone[0, 0, 2])  # a viridis colour
    brightest = np.unravel_index(int(image[0].argmax()), (4, 4))
    scale = 48 // 4
    assert (beside[brightest[0] * scale, brightest[1] * scale] == 255).all()


def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


def test_attention_maps_name_their_tokens_on_both_axes_under_one_colour_bar():
    tokens = ["cls", "(0,0)", "(0,1)", "(1,0)", "(1,1)"]
    maps = [torch.softmax(torch.rand(2, 5, 5), -1).numpy() for _ in range(3)]  # 3 blocks
    fig = attention_figure(maps, tokens)
    grid_axes, bars = fig.axes[:6], fig.axes[6:]
    assert len(grid_axes) == 6 and len(bars) == 1  # blocks down x heads across, one bar
    for i, ax in enumerate(grid_axes):
        assert tick_texts(ax.get_xticklabels()) == tokens  # keys along the bottom
        assert tick_texts(ax.get_yticklabels()) == tokens  # queries down the side
        assert ax.get_title() == f"block {i // 2 + 1}, head {i % 2 + 1}"
        assert ax.images[0].get_clim() == (0.0, max(float(m.max()) for m in maps))
    assert bars[0].get_ylabel() == "attention weight"


def test_long_inputs_label_every_kth_token():
    tokens = [f"t{i}" for i in range(70)]
    fig = attention_figure([np.full((1, 70, 70), 1 / 70)], tokens)
    assert tick_texts(fig.axes[0].get_xticklabels()) == tokens[::3]  # ⌈70 / 32⌉ = 3


def test_attention_figure_refuses_labels_that_do_not_fit_the_maps():
    with pytest.raises(ValueError, match="4 token labels"):
        attention_figure([np.zeros((1, 5, 5))], ["a", "b", "c", "d"])


def test_latent_space_has_a_legend_of_its_classes_beside_the_points():
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(60, 2)), np.repeat([0, 2, 3], 20)  # class 1 absent
    fig = latent_figure(codes, labels, ["zero", "one", "two", "three"])
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert tick_texts(legend.get_texts()) == ["zero", "two", "three"]
    assert legend.get_title().get_text() == "class"
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections]
    assert len(set(colours)) == 3  # one colour per class
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # Outside the axes, so it hides no point.
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    assert ax.get_title() == "validation codes in the 2-D latent space"
    unlabelled = latent_figure(codes, None, None, "test")
    assert unlabelled.axes[0].get_legend() is None
    assert unlabelled.axes[0].get_title() == "test codes in the 2-D latent space"
