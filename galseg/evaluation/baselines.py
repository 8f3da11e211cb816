"""
Classical deblenders to compare galseg with: photutils and SEP.

Both run on the same detection image, the inverse-variance weighted
mean of the bands, and return what `galseg.evaluation.evaluate` needs of a
method: instance masks, a score per source and the flux of each source
in each band.  All the detection and deblending work is done by
photutils or SEP with their documented default settings; nothing here
is tuned to the galseg simulations.
"""

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ['Prediction', 'detection_image', 'photutils_deblend',
           'sep_deblend']

# photutils' own examples use a Gaussian kernel of FWHM 3 pixels.
_DEFAULT_KERNEL_FWHM = 3.0

# The smallest Kron aperture radius of the SEP documentation, pixels.
_SEP_MIN_RADIUS = 1.75


@dataclass
class Prediction:
    """
    What a deblending method found in one image, for the evaluation.

    Attributes
    ----------
    masks : `~numpy.ndarray` of bool
        ``(n, ny, nx)`` masks of the sources, as the method's users get
        them (its segmentation image, one mask per label).
    scores : `~numpy.ndarray`
        ``(n,)`` confidences; higher is more confident.
    fluxes : `~numpy.ndarray`, optional
        ``(n, n_bands)`` or ``(n,)``: the method's own best total flux
        (Kron fluxes for photutils and SEP, ``deblended_flux`` for
        galseg).
    segment_fluxes : `~numpy.ndarray`, optional
        The sums of the data in the masks, shaped like ``fluxes``.
    positions : `~numpy.ndarray`, optional
        ``(n, 2)`` ``(x, y)`` centroids of the sources.
    """

    masks: np.ndarray
    scores: np.ndarray
    fluxes: np.ndarray = None
    segment_fluxes: np.ndarray = None
    positions: np.ndarray = None


def _validate_image(image):
    image = np.asarray(image, dtype=float)
    if image.ndim == 2:
        image = image[np.newaxis]
    if image.ndim != 3:
        msg = (f'image must be a 2D or a 3D (n_bands, ny, nx) array; got '
               f'{image.ndim} dimension(s)')
        raise ValueError(msg)
    return image


def _validate_noise(noise, image):
    noise = np.asarray(noise, dtype=float)
    shape = noise.shape
    if noise.ndim == 1:
        noise = noise[:, np.newaxis, np.newaxis]
    try:
        noise = np.broadcast_to(noise, image.shape)
    except ValueError:
        msg = (f'noise of shape {shape} does not broadcast to the '
               f'image shape {image.shape}; give a scalar, one value per '
               'band or a noise image')
        raise ValueError(msg) from None
    if not np.all(noise > 0):
        msg = 'noise must be positive and finite everywhere'
        raise ValueError(msg)
    return noise


def detection_image(image, noise):
    """
    Combine the bands into one detection image and its noise.

    The detection image is the inverse-variance weighted mean of the
    bands, ``sum(image / noise**2) / sum(1 / noise**2)``, the optimal
    combination for a source with a flat spectrum, and its noise is
    ``1 / sqrt(sum(1 / noise**2))``.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The sky-subtracted image, of shape ``(n_bands, ny, nx)`` or
        ``(ny, nx)``.
    noise : float or `~numpy.ndarray`
        The noise standard deviation: a scalar, one value per band or an
        array that broadcasts to ``image``.

    Returns
    -------
    detection, detection_noise : `~numpy.ndarray`
        The detection image and its noise, both of shape ``(ny, nx)``.

    Raises
    ------
    ValueError
        If the image or the noise have invalid shapes or values.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.evaluation.baselines import detection_image
    >>> image = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)])
    >>> detection, noise = detection_image(image, noise=[1.0, 1.0])
    >>> float(detection[0, 0]), float(noise[0, 0])
    (2.0, 0.7071067811865475)
    """
    image = _validate_image(image)
    noise = _validate_noise(noise, image)
    weight = 1.0 / noise**2
    total_weight = weight.sum(axis=0)
    detection = (image * weight).sum(axis=0) / total_weight
    return detection, 1.0 / np.sqrt(total_weight)


def _instances(segment_data, labels, image, detection, detection_noise):
    # Masks, scores (segment signal-to-noise ratio on the detection
    # image) and per-band segment fluxes of the labelled segments.
    ny, nx = segment_data.shape
    n_bands = len(image)
    if len(labels) == 0:
        return (np.zeros((0, ny, nx), dtype=bool), np.zeros(0),
                np.zeros((0, n_bands)))
    index = np.zeros(segment_data.max() + 1, dtype=int)
    index[labels] = np.arange(1, len(labels) + 1)
    flat = index[segment_data].ravel()
    n = len(labels) + 1
    signal = np.bincount(flat, weights=detection.ravel(), minlength=n)[1:]
    variance = np.bincount(flat, weights=(detection_noise**2).ravel(),
                           minlength=n)[1:]
    scores = signal / np.sqrt(variance)
    fluxes = np.stack([np.bincount(flat, weights=band.ravel(),
                                   minlength=n)[1:] for band in image],
                      axis=1)
    masks = segment_data[np.newaxis] == np.asarray(labels)[:, None, None]
    return masks, scores, fluxes


def photutils_deblend(image, noise, *, psf_fwhm=None, n_sigma=1.5,
                      n_pixels=5, n_levels=32, contrast=0.001,
                      mode='exponential'):
    """
    Detect and deblend sources with the photutils default recipe.

    The recipe of the photutils segmentation documentation: the
    detection image (see `detection_image`) is convolved with a 2D
    Gaussian kernel (`~photutils.segmentation.make_2dgaussian_kernel`)
    of FWHM ``psf_fwhm`` (3 pixels if not given, as in the photutils
    examples) and size about 1.7 FWHM (5 pixels for a FWHM of 3), the
    sources are the groups of at least ``n_pixels`` connected pixels
    above ``n_sigma`` times the noise of the *unconvolved* detection
    image (`~photutils.segmentation.detect_sources`), and they are
    split by `~photutils.segmentation.deblend_sources` with its default
    ``n_levels=32``, ``contrast=0.001`` and ``mode='exponential'``.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The sky-subtracted image, of shape ``(n_bands, ny, nx)`` or
        ``(ny, nx)``.
    noise : float or `~numpy.ndarray`
        The noise standard deviation: a scalar, one value per band or an
        array that broadcasts to ``image``.
    psf_fwhm : float or `~numpy.ndarray`, optional
        The PSF FWHM in pixels (the mean is used if one value per band
        is given): the FWHM of the smoothing kernel.
    n_sigma : float, optional
        The detection threshold in units of the noise.  The photutils
        examples use 1.5 (times the background RMS) on the convolved
        image, which is what makes faint extended wings detectable
        without many noise peaks since smoothing lowers the noise.
    n_pixels : int, optional
        The minimum number of connected pixels of a source, for the
        detection and for each deblended component.  The photutils
        examples use 10; 5, the default ``minarea`` of SExtractor and
        SEP, keeps the two baselines comparable and suits the small
        faint sources of blend stamps.
    n_levels, contrast, mode
        Passed to `~photutils.segmentation.deblend_sources` (its
        defaults).

    Returns
    -------
    prediction : `Prediction`
        ``masks``: the segments, of shape ``(n, ny, nx)`` (they do not
        overlap); ``scores``: the signal-to-noise ratio of each segment
        on the (unconvolved) detection image (photutils has no
        confidence score; the segment S/N ranks the sources for the
        average precision, the brightest and most significant first);
        ``fluxes``: the Kron flux in each band, of shape ``(n,
        n_bands)``, as photutils users measure total fluxes
        (`~photutils.segmentation.SourceCatalog` of the detection image
        with the convolved image for the centroids and shapes, and its
        Kron apertures in each band); ``segment_fluxes``: the sum of
        each band within each segment (isophotal fluxes); ``positions``:
        the catalog centroids.

    Raises
    ------
    ValueError
        If the image or the noise have invalid shapes or values.
    """
    from astropy.convolution import convolve
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.segmentation import (deblend_sources, detect_sources,
                                        make_2dgaussian_kernel)
    from photutils.utils import NoDetectionsWarning

    image = _validate_image(image)
    detection, detection_noise = detection_image(image, noise)
    fwhm = (_DEFAULT_KERNEL_FWHM if psf_fwhm is None
            else float(np.mean(psf_fwhm)))
    if not fwhm > 0:
        msg = f'psf_fwhm must be positive; got {psf_fwhm}'
        raise ValueError(msg)
    size = 2 * int(np.ceil(fwhm / 1.5)) + 1
    kernel = make_2dgaussian_kernel(fwhm, size=size)
    convolved = convolve(detection, kernel)
    threshold = n_sigma * detection_noise
    with warnings.catch_warnings():
        # No source is a valid answer (zero instances), and a change of
        # the deblending mode to 'linear' for some sources is part of the
        # photutils recipe, not a problem of the input.
        warnings.simplefilter('ignore', NoDetectionsWarning)
        warnings.filterwarnings('ignore', 'The deblending mode',
                                AstropyUserWarning)
        segm = detect_sources(convolved, threshold, n_pixels)
        if segm is not None:
            segm = deblend_sources(convolved, segm, n_pixels,
                                   n_levels=n_levels, contrast=contrast,
                                   mode=mode, progress_bar=False)
    if segm is None:
        segment_data, labels = np.zeros(detection.shape, dtype=int), []
    else:
        segment_data, labels = segm.data, segm.labels
    masks, scores, segment_fluxes = _instances(
        segment_data, labels, image, detection, detection_noise)
    if segm is None:
        return Prediction(masks, scores, segment_fluxes, segment_fluxes,
                          np.zeros((0, 2)))
    from photutils.segmentation import SourceCatalog

    catalog = SourceCatalog(detection, segm, convolved_data=convolved)
    kron = np.stack([SourceCatalog(band, segm, detection_catalog=catalog)
                     .kron_flux for band in image], axis=1)
    positions = np.column_stack([catalog.x_centroid, catalog.y_centroid])
    return Prediction(masks, scores, np.asarray(kron, dtype=float),
                      segment_fluxes, positions)


def sep_deblend(image, noise, *, thresh=1.5, minarea=5, deblend_nthresh=32,
                deblend_cont=0.005):
    """
    Detect and deblend sources with SEP (SExtractor as a library).

    `sep.extract` runs on the detection image (see `detection_image`)
    with its own default filter (a 3x3 pyramid kernel), cleaning and
    deblending settings; ``thresh`` is relative to the noise of the
    detection image.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The sky-subtracted image, of shape ``(n_bands, ny, nx)`` or
        ``(ny, nx)``.
    noise : float or `~numpy.ndarray`
        The noise standard deviation: a scalar, one value per band or an
        array that broadcasts to ``image``.
    thresh : float, optional
        The detection threshold in units of the noise (the value of the
        SEP documentation examples).
    minarea, deblend_nthresh, deblend_cont
        Passed to `sep.extract` (its defaults).

    Returns
    -------
    prediction : `Prediction`
        As for `photutils_deblend`, with SEP's Kron fluxes (MAG_AUTO,
        the recipe of the SEP documentation: `sep.kron_radius` within 6
        times the isophotal ellipse, `sep.sum_ellipse` in 2.5 Kron
        radii, at least a circle of 1.75 pixels, the pixels of other
        objects masked as SExtractor does) and ``sep.extract``'s
        positions.

    Raises
    ------
    ImportError
        If SEP is not installed.
    ValueError
        If the image or the noise have invalid shapes or values.
    """
    try:
        import sep
    except ImportError:
        msg = ('sep_deblend needs the optional dependency sep; install it '
               'with "pip install sep"')
        raise ImportError(msg) from None

    image = _validate_image(image)
    detection, detection_noise = detection_image(image, noise)
    error = np.ascontiguousarray(detection_noise, dtype=np.float64)
    if np.all(error == error.flat[0]):
        error = float(error.flat[0])
    objects, segment_data = sep.extract(
        np.ascontiguousarray(detection, dtype=np.float64), thresh,
        err=error, minarea=minarea, deblend_nthresh=deblend_nthresh,
        deblend_cont=deblend_cont, segmentation_map=True)
    segment_data = np.asarray(segment_data, dtype=int)
    labels = np.arange(1, len(objects) + 1)
    masks, scores, segment_fluxes = _instances(
        segment_data, labels, image, detection, detection_noise)
    positions = np.column_stack([objects['x'], objects['y']]).reshape(-1, 2)
    kron = np.stack([_sep_kron_flux(np.ascontiguousarray(band), objects,
                                    segment_data) for band in image],
                    axis=1).reshape(len(objects), len(image))
    return Prediction(masks, scores, kron, segment_fluxes, positions)


def _sep_kron_flux(data, objects, segment_data):
    """SEP's Kron flux (MAG_AUTO): the recipe of the SEP documentation."""
    import sep

    if len(objects) == 0:
        return np.zeros(0)
    x, y = objects['x'], objects['y']
    a, b, theta = objects['a'], objects['b'], objects['theta']
    seg_id = np.arange(1, len(objects) + 1, dtype=np.int32)
    segmap = np.ascontiguousarray(segment_data, dtype=np.int32)
    # objects whose moments give no ellipse (a single bright pixel, a
    # flat or a NaN shape) get SExtractor's fallback below, as do those
    # whose Kron radius SEP cannot measure
    shaped = (np.isfinite(a) & np.isfinite(b) & np.isfinite(theta)
              & (a > 0) & (b > 0))
    kron_radius = np.zeros(len(objects))
    if shaped.any():
        kron_radius[shaped], _ = sep.kron_radius(
            data, x[shaped], y[shaped], a[shaped], b[shaped], theta[shaped],
            6.0, seg_id=seg_id[shaped], segmap=segmap)
    flux = np.zeros(len(objects))
    # the documentation's minimum: a circle of radius 1.75 pixels
    small = ~(shaped & np.isfinite(kron_radius)
              & (kron_radius * np.sqrt(np.where(shaped, a * b, 0))
                 >= _SEP_MIN_RADIUS))
    large = ~small
    if large.any():
        flux[large], _, _ = sep.sum_ellipse(
            data, x[large], y[large], a[large], b[large], theta[large],
            2.5 * kron_radius[large], subpix=1, seg_id=seg_id[large],
            segmap=segmap)
    if small.any():
        flux[small], _, _ = sep.sum_circle(
            data, x[small], y[small], _SEP_MIN_RADIUS, subpix=1,
            seg_id=seg_id[small], segmap=segmap)
    return flux
