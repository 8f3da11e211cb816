"""The noise of simulated images: `add_noise`, one path for the simulator
and for the fresh noise of training."""

import numpy as np

__all__ = ['add_noise']


def _correlated_normal(shape, rng, correlation):
    """Standard normal noise of unit variance per pixel, smoothed by a
    round Gaussian kernel of ``correlation`` pixels (sigma) in the two
    image axes, as resampling smooths the noise of a coadd."""
    from scipy.ndimage import gaussian_filter

    white = rng.standard_normal(shape)
    if correlation <= 0:
        return white
    sigma = (0,) * (len(shape) - 2) + (correlation, correlation)
    smooth = gaussian_filter(white, sigma, mode='wrap')
    # the kernel's own norm, so that each pixel keeps unit variance
    delta = np.zeros((8 * int(np.ceil(correlation)) + 9,) * 2)
    delta[delta.shape[0] // 2, delta.shape[1] // 2] = 1.0
    kernel = gaussian_filter(delta, correlation, mode='constant')
    return smooth / np.sqrt(np.sum(kernel**2))


def add_noise(noiseless, noise_sigma, rng, source_noise=True,
              correlation=0.0):
    """
    Add the noise of a sky-subtracted image in electrons.

    The noise is Gaussian with, in each pixel, the sky's variance
    ``noise_sigma ** 2`` plus, with ``source_noise``, the sources'
    Poisson variance (the noiseless counts, where positive; the Gaussian
    approximation of Poisson noise).  With ``correlation`` > 0 the noise
    of neighbouring pixels is correlated as in a resampled coadd: white
    noise smoothed by a round Gaussian kernel of that sigma (pixels) and
    rescaled so that every pixel keeps the variance above.  `~galseg.simulate.simulate_scene`
    makes its images with it, and the training pipeline its fresh noise
    realisations, so the network trains on the simulator's noise model.

    Parameters
    ----------
    noiseless : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` noiseless image, electrons.
    noise_sigma : array_like
        ``(n_bands,)`` sky noise of each band, electrons.
    rng : `numpy.random.Generator`
        The random generator.
    source_noise : bool, optional
        Whether the sources' Poisson noise is added.
    correlation : float, optional
        The sigma (pixels) of the Gaussian kernel that correlates the
        noise; 0 (the default) gives white noise.

    Returns
    -------
    image : `~numpy.ndarray`
        float32 noisy image of the shape of ``noiseless``.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.simulate import add_noise
    >>> noiseless = np.zeros((1, 200, 200), np.float32)
    >>> noiseless[0, :100] = 300.0
    >>> image = add_noise(noiseless, [4.0], np.random.default_rng(1))
    >>> # variance: sky 4**2 plus the source's 300 counts where it is
    >>> ratios = [image[0, :100].var() / (16 + 300), image[0, 100:].var() / 16]
    >>> print(np.round(ratios, 1))
    [1. 1.]
    """
    noiseless = np.asarray(noiseless)
    if isinstance(correlation, bool) or not isinstance(
            correlation, (int, float, np.integer, np.floating)):
        msg = f'correlation must be a number, got {correlation!r}'
        raise TypeError(msg)
    correlation = float(correlation)
    if not np.isfinite(correlation) or correlation < 0:
        msg = f'correlation must be finite and >= 0, got {correlation}'
        raise ValueError(msg)
    sky = np.asarray(noise_sigma, dtype=np.float64) ** 2
    variance = np.broadcast_to(sky[:, None, None], noiseless.shape)
    if source_noise:
        variance = variance + np.clip(noiseless, 0, None)
    noise = (_correlated_normal(noiseless.shape, rng, correlation)
             * np.sqrt(variance))
    return (noiseless + noise).astype(np.float32)
