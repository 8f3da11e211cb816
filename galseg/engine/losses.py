"""The five Mask R-CNN losses."""

import tensorflow as tf

__all__ = ['rpn_objectness_loss', 'box_regression_loss',
           'roi_class_loss', 'mask_loss']


def _weighted_mean(values, weights):
    return tf.math.divide_no_nan(tf.reduce_sum(values * weights),
                                 tf.reduce_sum(weights))


def rpn_objectness_loss(logits, labels, weights):
    """Binary cross-entropy of the sampled anchors' objectness."""
    losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                     logits=logits)
    return _weighted_mean(losses, weights)


def box_regression_loss(deltas, targets, weights):
    """Smooth-L1 (Huber) loss of box deltas, averaged over positives."""
    diff = tf.abs(deltas - targets)
    huber = tf.where(diff < 1.0, 0.5 * diff ** 2, diff - 0.5)
    return _weighted_mean(tf.reduce_sum(huber, axis=-1), weights)


def roi_class_loss(logits, classes, weights):
    """Softmax cross-entropy of the sampled regions' classes."""
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes,
                                                            logits=logits)
    return _weighted_mean(losses, weights)


def mask_loss(logits, targets, weights):
    """
    Per-pixel binary cross-entropy of the masks of positive regions.

    Parameters
    ----------
    logits, targets : tensor (..., m, m)
    weights : tensor (...)
        1 for positive regions.
    """
    losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets,
                                                     logits=logits)
    return _weighted_mean(tf.reduce_mean(losses, axis=[-2, -1]), weights)
