"""Synthetic scenes of round blobs, for tests that need a trained model."""

import numpy as np

from galseg.engine import masks_to_boxes
from galseg.normalization import normalize_image

__all__ = ['make_blob_scene', 'make_blob_batch']


def _gaussian(size, y, x, sigma, amplitude):
    yy, xx = np.mgrid[:size, :size]
    return amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                              / (2 * sigma ** 2))


def make_blob_scene(rng, size=64, n_blobs=2, noise=1.0,
                    min_separation=7.0, max_separation=18.0):
    """
    A noisy image of round Gaussian blobs and their true footprints.

    The first blob is near the centre and each next one at a random
    separation from the previous one, so the blobs overlap.

    Returns
    -------
    image : ndarray (1, size, size)
        Image with unit-variance noise (one band).
    isolated : ndarray (n_blobs, 1, size, size)
        Each blob without noise.
    footprints : ndarray of bool (n_blobs, size, size)
        Where each blob exceeds the noise.
    """
    centres = [np.array([size / 2, size / 2]) + rng.uniform(-4, 4, 2)]
    while len(centres) < n_blobs:
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(min_separation, max_separation)
        centre = centres[-1] + distance * np.array([np.sin(angle),
                                                    np.cos(angle)])
        if np.all((centre > 8) & (centre < size - 8)):
            centres.append(centre)
    isolated = np.stack([
        _gaussian(size, y, x, rng.uniform(1.5, 3.0), rng.uniform(20, 100))
        for y, x in centres])[:, None]
    image = isolated.sum(axis=0) + rng.normal(0, noise, (1, size, size))
    footprints = isolated[:, 0] > noise
    return image, isolated, footprints


def make_blob_batch(n_images, size=64, seed=0, max_instances=4,
                    n_blobs=(2, 2)):
    """
    A training batch (as `galseg.engine.MaskRCNN` takes it) of blob
    scenes with ``n_blobs[0]`` to ``n_blobs[1]`` blobs each.
    """
    rng = np.random.default_rng(seed)
    batch = {'images': np.zeros((n_images, size, size, 1), np.float32),
             'gt_boxes': np.zeros((n_images, max_instances, 4), np.float32),
             'gt_classes': np.zeros((n_images, max_instances), np.int32),
             'gt_masks': np.zeros((n_images, max_instances, size, size),
                                  np.uint8)}
    for index in range(n_images):
        image, _, footprints = make_blob_scene(
            rng, size, int(rng.integers(n_blobs[0], n_blobs[1] + 1)))
        n = len(footprints)
        batch['images'][index] = normalize_image(image, background=0.0,
                                                 noise=1.0)
        batch['gt_boxes'][index, :n] = masks_to_boxes(footprints)
        batch['gt_classes'][index, :n] = 1
        batch['gt_masks'][index, :n] = footprints
    return batch
