"""
Star/galaxy separation with the point-spread function: SExtractor's
``SPREAD_MODEL``.

Given an image of the PSF, each source is compared with the PSF and
with a slightly broader model, the PSF convolved with an exponential
disk of scale length one sixteenth of the PSF FWHM (Desai et al. 2012,
ApJ 757, 83; Bertin's SExtractor).  With ``psi`` the data of the
source, ``phi`` the PSF and ``G`` the broader model, both centred on
the source, and ``W`` the inverse variance within the source's segment:

.. math::

    \\mathrm{spread\\_model} = \\frac{G^T W \\psi}{\\phi^T W \\psi}
        - \\frac{G^T W \\phi}{\\phi^T W \\phi}

It is about zero for a point source, whatever its flux, and positive
for a source broader than the PSF; its error follows from the data
errors by linear propagation (for white noise: correlated noise makes
the true error larger).  A source is a galaxy when its
``spread_model`` exceeds `SPREAD_THRESHOLD`, and a star otherwise; the
probability of that classification takes the error and, beyond it, the
scatter `SPREAD_SCATTER` of stars measured among neighbours.  The
deblender uses it for sources of ``segment_snr`` >= `MIN_SPREAD_SNR`
and keeps the network's class for fainter ones.

Each source is measured on its own segment of the data (its neighbours'
segments carry no weight), at its centroid, where the PSF image is
moved by cubic-spline interpolation: a PSF sampled below about 2 pixels
per FWHM moves less exactly, and a neighbour's light inside the
segment makes a star look broader.  On validation scenes of the
sky-like recipe, stars more than 3 PSF FWHM from any other source have
``spread_model`` within 0.0003 of 0 under ground-like PSFs and within
0.003 under space-like ones (1.5--2.5 pixels FWHM); all stars of
S/N >= 20 together have a median of 0.0004 and an 84th percentile of
0.0022, while a tenth of the galaxies, those much smaller than the PSF,
stay below 0.0022.

It needs the PSF right.  For a star of a Moffat profile (beta 3, FWHM
4 pixels), a PSF of that profile 5 or 10 percent narrower gives
``spread_model`` 0.0012 or 0.0025, 5 or 10 percent broader -0.0012 or
-0.0023, and a Gaussian PSF of the same FWHM 0.0032, about what a
galaxy of half-light radius a quarter of the FWHM gives (0.0035): with
a PSF too narrow or without its wings, stars become galaxies
(``benchmarks/psf_models.py``, which also shows that an effective PSF
built by photutils from the image's stars serves as well as the true
one).

The network classifies sources without knowing the PSF, so a compact
galaxy and a star look alike to it; the PSF removes that ambiguity
wherever the source is resolved (galaxies much smaller than the PSF
stay point sources to any method).
"""

import numpy as np

__all__ = ['SPREAD_THRESHOLD', 'SPREAD_SCATTER', 'MIN_SPREAD_SNR',
           'validate_psf', 'psf_fwhm', 'spread_models', 'classify_spread']

#: ``spread_model`` above which a source is a galaxy: the value that
#: classifies best the sources found at S/N >= 20 in 300 validation
#: scenes of the sky-like recipe (seed 212; see docs/comparison.rst).
SPREAD_THRESHOLD = 0.00175

#: the scatter of ``spread_model`` beyond the noise (neighbours' light,
#: the PSF moved to the centroid), added to the error in quadrature for
#: the probability of a classification: the value whose probabilities
#: are best calibrated on the same validation scenes (expected
#: calibration error 0.035).
SPREAD_SCATTER = 0.0015

#: the least ``segment_snr`` at which the deblender classifies a source
#: by ``spread_model``: fainter ones keep the network's class, which is
#: right more often there (chosen on the same validation scenes among
#: 0, 10, 20, 30, 50 and 100).
MIN_SPREAD_SNR = 30.0

# the broader model is the PSF convolved with an exponential of this
# scale length, in PSF FWHM (SExtractor's choice)
_SCALE_LENGTH_FWHM = 1.0 / 16.0


def validate_psf(psf, n_bands):
    """
    Check an image of the PSF and normalise it.

    Parameters
    ----------
    psf : array_like
        2-D ``(py, px)`` (or 3-D ``(1, py, px)``), the PSF of every
        band, or 3-D ``(n_bands, py, px)``, one per band; odd sides,
        its peak on the central pixel, at the pixel scale of the data
        (an oversampled PSF model, e.g. PSFEx's, must first be drawn on
        the data's pixels).
    n_bands : int
        The number of bands of the data.

    Returns
    -------
    psf : `~numpy.ndarray`
        float64 ``(n_bands, py, px)``, each band summing to 1.

    Raises
    ------
    TypeError
        If ``psf`` is not a real numeric array.
    ValueError
        If it is not 2-D or 3-D, has another number of bands, even
        sides or sides below 3 pixels, non-finite values, a band whose
        sum is not positive, or a band whose peak is not on its central
        pixel or next to it (an off-centre PSF would bias every
        ``spread_model``).
    """
    values = np.asarray(psf)
    if (values.dtype == object or values.dtype == bool
            or not np.issubdtype(values.dtype, np.number)
            or np.iscomplexobj(values)):
        msg = f'psf must be a real numeric array, got {values.dtype}'
        raise TypeError(msg)
    if values.ndim not in (2, 3):
        msg = ('psf must be 2-D (py, px) or 3-D (n_bands, py, px), got '
               f'{values.ndim}-D')
        raise ValueError(msg)
    values = np.array(values, dtype=float, ndmin=3)
    if values.shape[0] not in (1, n_bands):
        msg = (f'psf has {values.shape[0]} bands but the data have '
               f'{n_bands}')
        raise ValueError(msg)
    py, px = values.shape[1:]
    if py < 3 or px < 3 or py % 2 == 0 or px % 2 == 0:
        msg = ('psf must have odd sides of at least 3 pixels (centred on '
               f'its central pixel), got {py}x{px}')
        raise ValueError(msg)
    if not np.isfinite(values).all():
        msg = 'psf must be finite everywhere'
        raise ValueError(msg)
    sums = values.sum(axis=(1, 2))
    if not (sums > 0).all():
        msg = 'psf must have a positive sum in every band'
        raise ValueError(msg)
    for band, image in enumerate(values):
        peak_y, peak_x = np.unravel_index(np.argmax(image), image.shape)
        if abs(peak_y - py // 2) > 1 or abs(peak_x - px // 2) > 1:
            msg = ('psf must peak on its central pixel or next to it, got '
                   f'the peak at (y, x) = ({peak_y}, {peak_x}) in band '
                   f'{band}, centre ({py // 2}, {px // 2})')
            raise ValueError(msg)
    values = values / sums[:, None, None]
    return np.broadcast_to(values, (n_bands, py, px)).copy()


def psf_fwhm(psf):
    """
    The FWHM of a PSF image centred on its central pixel, in pixels
    (GalSim's `galsim.Image.calculateFWHM`).

    Parameters
    ----------
    psf : `~numpy.ndarray`
        2-D image of the PSF.

    Returns
    -------
    fwhm : float
    """
    import galsim

    return float(galsim.Image(np.ascontiguousarray(psf, dtype=float),
                              scale=1.0).calculateFWHM())


def _broader_model(psf):
    """The PSF convolved with an exponential of scale length 1/16 of its
    FWHM, on the grid of the PSF image and of its sum."""
    import galsim

    image = galsim.Image(np.ascontiguousarray(psf), scale=1.0)
    point = galsim.InterpolatedImage(image, normalization='flux')
    disk = galsim.Exponential(
        scale_radius=_SCALE_LENGTH_FWHM * psf_fwhm(psf))
    # the PSF image already includes the pixel: no second pixel
    broader = galsim.Convolve(point, disk).drawImage(
        nx=psf.shape[1], ny=psf.shape[0], scale=1.0, method='no_pixel')
    return broader.array / broader.array.sum() * psf.sum()


def _centred(model, x, y, shape):
    """A model image (centred on its central pixel) moved to ``(x, y)``,
    as the slices of the data it covers and the model there."""
    from scipy import ndimage

    half_y, half_x = model.shape[0] // 2, model.shape[1] // 2
    iy, ix = int(round(y)), int(round(x))
    moved = ndimage.shift(model, (y - iy, x - ix), order=3, mode='constant')
    y0, y1 = max(iy - half_y, 0), min(iy + half_y + 1, shape[0])
    x0, x1 = max(ix - half_x, 0), min(ix + half_x + 1, shape[1])
    if y0 >= y1 or x0 >= x1:
        return None, None
    cut = moved[y0 - iy + half_y:y1 - iy + half_y,
                x0 - ix + half_x:x1 - ix + half_x]
    return (slice(y0, y1), slice(x0, x1)), cut


def _spread_model(data, weight, point, broader):
    """``spread_model`` and its error of one source in one band (NaN
    where the source has no weighted pixel under the PSF or no flux)."""
    a = np.sum(broader * weight * data)
    b = np.sum(point * weight * data)
    norm = np.sum(point * weight * point)
    if not (b > 0 and norm > 0):
        return np.nan, np.nan
    spread = a / b - np.sum(broader * weight * point) / norm
    # d spread / d data = weight (broader / b - a point / b^2), and the
    # data variance is 1 / weight
    variance = np.sum(weight * (broader / b - a * point / b ** 2) ** 2)
    return spread, np.sqrt(variance)


def spread_models(data, variance, labels, centroids, psf):
    """
    ``spread_model`` and its error of every source.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)``, background-subtracted.
    variance : `~numpy.ndarray` or `None`
        The variance of each pixel, broadcastable to ``data``; `None`
        weighs every pixel alike and gives no errors (NaN).
    labels : `~numpy.ndarray`
        int ``(ny, nx)``: the segmentation, label ``i + 1`` for source
        ``i``; each source is measured on its own segment only (bad
        pixels carry no label).
    centroids : `~numpy.ndarray`
        ``(n_sources, 2)``: the ``(x, y)`` of each source.
    psf : `~numpy.ndarray`
        ``(n_bands, py, px)`` as `validate_psf` returns it.

    Returns
    -------
    spread, error : `~numpy.ndarray`
        ``(n_sources,)``: the inverse-variance weighted mean over the
        bands of each source's ``spread_model``, and its error (NaN
        where not measurable).
    """
    n_bands = data.shape[0]
    broader = [_broader_model(psf[band]) for band in range(n_bands)]
    finite = np.isfinite(data)
    data = np.where(finite, data, 0.0)
    if variance is None:
        inverse = finite.astype(float)
    else:
        variance = np.broadcast_to(variance, data.shape)
        inverse = np.where(finite & (variance > 0),
                           1.0 / np.where(variance > 0, variance, 1.0), 0.0)
    spread = np.full(len(centroids), np.nan)
    error = np.full(len(centroids), np.nan)
    for index, (x, y) in enumerate(centroids):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        values, errors = [], []
        for band in range(n_bands):
            slices, point = _centred(psf[band], x, y, data.shape[1:])
            if slices is None:
                continue
            _, wide = _centred(broader[band], x, y, data.shape[1:])
            weight = np.where(labels[slices] == index + 1,
                              inverse[band][slices], 0.0)
            value, value_error = _spread_model(data[band][slices], weight,
                                               point, wide)
            values.append(value)
            errors.append(value_error)
        spread[index], error[index] = _combine_bands(
            np.array(values), np.array(errors), variance is None)
    return spread, error


def _combine_bands(values, errors, unweighted):
    """The inverse-variance weighted mean of the bands' measurements."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.nan, np.nan
    if unweighted:
        return float(values[finite].mean()), np.nan
    good = finite & np.isfinite(errors) & (errors > 0)
    if not good.any():
        return float(values[finite].mean()), np.nan
    weights = 1.0 / errors[good] ** 2
    return (float(np.sum(weights * values[good]) / weights.sum()),
            float(1.0 / np.sqrt(weights.sum())))


def classify_spread(spread, error, threshold=SPREAD_THRESHOLD):
    """
    Stars and galaxies from ``spread_model``.

    Parameters
    ----------
    spread, error : `~numpy.ndarray`
        As `spread_models` returns them (a NaN error counts as 0).
    threshold : float, optional
        The ``spread_model`` above which a source is a galaxy.

    Returns
    -------
    is_star : `~numpy.ndarray`
        bool; `False` where ``spread`` is NaN.
    probability : `~numpy.ndarray`
        The probability of that classification, for a Gaussian error of
        the error and `SPREAD_SCATTER` in quadrature (NaN where
        ``spread`` is NaN).
    """
    from scipy.special import ndtr

    error = np.where(np.isfinite(error), error, 0.0)
    is_star = spread <= threshold
    scale = np.hypot(error, SPREAD_SCATTER)
    probability = ndtr(np.abs(spread - threshold) / scale)
    return is_star & np.isfinite(spread), np.where(
        np.isfinite(spread), probability, np.nan)
