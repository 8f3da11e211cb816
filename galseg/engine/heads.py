"""The network heads: region proposals, box/class and mask heads."""

import keras
from keras import layers

__all__ = ['build_rpn_head', 'build_box_head', 'build_mask_head']


def build_rpn_head(config):
    """
    The region proposal head, shared by all pyramid levels.

    Returns
    -------
    model : `keras.Model`
        Maps a level ``(batch, h, w, fpn_width)`` to objectness logits
        ``(batch, h, w, A)`` and box deltas ``(batch, h, w, 4 A)``, with
        ``A`` anchors per location.
    """
    n_anchors = config.anchors_per_location
    features = keras.Input((None, None, config.fpn_width), name='features')
    x = layers.Conv2D(config.fpn_width, 3, padding='same', activation='relu',
                      name='rpn_conv')(features)
    logits = layers.Conv2D(n_anchors, 1, name='rpn_logits')(x)
    deltas = layers.Conv2D(4 * n_anchors, 1, name='rpn_deltas',
                           kernel_initializer=keras.initializers.RandomNormal(
                               stddev=0.01))(x)
    return keras.Model(features, [logits, deltas], name='rpn_head')


def build_box_head(config):
    """
    The box head: class logits and class-agnostic box refinements.

    Returns
    -------
    model : `keras.Model`
        Maps pooled regions ``(n, roi_pool_size, roi_pool_size,
        fpn_width)`` to logits ``(n, n_classes + 1)`` (index 0 is the
        background) and deltas ``(n, 4)``.
    """
    size = config.roi_pool_size
    pooled = keras.Input((size, size, config.fpn_width), name='pooled')
    x = layers.Flatten(name='box_flatten')(pooled)
    x = layers.Dense(config.box_head_width, activation='relu',
                     name='box_fc1')(x)
    x = layers.Dense(config.box_head_width, activation='relu',
                     name='box_fc2')(x)
    logits = layers.Dense(config.n_classes + 1, name='class_logits')(x)
    deltas = layers.Dense(4, name='box_deltas',
                          kernel_initializer=keras.initializers.RandomNormal(
                              stddev=0.001))(x)
    return keras.Model(pooled, [logits, deltas], name='box_head')


def build_mask_head(config):
    """
    The mask head: one mask logit map per class.

    Returns
    -------
    model : `keras.Model`
        Maps pooled regions ``(n, mask_pool_size, mask_pool_size,
        fpn_width)`` to logits ``(n, mask_size, mask_size, n_classes)``.
    """
    size = config.mask_pool_size
    pooled = keras.Input((size, size, config.fpn_width), name='pooled')
    x = pooled
    for index in range(config.mask_head_convs):
        x = layers.Conv2D(config.mask_head_width, 3, padding='same',
                          activation='relu', kernel_initializer='he_normal',
                          name=f'mask_conv{index + 1}')(x)
    x = layers.Conv2DTranspose(config.mask_head_width, 2, strides=2,
                               activation='relu', name='mask_upsample')(x)
    logits = layers.Conv2D(config.n_classes, 1, name='mask_logits')(x)
    return keras.Model(pooled, logits, name='mask_head')
