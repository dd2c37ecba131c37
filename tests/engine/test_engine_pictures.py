"""What models can show goes to TensorBoard's IMAGES tab after testing."""

from __future__ import annotations

import io

import numpy as np
import torch
from conftest import FAST, compose_cfg
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.report.pictures import attention_picture, colorize, feature_maps_picture, grid
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


def test_attention_rows_end_with_the_colour_bar_of_their_scale():
    maps = [torch.softmax(torch.rand(1, 2, 5, 5), -1)]  # (B, heads, T, T)
    picture = attention_picture(maps)
    scale, gap = 96 // 5, 2
    x = 2 * (5 * scale + gap)  # the third slot: after the two heads
    top, bottom = picture[0, x], picture[5 * scale - 1, x]
    assert (top == colorize(np.ones((1, 1)), 0.0, 1.0)[0, 0]).all()  # 1 bright, at the top
    assert (bottom == colorize(np.zeros((1, 1)), 0.0, 1.0)[0, 0]).all()
