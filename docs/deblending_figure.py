"""
Make the figure of the deblending docs page (docs/deblending.rst).

Usage::

    python docs/deblending_figure.py MODEL_DIR \
        docs/_static/deblending_example.png

The image is synthetic: round Gaussian blobs, some of them blended, on
unit-variance noise, so that the figure can be made with any model that
finds such sources.
"""

import sys


def make_scene(seed=2):
    """A 96 x 128 image with isolated and blended blobs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :128]
    sources = [(30, 28, 2.5, 60), (34, 36, 2.0, 40), (22, 40, 2.0, 80),
               (70, 90, 2.2, 70), (66, 97, 2.0, 45), (60, 30, 3.0, 50),
               (25, 100, 2.0, 90)]
    image = rng.normal(0.0, 1.0, yy.shape)
    for y, x, sigma, amplitude in sources:
        image += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                                    / (2 * sigma ** 2))
    return image


def main(model, output):
    import numpy as np
    from matplotlib.figure import Figure

    from galseg import MaskRCNNDeblender

    result = MaskRCNNDeblender(model).deblend(make_scene())
    blend = result.catalog['blend_id'][np.argmax(result.catalog['n_blend'])]
    members = np.flatnonzero(result.catalog['blend_id'] == blend)

    figure = Figure(figsize=(12, 3.6), layout='constrained')
    axes = figure.subplots(1, 2 + min(len(members), 3),
                           width_ratios=[4, 4] + [1.6] * min(len(members), 3))
    result.plot(ax=axes[0])
    axes[0].set_title('data, outlines and labels')
    result.segmentation_image.imshow(ax=axes[1])
    axes[1].set_title('segmentation image')
    for ax, index in zip(axes[2:], members):
        ax.imshow(result.deblended_images[index][0], origin='lower',
                  cmap='Greys_r')
        ax.set_title(f'deblended {index + 1}')
        ax.set_xticks([])
        ax.set_yticks([])
    figure.savefig(output, dpi=90)


if __name__ == '__main__':
    main(*sys.argv[1:3])
