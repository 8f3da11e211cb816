import numpy as np
import tensorflow as tf
from numpy.testing import assert_allclose

from galseg.engine import (MaskRCNNConfig, batched_nms, box_iou,
                           decode_boxes, encode_boxes, generate_anchors,
                           masks_to_boxes)

STD = (0.1, 0.1, 0.2, 0.2)


def test_box_iou_known_values():
    a = tf.constant([[0, 0, 10, 10], [0, 0, 10, 10]], tf.float32)
    b = tf.constant([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]],
                    tf.float32)
    iou = box_iou(a, b).numpy()
    assert_allclose(iou[0], [1.0, 50 / 150, 0.0], rtol=1e-6)
    assert iou.shape == (2, 3)


def test_encode_decode_round_trip(rng):
    reference = rng.uniform(0, 50, (100, 2))
    reference = np.concatenate(
        [reference, reference + rng.uniform(2, 40, (100, 2))], axis=1)
    boxes = rng.uniform(0, 50, (100, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(1, 60, (100, 2))],
                           axis=1)
    deltas = encode_boxes(tf.constant(boxes, tf.float32),
                          tf.constant(reference, tf.float32), STD)
    decoded = decode_boxes(deltas, tf.constant(reference, tf.float32), STD)
    assert_allclose(decoded.numpy(), boxes, rtol=1e-4, atol=1e-3)


def test_zero_deltas_give_the_reference():
    reference = tf.constant([[3.0, 4.0, 13.0, 24.0]])
    assert_allclose(decode_boxes(tf.zeros((1, 4)), reference, STD).numpy(),
                    reference.numpy())


def test_batched_nms_known_selection():
    # box 0 overlaps box 1 (IoU 0.91) and is suppressed; box 2 is apart;
    # box 3 scores below the threshold
    boxes = tf.constant([[[0, 0, 10, 10], [0, 0, 10, 11], [20, 20, 30, 30],
                          [40, 40, 50, 50]]], tf.float32)
    scores = tf.constant([[0.9, 0.95, 0.5, 0.1]])
    selected, count = batched_nms(boxes, scores, 3, 0.5, 0.2)
    assert count.numpy().tolist() == [2]
    assert selected.numpy().tolist() == [[1, 2, 0]]  # padded with 0


def test_batched_nms_matches_the_batched_tensorflow_op(rng):
    corners = rng.uniform(0, 100, (4, 60, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(2, 30, (4, 60, 2))],
                           axis=-1).astype(np.float32)
    scores = rng.uniform(0, 1, (4, 60)).astype(np.float32)
    selected, count = batched_nms(boxes, scores, 20, 0.5, 0.3)
    expected, expected_count = tf.image.non_max_suppression_padded(
        boxes, scores, max_output_size=20, iou_threshold=0.5,
        score_threshold=0.3, pad_to_max_output_size=True)
    assert count.numpy().tolist() == expected_count.numpy().tolist()
    for image in range(4):
        n = int(count[image])
        assert selected[image, :n].numpy().tolist() == \
            expected[image, :n].numpy().tolist()


def test_anchor_layout():
    config = MaskRCNNConfig(image_size=64, anchor_scales=(1.0,),
                            anchor_ratios=(1.0,))
    anchors = generate_anchors(config)
    assert anchors.shape == (config.n_anchors, 4)
    # first anchor: P2 cell (0, 0), centred at (2, 2), size 6
    assert_allclose(anchors[0], [-1, -1, 5, 5])
    # second: the next cell along x
    assert_allclose(anchors[1], [-1, 3, 5, 9])
    # the last level (P5, stride 32) has anchors of size 48
    assert_allclose(anchors[-1], [48 - 24, 48 - 24, 48 + 24, 48 + 24])


def test_anchor_ratios_keep_area():
    config = MaskRCNNConfig(image_size=64, anchor_scales=(1.0,),
                            anchor_ratios=(0.5, 1.0, 2.0))
    anchors = generate_anchors(config)[:3]
    heights = anchors[:, 2] - anchors[:, 0]
    widths = anchors[:, 3] - anchors[:, 1]
    assert_allclose(heights * widths, 36.0, rtol=1e-5)
    assert_allclose(heights / widths, [0.5, 1.0, 2.0], rtol=1e-5)


def test_masks_to_boxes():
    masks = np.zeros((2, 20, 30), bool)
    masks[0, 3:7, 10:21] = True
    boxes = masks_to_boxes(masks)
    assert_allclose(boxes, [[3, 10, 7, 21], [0, 0, 0, 0]])
