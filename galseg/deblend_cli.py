"""
``galseg deblend``: deblend FITS images into a segmentation image and a
catalog.

One image::

    galseg deblend IMAGE.fits --model RUN --segmentation SEGM.fits \\
        --catalog CAT.ecsv [--plot PLOT.png]

Many images, through Dask (local threads by default, ``--scheduler
ADDRESS`` for a dask.distributed cluster)::

    galseg deblend *.fits --model RUN --outdir DIR [--plots]

writes ``DIR/<name>_segm.fits``, ``DIR/<name>_cat.ecsv`` (and
``DIR/<name>_plot.png``) for each ``<name>.fits``; an image that fails is
reported and the others go on.
"""

import argparse
import sys
import threading
import warnings
from pathlib import Path

__all__ = ['DESCRIPTION', 'add_arguments', 'run', 'deblend_file']

DESCRIPTION = ('Deblend FITS images into a segmentation image and a source '
               'catalog.')

_SUFFIXES = {'segmentation': '_segm.fits', 'catalog': '_cat.ecsv',
             'plot': '_plot.png'}


def _max_tile_snr(text):
    """``--max-tile-snr``: a number, or 'none'."""
    if text.strip().lower() == 'none':
        return None
    try:
        return float(text)
    except ValueError:
        msg = f"must be a number or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def add_arguments(parser):
    """Add the ``galseg deblend`` arguments to ``parser``."""
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='FITS image(s) to deblend')
    parser.add_argument('--hdu', default=None,
                        help='HDU number or name of the image (default: '
                             'the first HDU with image data)')
    parser.add_argument('--psf', metavar='PSF.fits',
                        help='FITS image of the point-spread function '
                             '(odd sides, centred, at the pixel scale of '
                             'the images; one PSF for every image): '
                             'sources are classified star or galaxy by '
                             'spread_model instead of by the network')
    parser.add_argument('--spread-threshold', type=float, default=None,
                        help='with --psf, the spread_model above which a '
                             "source is a galaxy (default: "
                             "MaskRCNNDeblender's)")
    parser.add_argument('--model', default='default', metavar='RUN',
                        help="model directory, training-run directory, or "
                             "'default' for the bundled model")
    parser.add_argument('--segmentation', metavar='OUT.fits',
                        help='write the segmentation image here (one image)')
    parser.add_argument('--catalog', metavar='OUT.ecsv',
                        help='write the source catalog here (one image)')
    parser.add_argument('--plot', metavar='OUT.png',
                        help='draw the image with the sources (one image)')
    parser.add_argument('--outdir', metavar='DIR',
                        help='write <name>_segm.fits and <name>_cat.ecsv '
                             'for every image into DIR')
    parser.add_argument('--plots', action='store_true',
                        help='with --outdir, also write <name>_plot.png')
    parser.add_argument('--scheduler', metavar='ADDRESS',
                        help='with --outdir, the address of a '
                             'dask.distributed scheduler (default: local '
                             'threads)')
    parser.add_argument('--workers', type=int, default=1,
                        help='with --outdir and no --scheduler, images '
                             'deblended at the same time')
    parser.add_argument('--score-threshold', type=float, default=None,
                        help='lowest detection confidence kept (default: '
                             "MaskRCNNDeblender's)")
    parser.add_argument('--mask-threshold', type=float, default=None,
                        help='mask probability above which a pixel belongs '
                             "to a source (default: MaskRCNNDeblender's)")
    parser.add_argument('--contained-fraction', type=float, default=None,
                        help='drop a detection lying at least this fraction '
                             'inside more confident ones (default: the one '
                             'chosen for the model, see MaskRCNNDeblender)')
    parser.add_argument('--core-probability', type=float, default=None,
                        help='drop such a detection only if its centre '
                             "lies where a more confident one's mask "
                             'probability reaches this (default: the one '
                             'chosen for the model, see MaskRCNNDeblender)')
    parser.add_argument('--n-pixels', type=int, default=None,
                        help='minimum number of connected pixels of a '
                             "segment (default: MaskRCNNDeblender's)")
    parser.add_argument('--min-snr', type=float, default=None,
                        help='least signal-to-noise ratio of a segment\'s '
                             'flux (default: the one chosen for the model, '
                             'see MaskRCNNDeblender)')
    parser.add_argument('--flux-dilation', type=int, default=None,
                        help='pixels by which the masks are grown to split '
                             "the data (default: MaskRCNNDeblender's)")
    parser.add_argument('--tile-overlap', type=int, default=None,
                        help='overlap of the tiles in pixels (default: a '
                             'quarter of the tile)')
    parser.add_argument('--max-tile-snr', type=_max_tile_snr, default=1000.0,
                        metavar='SNR',
                        help='deepest tile shown to the network (peak '
                             "signal-to-noise ratio), or 'none' to show "
                             'every tile as it is (default: 1000)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='tiles per forward pass of the network')
    parser.add_argument('--precision', choices=('float32', 'bfloat16'),
                        default='float32',
                        help='precision of the network: bfloat16 is faster '
                             'on CPUs with AVX512-BF16 or AMX, slower on '
                             'others (default: float32)')
    parser.add_argument('--progress', action='store_true',
                        help='show a progress bar over the tiles')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')


def run(args):
    """Run ``galseg deblend``; return the exit status."""
    from .cli import CommandError, UsageError
    from .inputs import unpack_input

    hdu = _parse_hdu(args.hdu)
    psf = None if args.psf is None else _read_psf(args.psf)
    settings = {'score_threshold': args.score_threshold,
                'mask_threshold': args.mask_threshold,
                'contained_fraction': args.contained_fraction,
                'core_probability': args.core_probability,
                'n_pixels': args.n_pixels,
                'min_snr': args.min_snr,
                'flux_dilation': args.flux_dilation,
                'tile_overlap': args.tile_overlap,
                'max_tile_snr': args.max_tile_snr,
                'batch_size': args.batch_size,
                'precision': args.precision,
                'spread_threshold': args.spread_threshold,
                'progress_bar': args.progress}
    settings = {key: value for key, value in settings.items()
                if value is not None or key == 'max_tile_snr'}
    single = [args.segmentation, args.catalog, args.plot]
    if args.outdir is None:
        if len(args.images) > 1:
            msg = ('several images need --outdir DIR (--segmentation, '
                   '--catalog and --plot name the outputs of one image)')
            raise UsageError(msg)
        if all(path is None for path in single):
            msg = ('nothing to write: give --segmentation and/or --catalog '
                   '(and --plot), or --outdir DIR')
            raise UsageError(msg)
        if args.plots or args.scheduler is not None:
            msg = '--plots and --scheduler go with --outdir'
            raise UsageError(msg)
        outputs = {'segmentation': args.segmentation,
                   'catalog': args.catalog, 'plot': args.plot}
        # Fail before the (slow) model loading when an output is in the
        # way or the image cannot be read.
        _check_outputs(outputs, args.overwrite)
        nddata = _read(args.images[0], hdu)
        # bad data (e.g. all NaN) or a PSF of other bands before the model
        unpack_input(nddata, psf=psf)
        deblender = _make_deblender(args.model, settings)
        n_sources = deblend_file(args.images[0], outputs, deblender,
                                 hdu=hdu, overwrite=args.overwrite,
                                 nddata=nddata, psf=psf)
        _report(args.images[0], n_sources, outputs)
        return 0

    if any(path is not None for path in single):
        msg = ('--segmentation, --catalog and --plot name the outputs of one '
               'image; with --outdir the names are made from the images')
        raise UsageError(msg)
    if args.workers < 1:
        msg = f'--workers must be an integer >= 1, got {args.workers}'
        raise UsageError(msg)
    jobs = _outdir_jobs(args.images, Path(args.outdir), args.plots)
    # Check the model and the settings once, before any image.
    deblender = _make_deblender(args.model, settings)
    if args.scheduler is not None or args.workers > 1:
        deblender = None  # each worker thread loads its own
    results = _run_dask(jobs, args.model, settings, hdu, args.overwrite,
                        args.scheduler, args.workers, deblender, psf)
    failed = 0
    for (image, outputs), (n_sources, error) in zip(jobs, results):
        if error is None:
            _report(image, n_sources, outputs)
        else:
            failed += 1
            print(f'galseg deblend: {image}: error: {error}',
                  file=sys.stderr)
    if failed:
        msg = f'{failed} of {len(jobs)} images failed'
        raise CommandError(msg)
    return 0


def _parse_hdu(hdu):
    if hdu is None:
        return None
    try:
        return int(hdu)
    except ValueError:
        return hdu


def _read(image, hdu):
    """Read a FITS image, reporting unreadable files as one line."""
    from .cli import CommandError
    from .inputs import read_fits_image

    try:
        return read_fits_image(image, hdu=hdu)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        msg = f'cannot read {image}: {exc}'
        raise CommandError(msg) from exc


def _read_psf(path):
    """Read a PSF image (the first HDU with an image, as
    `~galseg.inputs.read_fits_image` reads images), checked as the
    deblender checks it; errors name the ``--psf`` file."""
    import numpy as np

    from .inputs import read_fits_image
    from .star_galaxy import validate_psf

    try:
        data = np.asarray(read_fits_image(path).data)
        validate_psf(data, data.shape[0] if data.ndim == 3 else 1)
    except (TypeError, ValueError) as exc:
        msg = f'--psf {path}: {exc}'
        raise type(exc)(msg) from exc
    return data


def _check_outputs(outputs, overwrite):
    from .utils import check_writable

    for path in outputs.values():
        if path is not None:
            check_writable(path, overwrite)


def _make_deblender(model, settings):
    from .deblender import MaskRCNNDeblender

    return MaskRCNNDeblender(model, **settings)


def _report(image, n_sources, outputs):
    written = ', '.join(str(path) for path in outputs.values()
                        if path is not None)
    found = ('no sources found' if n_sources == 0
             else f'{n_sources} source{"s" if n_sources > 1 else ""}')
    print(f'{image}: {found} -> {written}')


def _outdir_jobs(images, outdir, plots):
    from .cli import CommandError

    jobs, names = [], {}
    for image in images:
        name = Path(image).name
        stem = name[:-len('.fits')] if name.lower().endswith('.fits') \
            else Path(image).stem
        if stem in names:
            msg = (f'{image} and {names[stem]} would write the same outputs '
                   f'in {outdir}')
            raise CommandError(msg)
        names[stem] = image
        outputs = {key: outdir / f'{stem}{suffix}'
                   for key, suffix in _SUFFIXES.items()}
        if not plots:
            outputs['plot'] = None
        jobs.append((image, outputs))
    return jobs


def _run_dask(jobs, model, settings, hdu, overwrite, scheduler, workers,
              deblender=None, psf=None):
    """
    Deblend every job through Dask; one result per job.

    ``deblender`` is shared by the tasks when given (one local worker).
    """
    import dask

    tasks = [dask.delayed(_deblend_task, pure=False)(
        image, outputs, model, settings, hdu, overwrite, deblender, psf)
        for image, outputs in jobs]
    if scheduler is None:
        return dask.compute(*tasks, scheduler='threads',
                            num_workers=workers)
    from distributed import Client

    with Client(scheduler) as client:
        return dask.compute(*tasks, scheduler=client)


# One deblender (one model in memory) per worker thread and settings.
_DEBLENDERS = threading.local()


def _deblend_task(image, outputs, model, settings, hdu, overwrite,
                  deblender=None, psf=None):
    """Deblend one file; return ``(n_sources, None)`` or ``(None, error)``."""
    try:
        if deblender is None:
            cache = _DEBLENDERS.__dict__.setdefault('cache', {})
            key = (str(model), tuple(sorted(settings.items())))
            if key not in cache:
                cache[key] = _make_deblender(model, settings)
            deblender = cache[key]
        return deblend_file(image, outputs, deblender, hdu=hdu,
                            overwrite=overwrite, psf=psf), None
    except Exception as exc:  # one bad file must not stop the others
        return None, f'{type(exc).__name__}: {exc}'


def deblend_file(image, outputs, deblender, hdu=None, overwrite=False,
                 nddata=None, psf=None):
    """
    Deblend one FITS image and write the requested outputs.

    Parameters
    ----------
    image : str or `~pathlib.Path`
        The FITS file.
    outputs : dict
        Paths (or `None`) for ``'segmentation'`` (FITS, with the image's
        WCS in its header), ``'catalog'`` (ECSV) and ``'plot'`` (PNG).
    deblender : `~galseg.MaskRCNNDeblender`
    hdu : int or str, optional
        The HDU of the image; by default the first with image data.
    overwrite : bool, optional
        Whether existing outputs may be replaced.
    nddata : `~astropy.nddata.NDData`, optional
        The image, when it was already read with
        `~galseg.inputs.read_fits_image`.
    psf : `~numpy.ndarray`, optional
        An image of the PSF (see `~galseg.MaskRCNNDeblender`): the
        catalog then classifies by ``spread_model``.

    Returns
    -------
    n_sources : int
        The number of sources found.

    Raises
    ------
    FileExistsError
        If an output exists and ``overwrite`` is `False` (checked
        before the image is deblended; nothing is written then).
    """
    from photutils.utils import NoDetectionsWarning

    from .inputs import read_fits_image

    _check_outputs(outputs, overwrite)
    if nddata is None:
        nddata = read_fits_image(image, hdu=hdu)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        result = deblender.deblend(nddata, psf=psf)
    shape = nddata.data.shape[-2:]
    if outputs.get('segmentation') is not None:
        _write_segmentation(outputs['segmentation'], result, shape,
                            nddata.wcs, deblender, overwrite)
    if outputs.get('catalog') is not None:
        _write_catalog(outputs['catalog'], result, nddata, overwrite, psf)
    if outputs.get('plot') is not None:
        _write_plot(outputs['plot'], result, image, overwrite)
    return 0 if result is None else result.n_sources


def _write_segmentation(path, result, shape, wcs, deblender, overwrite):
    import numpy as np
    from astropy.io import fits

    from . import __version__
    from .utils import atomic_output

    labels = (np.zeros(shape, dtype=np.int32) if result is None
              else result.segmentation_image.data.astype(np.int32))
    header = fits.Header() if wcs is None else wcs.to_header(relax=True)
    header['NSOURCES'] = (0 if result is None else result.n_sources,
                          'number of sources (labels 1..NSOURCES)')
    header['GALSEGV'] = (__version__, 'galseg version')
    header['MODEL'] = (str(deblender.model_path or 'MaskRCNN instance'),
                       'galseg model')
    header['SCORETHR'] = (deblender.score_threshold, 'score threshold')
    header['MASKTHR'] = (deblender.mask_threshold, 'mask threshold')
    header['MINSNR'] = (deblender.min_snr,
                        'least signal-to-noise ratio of a segment')
    header['CONTFRAC'] = (deblender.contained_fraction,
                          'covered fraction dropping a detection')
    header['COREPROB'] = (deblender.core_probability,
                          'mask probability at its centre dropping it')
    header['FLUXDIL'] = (deblender.flux_dilation,
                         'mask growth for deblended_flux [pixel]')
    with atomic_output(path, overwrite) as tmp:
        fits.PrimaryHDU(labels, header=header).writeto(tmp, overwrite=True)


def _write_catalog(path, result, nddata, overwrite, psf=None):
    from .catalog import empty_catalog
    from .inputs import unpack_input
    from .utils import atomic_output

    if result is None:  # the columns of a catalog with sources
        catalog = empty_catalog(unpack_input(nddata, psf=psf))
    else:
        catalog = result.catalog
    with atomic_output(path, overwrite) as tmp:
        catalog.write(tmp, format='ascii.ecsv', overwrite=True)


def _write_plot(path, result, image, overwrite):
    from matplotlib.figure import Figure

    from .utils import atomic_output

    figure = Figure(figsize=(7, 7))
    ax = figure.add_subplot()
    if result is None:
        ax.set_title(f'{Path(image).name}: no sources found')
    else:
        result.plot(ax=ax)
        ax.set_title(f'{Path(image).name}: {result.n_sources} sources')
    with atomic_output(path, overwrite) as tmp:
        figure.savefig(tmp, format='png', dpi=100)
