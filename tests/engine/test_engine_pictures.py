"""What models can show goes to TensorBoard's IMAGES tab after testing."""

from __future__ import annotations

import io

import numpy as np
from conftest import FAST, compose_cfg
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.report.pictures import colorize, grid
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
