import numpy as np
import tensorflow as tf
from numpy.testing import assert_allclose

from galseg.engine import paste_masks, roi_align
from galseg.engine.roi_align import multilevel_roi_align, roi_levels


def _bilinear(features, y, x):
    height, width = features.shape[:2]
    if y < 0 or y > height - 1 or x < 0 or x > width - 1:
        return np.zeros(features.shape[2])
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    dy, dx = y - y0, x - x0
    return ((1 - dy) * (1 - dx) * features[y0, x0]
            + (1 - dy) * dx * features[y0, x1]
            + dy * (1 - dx) * features[y1, x0] + dy * dx * features[y1, x1])


def roi_align_reference(features, box, stride, size, sampling_ratio=2):
    """Aligned ROIAlign, one box, written plainly with loops."""
    y1, x1, y2, x2 = box
    bin_h, bin_w = (y2 - y1) / size, (x2 - x1) / size
    out = np.zeros((size, size, features.shape[2]))
    for i in range(size):
        for j in range(size):
            samples = []
            for a in range(sampling_ratio):
                for b in range(sampling_ratio):
                    y = y1 + (i + (a + 0.5) / sampling_ratio) * bin_h
                    x = x1 + (j + (b + 0.5) / sampling_ratio) * bin_w
                    samples.append(_bilinear(features, y / stride - 0.5,
                                             x / stride - 0.5))
            out[i, j] = np.mean(samples, axis=0)
    return out


def test_roi_align_matches_reference(rng):
    features = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    boxes = np.array([[4.0, 6.0, 30.0, 50.0], [10.3, 0.0, 22.9, 17.2],
                      [0.0, 0.0, 64.0, 64.0], [50.0, 40.0, 70.0, 63.0]],
                     np.float32)
    indices = np.array([0, 1, 1, 0], np.int32)
    pooled = roi_align(tf.constant(features), tf.constant(boxes),
                       tf.constant(indices), stride=4, output_size=7).numpy()
    for k, (box, index) in enumerate(zip(boxes, indices)):
        expected = roi_align_reference(features[index], box, 4, 7)
        assert_allclose(pooled[k], expected, rtol=1e-4, atol=1e-5)


def test_roi_levels():
    boxes = tf.constant([[0, 0, 10, 10], [0, 0, 40, 40], [0, 0, 70, 70],
                         [0, 0, 500, 500]], tf.float32)
    assert roi_levels(boxes, 16.0).numpy().tolist() == [0, 1, 2, 3]


def test_multilevel_roi_align_uses_each_boxs_level(rng):
    maps = [tf.constant(rng.normal(size=(2, 64 // s, 64 // s, 2)),
                        tf.float32) for s in (4, 8, 16, 32)]
    boxes = np.array([[2.0, 2.0, 12.0, 12.0], [0.0, 0.0, 40.0, 40.0],
                      [5.0, 5.0, 15.0, 15.0]], np.float32)
    batch = np.array([0, 0, 1], np.int32)
    pooled = multilevel_roi_align(maps, tf.constant(boxes),
                                  tf.constant(batch), 5, 16.0).numpy()
    assert pooled.shape == (3, 5, 5, 2)
    for k, (level, stride) in enumerate([(0, 4), (1, 8), (0, 4)]):
        expected = roi_align_reference(maps[level].numpy()[batch[k]],
                                       boxes[k], stride, 5)
        assert_allclose(pooled[k], expected, rtol=1e-4, atol=1e-5)


def test_paste_masks_pixel_aligned(rng):
    mask = rng.uniform(size=(1, 28, 28)).astype(np.float32)
    box = np.array([[10.0, 20.0, 38.0, 48.0]], np.float32)
    full = paste_masks(mask, box, 64, 80).numpy()
    assert full.shape == (1, 64, 80)
    assert_allclose(full[0, 10:38, 20:48], mask[0], rtol=1e-5, atol=1e-6)
    outside = np.ones((64, 80), bool)
    outside[9:39, 19:49] = False
    assert np.all(full[0][outside] == 0)


def test_paste_masks_scaled_box():
    mask = np.ones((1, 14, 14), np.float32)
    full = paste_masks(mask, np.array([[5.0, 5.0, 25.0, 45.0]], np.float32),
                       50, 50).numpy()[0]
    assert_allclose(full[7:23, 7:43], 1.0, rtol=1e-6)
    assert full[:4].max() == 0 and full[26:].max() == 0
    assert full[:, :4].max() == 0 and full[:, 46:].max() == 0
