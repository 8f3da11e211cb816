"""ResNet backbones and the feature pyramid network (FPN)."""

import keras
from keras import layers

from .config import BACKBONES

__all__ = ['build_resnet', 'build_fpn']

_BN_MOMENTUM = 0.99
_BN_EPSILON = 1e-5


def _conv_bn(x, filters, kernel_size, strides, name, activation=True):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding='same',
                      use_bias=False, kernel_initializer='he_normal',
                      name=f'{name}_conv')(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                                  name=f'{name}_bn')(x)
    if activation:
        x = layers.ReLU(name=f'{name}_relu')(x)
    return x


def _basic_block(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f'{name}_down',
                            activation=False)
    x = _conv_bn(x, filters, 3, strides, f'{name}_1')
    x = _conv_bn(x, filters, 3, 1, f'{name}_2', activation=False)
    x = layers.Add(name=f'{name}_add')([shortcut, x])
    return layers.ReLU(name=f'{name}_out')(x)


def _bottleneck_block(x, filters, strides, name):
    out_filters = 4 * filters
    shortcut = x
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = _conv_bn(x, out_filters, 1, strides, f'{name}_down',
                            activation=False)
    x = _conv_bn(x, filters, 1, 1, f'{name}_1')
    x = _conv_bn(x, filters, 3, strides, f'{name}_2')
    x = _conv_bn(x, out_filters, 1, 1, f'{name}_3', activation=False)
    x = layers.Add(name=f'{name}_add')([shortcut, x])
    return layers.ReLU(name=f'{name}_out')(x)


def build_resnet(config):
    """
    Build the ResNet backbone, randomly initialised, for any band count.

    Parameters
    ----------
    config : `~galseg.engine.MaskRCNNConfig`

    Returns
    -------
    model : `keras.Model`
        Maps images ``(batch, size, size, n_bands)`` to the stage outputs
        C2, C3, C4, C5 at strides 4, 8, 16 and 32.
    """
    block_type, blocks_per_stage = BACKBONES[config.backbone]
    block = _basic_block if block_type == 'basic' else _bottleneck_block
    images = keras.Input((None, None, config.n_bands), name='images')
    x = _conv_bn(images, config.backbone_width, 7, 2, 'stem')
    x = layers.MaxPooling2D(3, strides=2, padding='same', name='stem_pool')(x)
    outputs = []
    for stage, n_blocks in enumerate(blocks_per_stage):
        filters = config.backbone_width * 2 ** stage
        for index in range(n_blocks):
            strides = 2 if stage > 0 and index == 0 else 1
            x = block(x, filters, strides, f'c{stage + 2}_block{index + 1}')
        outputs.append(x)
    return keras.Model(images, outputs, name=config.backbone)


def build_fpn(config, stage_channels):
    """
    Build the feature pyramid on top of the backbone stages.

    Parameters
    ----------
    config : `~galseg.engine.MaskRCNNConfig`
    stage_channels : sequence of int
        Channels of C2 to C5.

    Returns
    -------
    model : `keras.Model`
        Maps [C2, C3, C4, C5] to [P2, P3, P4, P5], each with
        ``config.fpn_width`` channels.
    """
    inputs = [keras.Input((None, None, channels), name=f'c{level}')
              for level, channels in zip(range(2, 6), stage_channels)]
    laterals = [layers.Conv2D(config.fpn_width, 1, name=f'fpn_lateral{level}')(c)
                for level, c in zip(range(2, 6), inputs)]
    merged = [laterals[-1]]
    for level in range(4, 1, -1):
        upsampled = layers.UpSampling2D(2, name=f'fpn_up{level + 1}')(merged[0])
        merged.insert(0, layers.Add(name=f'fpn_add{level}')(
            [upsampled, laterals[level - 2]]))
    outputs = [layers.Conv2D(config.fpn_width, 3, padding='same',
                             name=f'fpn_p{level}')(m)
               for level, m in zip(range(2, 6), merged)]
    return keras.Model(inputs, outputs, name='fpn')
