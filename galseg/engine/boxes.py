"""
Box arithmetic: IoU, encoding and decoding of box regressions.

Boxes are ``(ymin, xmin, ymax, xmax)`` in pixel-edge coordinates: a box
covering pixel rows ``r0`` to ``r1`` inclusive has ``ymin = r0`` and
``ymax = r1 + 1``.
"""

import numpy as np
import tensorflow as tf

from ..utils import masks_to_boxes

__all__ = ['box_iou', 'encode_boxes', 'decode_boxes', 'clip_boxes',
           'batched_nms', 'masks_to_boxes']

# Largest log-scale change a decoded box may get (as in detectron2):
# keeps exp() finite for wild early-training regressions.
_MAX_LOG_SCALE = float(np.log(1000.0 / 16.0))


def box_iou(boxes_a, boxes_b):
    """
    Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes_a : tensor of shape (..., N, 4)
    boxes_b : tensor of shape (..., M, 4)

    Returns
    -------
    iou : tensor of shape (..., N, M)
    """
    a = tf.expand_dims(boxes_a, -2)
    b = tf.expand_dims(boxes_b, -3)
    inter_h = tf.maximum(tf.minimum(a[..., 2], b[..., 2])
                         - tf.maximum(a[..., 0], b[..., 0]), 0.0)
    inter_w = tf.maximum(tf.minimum(a[..., 3], b[..., 3])
                         - tf.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = inter_h * inter_w
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return tf.math.divide_no_nan(inter, union)


def _centre_size(boxes):
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    return (boxes[..., 0] + 0.5 * height, boxes[..., 1] + 0.5 * width,
            height, width)


def encode_boxes(boxes, reference, std):
    """
    Encode boxes relative to reference boxes as (dy, dx, dh, dw) / std.

    Parameters
    ----------
    boxes, reference : tensor of shape (..., 4)
        Target boxes and the anchors or proposals they are relative to.
    std : sequence of 4 float
        Scales dividing the four deltas.

    Returns
    -------
    deltas : tensor of shape (..., 4)
    """
    y, x, h, w = _centre_size(boxes)
    ry, rx, rh, rw = _centre_size(reference)
    rh = tf.maximum(rh, 1e-3)
    rw = tf.maximum(rw, 1e-3)
    deltas = tf.stack([(y - ry) / rh, (x - rx) / rw,
                       tf.math.log(tf.maximum(h, 1e-3) / rh),
                       tf.math.log(tf.maximum(w, 1e-3) / rw)], axis=-1)
    return deltas / tf.constant(std, deltas.dtype)


def decode_boxes(deltas, reference, std):
    """
    Apply (dy, dx, dh, dw) deltas, as made by `encode_boxes`.

    Parameters
    ----------
    deltas, reference : tensor of shape (..., 4)
    std : sequence of 4 float

    Returns
    -------
    boxes : tensor of shape (..., 4)
    """
    deltas = deltas * tf.constant(std, deltas.dtype)
    ry, rx, rh, rw = _centre_size(reference)
    y = ry + deltas[..., 0] * rh
    x = rx + deltas[..., 1] * rw
    h = rh * tf.exp(tf.minimum(deltas[..., 2], _MAX_LOG_SCALE))
    w = rw * tf.exp(tf.minimum(deltas[..., 3], _MAX_LOG_SCALE))
    return tf.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w],
                    axis=-1)


def clip_boxes(boxes, height, width):
    """Clip boxes to the image ``[0, height] x [0, width]``."""
    limits = tf.constant([height, width, height, width], boxes.dtype)
    return tf.clip_by_value(boxes, 0.0, limits)


def batched_nms(boxes, scores, max_output_size, iou_threshold,
                score_threshold):
    """
    Greedy non-maximum suppression of each image of a batch.

    The same selection as `tf.image.non_max_suppression_padded` on a
    batch, image by image with the per-image kernel of
    `tf.image.non_max_suppression`, which on CPUs is tens of times
    faster than the batched, accelerator-friendly algorithm.

    Parameters
    ----------
    boxes : tensor of shape (batch, n, 4)
    scores : tensor of shape (batch, n)
    max_output_size : int
    iou_threshold, score_threshold : float
        A box is suppressed by a higher-scoring selected box when their
        IoU exceeds ``iou_threshold``; boxes scoring at most
        ``score_threshold`` are never selected.

    Returns
    -------
    selected : int32 tensor of shape (batch, max_output_size)
        Indices of the selected boxes in decreasing order of score,
        padded with zeros.
    n_selected : int32 tensor of shape (batch,)
        How many of them are real.
    """
    def one_image(args):
        image_boxes, image_scores = args
        indices = tf.image.non_max_suppression(
            image_boxes, image_scores, max_output_size,
            iou_threshold=iou_threshold,
            score_threshold=tf.cast(score_threshold, tf.float32))
        count = tf.size(indices)
        return tf.pad(indices, [[0, max_output_size - count]]), count

    return tf.map_fn(one_image, (tf.cast(boxes, tf.float32),
                                 tf.cast(scores, tf.float32)),
                     fn_output_signature=(tf.int32, tf.int32))
