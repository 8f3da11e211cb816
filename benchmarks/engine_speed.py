"""
Speed of the Mask R-CNN engine on this machine.

Prints, for ResNet-18 and ResNet-50 backbones at 128x128 px and batch 8,
the images per second of inference (`MaskRCNN.detect`, full-resolution
masks included) and of training steps on images of three 16x12 px
sources, with an estimate of the FLOPs (2 per multiply-add) of one
inference forward pass per image with 10 detections.

Run: ``python benchmarks/engine_speed.py [--repeats 5]``
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from galseg.engine import MaskRCNN, MaskRCNNConfig  # noqa: E402
from galseg.engine.config import FPN_STRIDES  # noqa: E402


def _layer_flops(model, input_shapes):
    """FLOPs (2 x multiply-adds) of the conv and dense layers of a
    functional model run on inputs of the given shapes."""
    flops = 0
    probe = keras.Model(model.inputs,
                        [layer.output for layer in model.layers
                         if isinstance(layer, (layers.Conv2D, layers.Dense,
                                               layers.Conv2DTranspose))])
    inputs = [np.zeros((1, *shape), np.float32) for shape in input_shapes]
    outputs = probe(inputs if len(inputs) > 1 else inputs[0])
    convs = [layer for layer in model.layers
             if isinstance(layer, (layers.Conv2D, layers.Dense,
                                   layers.Conv2DTranspose))]
    for layer, output in zip(convs, outputs):
        kernel = layer.kernel.shape
        if isinstance(layer, layers.Dense):
            flops += 2 * kernel[0] * kernel[1]
        elif isinstance(layer, layers.Conv2DTranspose):
            flops += 2 * np.prod(output.shape[1:3]) * np.prod(kernel) // 4
        else:
            flops += 2 * np.prod(output.shape[1:3]) * np.prod(kernel)
    return flops


def estimate_flops(model, n_detections=10):
    """FLOPs of one inference forward pass of one image with
    ``n_detections`` detections (the mask head runs on each)."""
    config = model.config
    size = config.image_size
    backbone = _layer_flops(model.backbone, [(size, size, config.n_bands)])
    stage_shapes = [tuple(output.shape[1:]) for output in
                    model.backbone(np.zeros((1, size, size, config.n_bands),
                                            np.float32))]
    fpn = _layer_flops(model.fpn, stage_shapes)
    rpn = sum(_layer_flops(model.rpn_head, [(size // s, size // s,
                                             config.fpn_width)])
              for s in FPN_STRIDES)
    pool, mask_pool = config.roi_pool_size, config.mask_pool_size
    box = config.post_nms_proposals_test * _layer_flops(
        model.box_head, [(pool, pool, config.fpn_width)])
    mask = n_detections * _layer_flops(
        model.mask_head, [(mask_pool, mask_pool, config.fpn_width)])
    return backbone + fpn + rpn + box + mask


def _batch(config, batch_size, rng):
    size = config.image_size
    masks = np.zeros((batch_size, config.max_instances, size, size), np.uint8)
    boxes = np.zeros((batch_size, config.max_instances, 4), np.float32)
    classes = np.zeros((batch_size, config.max_instances), np.int32)
    for i in range(batch_size):
        for k in range(3):
            y, x = rng.integers(10, size - 30, 2)
            masks[i, k, y:y + 16, x:x + 12] = 1
            boxes[i, k] = y, x, y + 16, x + 12
            classes[i, k] = 1
    return {'images': rng.normal(size=(batch_size, size, size,
                                       config.n_bands)).astype(np.float32),
            'gt_boxes': boxes, 'gt_classes': classes, 'gt_masks': masks}


def measure(config, batch_size, repeats):
    rng = np.random.default_rng(0)
    model = MaskRCNN(config)
    data = _batch(config, batch_size, rng)
    model.detect(data['images'], batch_size=batch_size)  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        model.detect(data['images'], batch_size=batch_size)
    inference = repeats * batch_size / (time.perf_counter() - start)

    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.train_on_batch(data)  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        model.train_on_batch(data)
    training = repeats * batch_size / (time.perf_counter() - start)
    return (model.count_params(), estimate_flops(model), inference,
            training)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--image-size', type=int, default=128)
    args = parser.parse_args()
    rows = []
    for backbone, width in (('resnet18', 32), ('resnet18', 64),
                            ('resnet50', 64)):
        config = MaskRCNNConfig(backbone=backbone, backbone_width=width,
                                image_size=args.image_size)
        params, flops, inference, training = measure(config, args.batch_size,
                                                     args.repeats)
        rows.append((f'{backbone} (width {width})', params / 1e6, flops / 1e9,
                     inference, 1.0 / inference, training))
    print(f'Mask R-CNN at {args.image_size}x{args.image_size} px, batch '
          f'{args.batch_size}, {os.cpu_count()} CPU cores')
    header = ('backbone', 'params [M]', 'GFLOP/img', 'infer img/s',
              'infer s/img', 'train img/s')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '|'.join('---' for _ in header) + '|')
    for name, params, gflops, inference, seconds, training in rows:
        print(f'| {name} | {params:.2f} | {gflops:.2f} | {inference:.1f} | '
              f'{seconds:.3f} | {training:.1f} |')


if __name__ == '__main__':
    main()
