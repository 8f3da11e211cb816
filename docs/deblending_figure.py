"""
Make the figure of the deblending docs page (docs/deblending.rst).

Usage::

    python docs/deblending_figure.py docs/_static/deblending_example.png

or, to draw it with another model (a model or training-run directory)
or another simulated scene::

    python docs/deblending_figure.py OUTPUT.png --model runs/hsc --seed 3

The image is the simulated scene of the page's worked example (five
bulge + disk galaxies at 0.2"/px under 0.7" seeing), deblended with the
bundled default model.  The figure shows galseg's outlines and labels
(`galseg.DeblendResult.plot`), its segmentation image, photutils'
detect_sources + deblend_sources on the same image (the settings of
`galseg.evaluation.photutils_deblend`), the true footprints, and the
deblended images of the sources of the largest blend.  In the
segmentation panels a source matched to a true galaxy (IoU >= 0.5) has
that galaxy's colour; unmatched detections are grey.
"""

import argparse

#: the seed of the scene of the worked example in docs/deblending.rst
SEED = 2


def make_scene(seed=SEED):
    """The simulated scene of the worked example."""
    from galseg.simulate import SimulationConfig, simulate_scene

    config = SimulationConfig(
        survey='lsst', bands=('i',), stamp_size=128, n_sources=(5, 5),
        pixel_scale=(0.2, 0.2), psf_profiles=('moffat',),
        moffat_beta=(3.0, 3.0), psf_fwhm=(0.7, 0.7),  # arcsec
        snr=(30.0, 300.0), separation=(1.0, 6.0))
    return simulate_scene(config, seed=seed, index=0)


def _colours(n):
    import matplotlib

    cycle = matplotlib.colormaps['tab10'].colors
    return [cycle[i % len(cycle)] for i in range(n)]


def _show_matched(ax, labels, masks, scores, truth, title):
    """Draw a label image, coloured by the true galaxy each label matches."""
    import numpy as np

    from galseg.evaluation.metrics import mask_iou, match_instances

    rgb = np.zeros((*labels.shape, 3))
    pred_to_true = np.full(len(masks), -1)
    if len(masks) and len(truth):
        pred_to_true, _ = match_instances(mask_iou(masks, truth), scores,
                                          0.5)
    colours = _colours(len(truth))
    for index, match in enumerate(pred_to_true):
        rgb[labels == index + 1] = (colours[match] if match >= 0
                                    else (0.55, 0.55, 0.55))
    ax.imshow(rgb, origin='lower', interpolation='nearest')
    n_matched = int((pred_to_true >= 0).sum())
    ax.set_title(f'{title}\n{len(masks)} found, {n_matched} match the truth',
                 fontsize='medium')


def _zoom(ax, window):
    (y0, y1), (x0, x1) = window
    ax.set_xlim(x0 - 0.5, x1 - 0.5)
    ax.set_ylim(y0 - 0.5, y1 - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel('')
    ax.set_ylabel('')


def _window(masks, shape, margin=8):
    """A square pixel window around all the masks."""
    import numpy as np

    rows, cols = np.nonzero(np.any(masks, axis=0))
    size = max(np.ptp(rows), np.ptp(cols)) + 1 + 2 * margin
    size = min(size, min(shape))
    window = []
    for centre, length in (((rows.min() + rows.max()) // 2, shape[0]),
                           ((cols.min() + cols.max()) // 2, shape[1])):
        start = int(np.clip(centre - size // 2, 0, length - size))
        window.append((start, start + size))
    return window


def main(output, model='default', seed=SEED):
    import numpy as np
    from matplotlib.figure import Figure

    from galseg import MaskRCNNDeblender
    from galseg.evaluation.baselines import photutils_deblend
    from galseg.evaluation.plots import label_image

    scene = make_scene(seed)
    result = MaskRCNNDeblender(model).deblend(scene.image[0], background=0)
    found = photutils_deblend(scene.image, scene.noise_sigma,
                              psf_fwhm=scene.psf_fwhm)
    photutils_masks, photutils_scores = found.masks, found.scores
    truth = scene.footprints[scene.catalog['has_footprint']]
    galseg_masks = result.instance_masks()
    window = _window(np.concatenate([truth, galseg_masks]),
                     scene.image.shape[1:])

    figure = Figure(figsize=(12, 6), layout='constrained')
    top, bottom = figure.subfigures(2, 1, height_ratios=[3.2, 2.0])
    axes = top.subplots(1, 4)
    result.plot(ax=axes[0])
    axes[0].set_title('data, galseg outlines and labels',
                      fontsize='medium')
    _show_matched(axes[1], result.segmentation_image.data, galseg_masks,
                  result.scores, truth, 'galseg')
    _show_matched(axes[2], label_image(photutils_masks), photutils_masks,
                  photutils_scores, truth, 'photutils deblend_sources')
    truth_rgb = np.zeros((*truth.shape[1:], 3))
    truth_labels = label_image(truth)
    for index, colour in enumerate(_colours(len(truth))):
        truth_rgb[truth_labels == index + 1] = colour
    axes[3].imshow(truth_rgb, origin='lower', interpolation='nearest')
    axes[3].set_title(f'true footprints\n{len(truth)} galaxies',
                      fontsize='medium')
    for ax in axes:
        _zoom(ax, window)

    _show_blend(bottom, result, scene.image[0])
    figure.savefig(output, dpi=90)


def _show_blend(figure, result, data, n_panels=6):
    """The data of the largest blend and its sources' deblended images."""
    import numpy as np
    from astropy.visualization import simple_norm

    catalog = result.catalog
    blend = catalog['parent'][np.argmax(catalog['n_children'])]
    members = np.flatnonzero(catalog['parent'] == blend)[:n_panels - 1]
    bboxes = [result.deblended_bboxes[index] for index in members]
    y0 = max(min(b.iymin for b in bboxes) - 3, 0)
    y1 = min(max(b.iymax for b in bboxes) + 3, data.shape[0])
    x0 = max(min(b.ixmin for b in bboxes) - 3, 0)
    x1 = min(max(b.ixmax for b in bboxes) + 3, data.shape[1])
    region = data[y0:y1, x0:x1]
    norm = simple_norm(region, 'asinh', percent=99.5)

    panels = [('data', region)]
    for index, bbox in zip(members, bboxes):
        image = np.zeros_like(region)
        image[bbox.iymin - y0:bbox.iymax - y0,
              bbox.ixmin - x0:bbox.ixmax - x0] = (
                  result.deblended_images[index][0])
        panels.append((f'deblended, label {index + 1}', image))
    axes = figure.subplots(1, n_panels)
    first = (n_panels - len(panels)) // 2
    for ax in axes:
        ax.set_axis_off()
    for ax, (title, image) in zip(axes[first:], panels):
        ax.imshow(image, origin='lower', cmap='Greys_r', norm=norm,
                  interpolation='nearest')
        ax.set_title(title, fontsize='small')
    figure.suptitle(f'blend {blend}: the data and the deblended images of '
                    f'its {len(members)} sources (they add up to the '
                    'data inside the grown masks)', fontsize='medium')


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
