"""The noise of simulated images: `add_noise`, one path for the simulator
and for the fresh noise of training."""

import numpy as np

__all__ = ['add_noise']


def add_noise(noiseless, noise_sigma, rng, source_noise=True):
    """
    Add the noise of a sky-subtracted image in electrons.

    The noise is Gaussian with, in each pixel, the sky's variance
    ``noise_sigma ** 2`` plus, with ``source_noise``, the sources'
    Poisson variance (the noiseless counts, where positive; the Gaussian
    approximation of Poisson noise).  `~galseg.simulate.simulate_scene`
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
    sky = np.asarray(noise_sigma, dtype=np.float64) ** 2
    variance = np.broadcast_to(sky[:, None, None], noiseless.shape)
    if source_noise:
        variance = variance + np.clip(noiseless, 0, None)
    noise = rng.standard_normal(noiseless.shape) * np.sqrt(variance)
    return (noiseless + noise).astype(np.float32)
