"""
Make the figure of the deblending docs page (docs/deblending.rst).

Usage::

    python docs/deblending_figure.py docs/_static/deblending_example.png

or, to draw it with another model (a model or training-run directory)::

    python docs/deblending_figure.py OUTPUT.png --model runs/hsc

The image is the simulated scene of the page's worked example (five
bulge + disk galaxies at 0.2"/px under 0.7" seeing), deblended with the
bundled default model.  The figure shows galseg's outlines and labels
(`galseg.DeblendResult.plot`), its segmentation image, photutils'
detect_sources + deblend_sources on the same image (the settings of
`galseg.train.photutils_deblend`), the true footprints, and the
deblended images of the sources of the largest blend.
"""

import argparse

#: the scene of the worked example in docs/deblending.rst
SEED = 0


def make_scene(seed=SEED):
    """The simulated scene of the worked example."""
    from galseg.simulate import SimulationConfig, simulate_scene

    config = SimulationConfig(
        survey='lsst', bands=('i',), stamp_size=128, n_sources=(5, 5),
        pixel_scale=(0.2, 0.2), psf_profiles=('moffat',),
        moffat_beta=(3.0, 3.0), psf_fwhm=(0.7, 0.7),  # arcsec
        snr=(30.0, 300.0), separation=(1.0, 3.0))
    return simulate_scene(config, seed=seed, index=0)


def _show_labels(ax, labels, title):
    import numpy as np
    from photutils.segmentation import SegmentationImage

    if labels.any():
        SegmentationImage(labels).imshow(ax=ax)
    else:
        ax.imshow(np.zeros(labels.shape), origin='lower', cmap='Greys_r')
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def main(output, model='default', seed=SEED):
    import numpy as np
    from matplotlib.figure import Figure

    from galseg import MaskRCNNDeblender
    from galseg.train.baselines import photutils_deblend
    from galseg.train.plots import label_image

    scene = make_scene(seed)
    result = MaskRCNNDeblender(model).deblend(scene.image[0], background=0)
    photutils_masks, _, _ = photutils_deblend(
        scene.image, scene.noise_sigma, psf_fwhm=scene.psf_fwhm)
    truth = scene.footprints[scene.catalog['has_footprint']]

    catalog = result.catalog
    blend = catalog['blend_id'][np.argmax(catalog['n_blend'])]
    members = np.flatnonzero(catalog['blend_id'] == blend)[:4]

    figure = Figure(figsize=(13, 5.4), layout='constrained')
    top, bottom = figure.subfigures(2, 1, height_ratios=[3.4, 1.6])
    axes = top.subplots(1, 4)
    result.plot(ax=axes[0])
    axes[0].set_title(f'data, galseg outlines ({result.n_sources})')
    axes[0].set_xlabel('')
    axes[0].set_ylabel('')
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    _show_labels(axes[1], result.segmentation_image.data,
                 f'galseg segmentation ({result.n_sources})')
    _show_labels(axes[2], label_image(photutils_masks),
                 f'photutils deblend_sources ({len(photutils_masks)})')
    _show_labels(axes[3], label_image(truth),
                 f'true footprints ({len(truth)})')

    cutouts = bottom.subplots(1, max(len(members), 1), squeeze=False)[0]
    for ax, index in zip(cutouts, members):
        ax.imshow(result.deblended_images[index][0], origin='lower',
                  cmap='Greys_r', interpolation='nearest')
        ax.set_title(f'deblended image of label {index + 1}',
                     fontsize='small')
        ax.set_xticks([])
        ax.set_yticks([])
    bottom.suptitle(f'the {len(members)} sources of blend {blend}',
                    fontsize='medium')
    figure.savefig(output, dpi=90)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description=__doc__.strip().split('\n')[0])
    parser.add_argument('output', help='the PNG file to write')
    parser.add_argument('--model', default='default',
                        help="'default' or a model or training-run "
                             'directory')
    parser.add_argument('--seed', type=int, default=SEED,
                        help='the seed of the simulated scene')
    args = parser.parse_args()
    main(args.output, args.model, args.seed)
