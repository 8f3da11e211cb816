"""Anchor boxes over the feature-pyramid levels."""

import numpy as np

from .config import FPN_STRIDES

__all__ = ['generate_anchors']


def generate_anchors(config):
    """
    All anchors of a model, in the order of the RPN outputs.

    Anchors are ordered by pyramid level, then row, then column, then
    scale and ratio; they are centred on the feature-map cells (the cell
    ``j`` of a level of stride ``s`` is centred at ``(j + 0.5) * s``).

    Parameters
    ----------
    config : `~galseg.engine.MaskRCNNConfig`

    Returns
    -------
    anchors : `~numpy.ndarray` of float32, shape (n_anchors, 4)
        ``(ymin, xmin, ymax, xmax)`` in pixels.

    Examples
    --------
    >>> from galseg.engine import MaskRCNNConfig, generate_anchors
    >>> config = MaskRCNNConfig(image_size=64)
    >>> generate_anchors(config).shape == (config.n_anchors, 4)
    True
    """
    per_level = []
    for stride, size in zip(FPN_STRIDES, config.anchor_sizes):
        n_cells = config.image_size // stride
        heights, widths = [], []
        for scale in config.anchor_scales:
            for ratio in config.anchor_ratios:
                heights.append(size * scale * np.sqrt(ratio))
                widths.append(size * scale / np.sqrt(ratio))
        heights = np.array(heights)
        widths = np.array(widths)
        centres = (np.arange(n_cells) + 0.5) * stride
        cy, cx = np.meshgrid(centres, centres, indexing='ij')
        cy = cy[..., None]
        cx = cx[..., None]
        level = np.stack([cy - heights / 2, cx - widths / 2,
                          cy + heights / 2, cx + widths / 2], axis=-1)
        per_level.append(level.reshape(-1, 4))
    return np.concatenate(per_level).astype(np.float32)
