"""
Training targets, built inside the training step from the true boxes,
classes and masks.

True instances come padded to a fixed number per image; padding has
class 0.
"""

import tensorflow as tf

from .boxes import box_iou, encode_boxes
from .roi_align import aligned_crop_boxes

__all__ = ['sample_by_priority', 'rpn_targets', 'roi_targets',
           'mask_targets']


def _rank(priority):
    """Rank of each entry along the last axis, 0 for the largest."""
    order = tf.argsort(priority, axis=-1, direction='DESCENDING')
    return tf.argsort(order, axis=-1)


def sample_by_priority(positive, negative, n_total, n_positive_max, seed):
    """
    Sample at most ``n_positive_max`` positives and fill up to
    ``n_total`` with negatives, uniformly at random.

    Parameters
    ----------
    positive, negative : bool tensors of shape (batch, n)
    n_total : int
    n_positive_max : int
    seed : tensor of shape (2,)
        Stateless random seed.

    Returns
    -------
    indices : int32 tensor of shape (batch, n_total)
        Sampled positions, positives first.
    is_positive, is_valid : bool tensors of shape (batch, n_total)
        Whether each sample is a positive, and whether it is a sample
        at all (there may be fewer candidates than ``n_total``).
    """
    shape = tf.shape(positive)
    u_pos = tf.random.stateless_uniform(shape, seed)
    u_neg = tf.random.stateless_uniform(shape, seed + 1)
    take_pos = positive & (_rank(tf.where(positive, u_pos, -1.0))
                           < n_positive_max)
    n_neg = n_total - tf.reduce_sum(tf.cast(take_pos, tf.int32), axis=-1,
                                    keepdims=True)
    take_neg = negative & (_rank(tf.where(negative, u_neg, -1.0)) < n_neg)
    priority = tf.where(take_pos, 3.0 + u_pos,
                        tf.where(take_neg, 2.0 + u_neg, u_pos - 1.0))
    top = tf.math.top_k(priority, k=n_total)
    return (top.indices, top.values >= 3.0, top.values >= 2.0)


def _gt_iou(candidates, gt_boxes, gt_valid):
    """IoU (batch, n, g) with invalid truths set to -1."""
    iou = box_iou(candidates, gt_boxes)
    return tf.where(gt_valid[:, None, :], iou, -1.0)


def rpn_targets(anchors, gt_boxes, gt_classes, config, seed):
    """
    Objectness and box targets of a sample of anchors.

    An anchor is positive if its IoU with a true box reaches
    ``rpn_positive_iou`` or if it is the best anchor of a true box;
    negative if its best IoU is below ``rpn_negative_iou``.

    Returns
    -------
    indices : int32 (batch, k)
        Sampled anchors.
    labels : float32 (batch, k)
        1 for positive, 0 for negative anchors.
    weights : float32 (batch, k)
        1 for sampled anchors, 0 for padding.
    box_targets : float32 (batch, k, 4)
        Encoded deltas to the matched true box (meaningful for positives).
    positive_weights : float32 (batch, k)
    """
    batch = tf.shape(gt_boxes)[0]
    anchors = tf.broadcast_to(anchors[None], [batch, *anchors.shape])
    gt_valid = gt_classes > 0
    iou = _gt_iou(anchors, gt_boxes, gt_valid)
    best_iou = tf.reduce_max(iou, axis=2)
    best_gt = tf.argmax(iou, axis=2, output_type=tf.int32)
    # the best anchor of each true box is positive too (small sources
    # may match no anchor above the threshold)
    best_for_gt = tf.reduce_max(iou, axis=1, keepdims=True)
    is_best = tf.reduce_any(
        (iou >= best_for_gt - 1e-6) & (iou > 0) & gt_valid[:, None, :],
        axis=2)
    positive = (best_iou >= config.rpn_positive_iou) | is_best
    negative = (best_iou < config.rpn_negative_iou) & ~positive
    n_pos = round(config.rpn_anchors_per_image * config.rpn_positive_fraction)
    indices, is_pos, is_valid = sample_by_priority(
        positive, negative, config.rpn_anchors_per_image, n_pos, seed)
    matched = tf.gather(gt_boxes, tf.gather(best_gt, indices, batch_dims=1),
                        batch_dims=1)
    box_targets = encode_boxes(matched, tf.gather(anchors, indices,
                                                  batch_dims=1),
                               config.box_std)
    return (indices, tf.cast(is_pos, tf.float32),
            tf.cast(is_valid, tf.float32), box_targets,
            tf.cast(is_pos, tf.float32))


def roi_targets(proposals, proposal_valid, gt_boxes, gt_classes, config,
                seed):
    """
    Sample regions of interest and their class and box targets.

    The true boxes are added to the proposals, so that positives exist
    from the first step.  Positives come first in the sample, and the
    first ``config.positive_rois_per_image`` samples hold them all.

    Returns
    -------
    rois : float32 (batch, k, 4)
    classes : int32 (batch, k)
        Target class (0: background).
    weights : float32 (batch, k)
        1 for sampled regions, 0 for padding.
    box_targets : float32 (batch, k, 4)
    matched_gt : int32 (batch, k)
        Index of the matched true instance.
    """
    gt_valid = gt_classes > 0
    candidates = tf.concat([proposals, gt_boxes], axis=1)
    candidate_valid = tf.concat([proposal_valid, gt_valid], axis=1)
    iou = _gt_iou(candidates, gt_boxes, gt_valid)
    best_iou = tf.reduce_max(iou, axis=2)
    best_gt = tf.argmax(iou, axis=2, output_type=tf.int32)
    positive = candidate_valid & (best_iou >= config.roi_positive_iou)
    negative = candidate_valid & ~positive & (best_iou >= 0.0)
    indices, is_pos, is_valid = sample_by_priority(
        positive, negative, config.rois_per_image,
        config.positive_rois_per_image, seed)
    rois = tf.gather(candidates, indices, batch_dims=1)
    matched_gt = tf.gather(best_gt, indices, batch_dims=1)
    classes = tf.where(is_pos, tf.gather(gt_classes, matched_gt,
                                         batch_dims=1), 0)
    box_targets = encode_boxes(tf.gather(gt_boxes, matched_gt, batch_dims=1),
                               rois, config.box_std)
    return (tf.stop_gradient(rois), classes, tf.cast(is_valid, tf.float32),
            box_targets, matched_gt)


def mask_targets(gt_masks, rois, batch_indices, matched_gt, mask_size):
    """
    True masks resampled into regions, at the mask head resolution.

    Parameters
    ----------
    gt_masks : tensor (batch, g, h, w)
    rois : tensor (n, 4)
    batch_indices, matched_gt : int32 tensors (n,)
        Image and true instance of each region.
    mask_size : int

    Returns
    -------
    targets : float32 (n, mask_size, mask_size), values 0 or 1
    """
    shape = tf.shape(gt_masks)
    n_gt = shape[1]
    flat_masks = tf.reshape(tf.cast(gt_masks, tf.float32),
                            [shape[0] * n_gt, shape[2], shape[3], 1])
    crop_boxes = aligned_crop_boxes(rois, 1.0, shape[2], shape[3], mask_size)
    crops = tf.image.crop_and_resize(flat_masks, crop_boxes,
                                     batch_indices * n_gt + matched_gt,
                                     [mask_size, mask_size])
    return tf.cast(crops[..., 0] >= 0.5, tf.float32)
