"""
ROIAlign: bilinear pooling of regions of interest from feature maps.

The sampling follows the "aligned" ROIAlign of detectron2: a feature
cell ``j`` of a map of stride ``s`` is centred at ``(j + 0.5) * s`` in
pixel-edge coordinates, and each output bin averages a 2x2 grid of
bilinear samples.  Samples outside the map are zero.
"""

import tensorflow as tf

from .config import FPN_STRIDES

__all__ = ['roi_align', 'multilevel_roi_align', 'roi_levels',
           'aligned_crop_boxes']


def aligned_crop_boxes(boxes, stride, map_height, map_width, n_samples):
    """
    Normalised crop boxes for `tf.image.crop_and_resize`.

    ``crop_and_resize`` samples ``n_samples`` points from ``y1n * (h - 1)``
    to ``y2n * (h - 1)``; this returns the ``(y1n, x1n, y2n, x2n)`` that
    put those points at the centres of ``n_samples`` equal bins of each
    box (pixel-edge coordinates) on a map of the given stride.
    """
    height = tf.cast(map_height, boxes.dtype)
    width = tf.cast(map_width, boxes.dtype)
    bin_y = (boxes[:, 2] - boxes[:, 0]) / n_samples
    bin_x = (boxes[:, 3] - boxes[:, 1]) / n_samples
    first_y = (boxes[:, 0] + 0.5 * bin_y) / stride - 0.5
    first_x = (boxes[:, 1] + 0.5 * bin_x) / stride - 0.5
    last_y = first_y + (n_samples - 1) * bin_y / stride
    last_x = first_x + (n_samples - 1) * bin_x / stride
    return tf.stack([first_y / (height - 1), first_x / (width - 1),
                     last_y / (height - 1), last_x / (width - 1)], axis=1)


def roi_align(features, boxes, box_indices, stride, output_size,
              sampling_ratio=2):
    """
    ROIAlign of boxes on one feature map.

    Parameters
    ----------
    features : tensor of shape (batch, h, w, c)
    boxes : tensor of shape (n, 4)
        Boxes in image pixels (pixel-edge coordinates).
    box_indices : int32 tensor of shape (n,)
        Batch index of each box.
    stride : int
        Pixels per feature cell.
    output_size : int
        Side of the pooled output.
    sampling_ratio : int
        Bilinear samples per bin along each axis, averaged.

    Returns
    -------
    pooled : tensor of shape (n, output_size, output_size, c)
    """
    n_samples = output_size * sampling_ratio
    shape = tf.shape(features)
    crop_boxes = aligned_crop_boxes(boxes, float(stride), shape[1], shape[2],
                                    n_samples)
    crops = tf.image.crop_and_resize(features, crop_boxes, box_indices,
                                     [n_samples, n_samples],
                                     extrapolation_value=0.0)
    if sampling_ratio > 1:
        crops = tf.nn.avg_pool2d(crops, sampling_ratio, sampling_ratio,
                                 'VALID')
    return crops


def roi_levels(boxes, base_size):
    """
    Pyramid level (0 for P2 ... 3 for P5) from which to pool each box.

    Boxes smaller than ``2 * base_size`` use P2; each doubling of the
    box size moves one level up.
    """
    size = tf.sqrt(tf.maximum((boxes[..., 2] - boxes[..., 0])
                              * (boxes[..., 3] - boxes[..., 1]), 1e-6))
    level = tf.floor(tf.math.log(size / base_size) / tf.math.log(2.0))
    return tf.cast(tf.clip_by_value(level, 0, len(FPN_STRIDES) - 1),
                   tf.int32)


def multilevel_roi_align(feature_maps, boxes, batch_indices, output_size,
                         base_size):
    """
    ROIAlign of boxes, each from its own pyramid level.

    Parameters
    ----------
    feature_maps : list of tensor
        P2 to P5, each of shape (batch, h, w, c).
    boxes : tensor of shape (n, 4)
        Boxes in image pixels.
    batch_indices : int32 tensor of shape (n,)
        Batch index of each box.
    output_size : int
    base_size : float
        See `roi_levels`.

    Returns
    -------
    pooled : tensor of shape (n, output_size, output_size, c)
    """
    boxes = tf.stop_gradient(boxes)
    levels = roi_levels(boxes, base_size)
    channels = feature_maps[0].shape[-1]
    pooled, positions = [], []
    for level, (features, stride) in enumerate(zip(feature_maps,
                                                   FPN_STRIDES)):
        where = tf.cast(tf.where(tf.equal(levels, level)), tf.int32)
        level_boxes = tf.gather_nd(boxes, where)
        pooled.append(roi_align(features, level_boxes,
                                tf.gather_nd(batch_indices, where), stride,
                                output_size))
        positions.append(where)
    shape = tf.stack([tf.shape(boxes)[0], output_size, output_size,
                      channels])
    return tf.scatter_nd(tf.concat(positions, 0), tf.concat(pooled, 0),
                         shape)
