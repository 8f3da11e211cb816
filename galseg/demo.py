"""
``galseg demo``: simulate a blended field, deblend it with the bundled
model and compare with photutils.

Writes into the output directory:

* ``field.fits``: the simulated image, with a WCS;
* ``segmentation.fits`` and ``catalog.ecsv``: galseg's result;
* ``comparison.png``: the image, the true footprints, galseg's and
  photutils' segmentations side by side;

and prints the comparison tables of the quality benchmark
(`galseg.evaluation.comparison_tables`) for this field.
"""

from pathlib import Path

DESCRIPTION = ('Simulate a blended field, deblend it with the default '
               'model and compare the result with photutils.')

_OUTPUTS = ('field.fits', 'segmentation.fits', 'catalog.ecsv',
            'comparison.png')


def add_arguments(parser):
    parser.add_argument('--out', default='galseg-demo', metavar='DIR',
                        help='output directory')
    parser.add_argument('--model', default='default', metavar='RUN',
                        help='model directory or training run')
    parser.add_argument('--size', type=int, default=256, metavar='N',
                        help='side of the simulated field in pixels')
    parser.add_argument('--n-sources', type=int, default=16, metavar='N',
                        help='galaxies in the field')
    parser.add_argument('--seed', type=int, default=1, help='random seed')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')


def simulate_field(size, n_sources, seed):
    """
    A blended field for the demo: LSST-like i band, 0.2"/px, 0.7"
    Moffat seeing.

    Returns
    -------
    scene : `~galseg.simulate.Scene`
    """
    from .simulate import SimulationConfig, simulate_scene

    config = SimulationConfig(
        survey='lsst', bands=('i',), stamp_size=size,
        n_sources=(n_sources, n_sources), pixel_scale=(0.2, 0.2),
        psf_profiles=('moffat',), moffat_beta=(3.0, 3.0),
        psf_fwhm=(0.7, 0.7), snr=(15.0, 500.0), separation=(1.0, 10.0),
        first_source_offset=size / 4)
    return simulate_scene(config, seed, 0)


def _field_wcs(shape, pixel_scale):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.1, 2.2]  # the COSMOS field
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cdelt = [-pixel_scale / 3600, pixel_scale / 3600]
    wcs.wcs.cunit = ['deg', 'deg']
    return wcs


def _plot(path, scene, galseg_masks, photutils_masks, overwrite):
    import numpy as np
    from astropy.visualization import AsinhStretch, ImageNormalize
    from matplotlib.figure import Figure

    from .evaluation.plots import label_image
    from .utils import atomic_output

    figure = Figure(figsize=(16, 4.4), layout='constrained')
    axes = figure.subplots(1, 4)
    image = scene.image[0]
    norm = ImageNormalize(image, vmin=-scene.noise_sigma[0],
                          vmax=np.percentile(image, 99.8),
                          stretch=AsinhStretch(0.05))
    axes[0].imshow(image, origin='lower', cmap='gray', norm=norm)
    axes[0].set_title('simulated field')
    truth = scene.footprints[scene.catalog['has_footprint']]
    for ax, masks, title in ((axes[1], truth, 'truth'),
                             (axes[2], galseg_masks, 'galseg'),
                             (axes[3], photutils_masks, 'photutils')):
        labels = label_image(masks) if len(masks) else np.zeros(image.shape,
                                                                int)
        ax.imshow(np.ma.masked_equal(labels, 0), origin='lower',
                  cmap='tab20', interpolation='nearest')
        ax.set_title(f'{title}: {len(masks)} sources')
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    with atomic_output(path, overwrite) as tmp:
        figure.savefig(tmp, format='png', dpi=90)


def run(args):
    from astropy.io import fits

    from .deblend_cli import deblend_file
    from .deblender import MaskRCNNDeblender
    from .evaluation.comparison import comparison_tables
    from .evaluation.evaluate import default_methods, evaluate
    from .utils import atomic_output, check_writable

    out = Path(args.out)
    for name in _OUTPUTS:
        check_writable(out / name, args.overwrite)
    deblender = MaskRCNNDeblender(model=args.model)
    scene = simulate_field(args.size, args.n_sources, args.seed)
    wcs = _field_wcs(scene.image.shape[1:], scene.pixel_scale)
    header = wcs.to_header()
    header['BUNIT'] = 'electron'
    with atomic_output(out / 'field.fits', args.overwrite) as tmp:
        fits.PrimaryHDU(scene.image[0], header=header).writeto(tmp)

    outputs = {'segmentation': out / 'segmentation.fits',
               'catalog': out / 'catalog.ecsv'}
    n_found = deblend_file(out / 'field.fits', outputs, deblender,
                           overwrite=args.overwrite)
    # the comparison of the benchmark and the documentation, on this field
    result = evaluate([scene], default_methods(deblender), n_gallery=1)
    predictions = result.examples[0]['predictions']
    _plot(out / 'comparison.png', scene, predictions['galseg'],
          predictions['photutils'], args.overwrite)
    n_true = int(scene.catalog['has_footprint'].sum())
    print(f'galseg demo: {n_true} simulated galaxies with footprints; '
          f'galseg found {n_found} sources, photutils '
          f'{len(predictions["photutils"])}\n')
    print(comparison_tables(result))
    for name in _OUTPUTS:
        print(f'  wrote {out / name}')
    return 0
