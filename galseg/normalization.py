"""
The one normalisation that turns an image into network input.

Training (`galseg.train`) and inference (`galseg.MaskRCNNDeblender`)
both call `normalize_image`, so the network always sees data prepared in
exactly the same way.
"""

import numpy as np
from astropy.stats import sigma_clipped_stats

__all__ = ['estimate_background_noise', 'normalize_image',
           'ASINH_SOFTENING']

#: Signal-to-noise ratio at which the asinh stretch turns from linear to
#: logarithmic.  Faint wings stay linear; bright cores are compressed so
#: that galaxies over five decades of flux give similar input ranges.
ASINH_SOFTENING = 3.0

# Images larger than this (in either axis) get a spatially varying
# background from photutils Background2D instead of one global value.
_BACKGROUND2D_MIN_SIZE = 512
_BACKGROUND2D_BOX_SIZE = 128


def estimate_background_noise(image, mask=None):
    """
    Estimate the background level and the noise of each band.

    Small images (stamps) get one sigma-clipped median and standard
    deviation per band; large images get a spatially varying background
    and background RMS from `photutils.background.Background2D`.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The image, of shape ``(n_bands, ny, nx)``.
    mask : `~numpy.ndarray` of bool, optional
        Pixels to ignore, of shape ``(ny, nx)`` or ``(n_bands, ny, nx)``.
        Non-finite pixels are always ignored.

    Returns
    -------
    background, noise : `~numpy.ndarray`
        Arrays that broadcast against ``image``: of shape
        ``(n_bands, 1, 1)`` for stamps or ``(n_bands, ny, nx)`` for large
        images.  The noise is always positive.

    Raises
    ------
    ValueError
        If a band has no unmasked finite pixel.
    """
    image = np.asarray(image, dtype=float)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.broadcast_to(np.asarray(mask, dtype=bool), image.shape)
    large = max(image.shape[1:]) >= _BACKGROUND2D_MIN_SIZE
    backgrounds, noises = [], []
    for band, (plane, bad_plane) in enumerate(zip(image, bad)):
        if bad_plane.all():
            msg = f'band {band} has no unmasked finite pixels'
            raise ValueError(msg)
        if large:
            background, noise = _background2d(plane, bad_plane)
        else:
            _, background, noise = sigma_clipped_stats(plane, mask=bad_plane,
                                                       sigma=3.0, maxiters=10)
            background = np.full((1, 1), background)
            noise = np.full((1, 1), noise)
        backgrounds.append(background)
        noises.append(_positive_noise(noise, plane, bad_plane))
    return np.stack(backgrounds), np.stack(noises)


def _background2d(plane, bad_plane):
    from photutils.background import Background2D, MedianBackground

    box_size = min(_BACKGROUND2D_BOX_SIZE, *plane.shape)
    bkg = Background2D(plane, box_size, mask=bad_plane, filter_size=3,
                       bkg_estimator=MedianBackground(),
                       exclude_percentile=50.0)
    return bkg.background, bkg.background_rms


def _positive_noise(noise, plane, bad_plane):
    """Replace zero or non-finite noise by a robust positive floor."""
    noise = np.asarray(noise, dtype=float)
    floor = np.std(plane[~bad_plane])
    if not np.isfinite(floor) or floor <= 0:
        floor = max(np.max(np.abs(plane[~bad_plane])), 1.0) * 1e-6
    return np.where(np.isfinite(noise) & (noise > 0), noise, floor)


def normalize_image(image, mask=None, background=None, noise=None):
    """
    Turn an image into the network's input.

    The background is subtracted, the result divided by the noise (so
    the pixels are in units of signal-to-noise ratio, which makes the
    output independent of the flux scale of the data), stretched with
    ``arcsinh(snr / ASINH_SOFTENING)``, and masked or non-finite pixels
    are set to zero.

    Parameters
    ----------
    image : `~numpy.ndarray`
        The image, of shape ``(n_bands, ny, nx)``.
    mask : `~numpy.ndarray` of bool, optional
        Pixels to ignore, of shape ``(ny, nx)`` or ``(n_bands, ny, nx)``.
    background, noise : float or `~numpy.ndarray`, optional
        The background level and the 1-sigma noise, broadcastable to
        ``image`` (a scalar, one value per band of shape
        ``(n_bands, 1, 1)``, or full arrays).  Whatever is not given is
        estimated with `estimate_background_noise`.

    Returns
    -------
    normalized : `~numpy.ndarray`
        The network input, float32 of shape ``(ny, nx, n_bands)``
        (channels last, as Keras expects).

    Examples
    --------
    >>> import numpy as np
    >>> from galseg import normalize_image
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(100.0, 5.0, size=(1, 64, 64))
    >>> normalize_image(image).shape
    (64, 64, 1)
    >>> np.allclose(normalize_image(image), normalize_image(7.0 * image),
    ...             atol=1e-5)
    True
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 3:
        msg = ('image must be 3-D with shape (n_bands, ny, nx), got '
               f'{image.ndim}-D')
        raise ValueError(msg)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.broadcast_to(np.asarray(mask, dtype=bool), image.shape)
    if background is None or noise is None:
        est_background, est_noise = estimate_background_noise(image, bad)
        background = est_background if background is None else background
        noise = est_noise if noise is None else noise
    noise = np.asarray(noise, dtype=float)
    if np.any(~np.isfinite(noise)) or np.any(noise <= 0):
        msg = 'noise must be finite and positive everywhere'
        raise ValueError(msg)
    with np.errstate(invalid='ignore'):
        snr = (image - background) / noise
        normalized = np.arcsinh(snr / ASINH_SOFTENING)
    normalized[bad] = 0.0
    return np.moveaxis(normalized, 0, -1).astype(np.float32)
