"""Tests of the photutils and SEP baselines on analytic scenes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from galseg.evaluation.baselines import (detection_image, photutils_deblend,
                                         sep_deblend)

try:
    import sep  # noqa: F401
except ImportError:
    HAS_SEP = False
else:
    HAS_SEP = True

needs_sep = pytest.mark.skipif(not HAS_SEP, reason='sep is not installed')
BOTH = [photutils_deblend, pytest.param(sep_deblend, marks=needs_sep)]

SIZE = 64
PSF_FWHM = 4.7  # pixels; a Gaussian of sigma 2


def gaussian(x0, y0, flux, sigma=2.0, size=SIZE):
    y, x = np.mgrid[:size, :size]
    return (flux / (2 * np.pi * sigma**2)
            * np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * sigma**2)))


def two_blobs(separation, seed=0, noise=1.0):
    """A two-band image of two Gaussian sources along x, with noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = SIZE / 2 - separation / 2, SIZE / 2 + separation / 2
    sources = [gaussian(x1, SIZE / 2, 2000.0), gaussian(x2, SIZE / 2, 1500.0)]
    noiseless = np.stack([sources[0] + sources[1],
                          0.8 * (sources[0] + sources[1])])
    image = noiseless + rng.normal(0, noise, noiseless.shape)
    return image, [(x1, SIZE / 2), (x2, SIZE / 2)]


def assert_one_source_per_mask(masks, positions):
    # Each true centre lies in exactly one mask, and each mask holds one.
    hits = np.array([[mask[int(round(y)), int(round(x))]
                      for x, y in positions] for mask in masks])
    assert np.all(hits.sum(axis=0) == 1)
    assert np.all(hits.sum(axis=1) == 1)


def test_detection_image_is_inverse_variance_mean():
    image = np.stack([np.full((3, 3), 2.0), np.full((3, 3), 8.0)])
    detection, noise = detection_image(image, [1.0, 2.0])
    # Weights 1 and 1/4: (2 + 8/4) / 1.25.
    assert_allclose(detection, 3.2)
    assert_allclose(noise, 1 / np.sqrt(1.25))
    with pytest.raises(ValueError, match='noise must be positive'):
        detection_image(image, [1.0, 0.0])
    with pytest.raises(ValueError, match=r'noise of shape \(3,\) does not '
                       r'broadcast to the image shape \(2, 3, 3\)'):
        detection_image(image, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match='image must be a 2D or a 3D'):
        detection_image(np.zeros(5), 1.0)


@pytest.mark.parametrize('deblend', BOTH)
def test_two_separated_sources(deblend):
    image, positions = two_blobs(separation=30)
    kwargs = {'psf_fwhm': PSF_FWHM} if deblend is photutils_deblend else {}
    found = deblend(image, [1.0, 1.0], **kwargs)
    masks, scores, fluxes = found.masks, found.scores, found.segment_fluxes
    assert masks.shape == (2, SIZE, SIZE)
    assert masks.dtype == bool
    assert not np.any(masks[0] & masks[1])
    assert_one_source_per_mask(masks, positions)
    assert fluxes.shape == found.fluxes.shape == (2, 2)
    assert scores.shape == (2,)
    # The brighter source has the higher S/N and flux, and the segment
    # (isophotal) fluxes hold most of the light: 2000 and 1500 in band 1,
    # 0.8 times that in band 2.
    bright = np.argmax(fluxes[:, 0])
    assert masks[bright][int(SIZE / 2), int(round(positions[0][0]))]
    assert scores[bright] == scores.max()
    assert_allclose(np.sort(fluxes[:, 0]), [1500, 2000], rtol=0.15)
    assert_allclose(fluxes[:, 1] / fluxes[:, 0], 0.8, atol=0.05)
    # Kron fluxes
    assert_allclose(np.sort(found.fluxes[:, 0]), [1500, 2000], rtol=0.05)
    # the catalog positions are the sources'
    order = np.argsort(found.positions[:, 0])
    assert_allclose(found.positions[order], positions, atol=0.5)


def test_photutils_deblends_close_pair():
    # 8 px (1.7 FWHM) apart: one connected segment, split by
    # deblend_sources.
    image, positions = two_blobs(separation=8)
    masks = photutils_deblend(image, [1.0, 1.0], psf_fwhm=PSF_FWHM,
                              contrast=1.0).masks  # no deblending
    assert len(masks) == 1
    masks = photutils_deblend(image, [1.0, 1.0], psf_fwhm=PSF_FWHM).masks
    assert len(masks) == 2
    assert_one_source_per_mask(masks, positions)


@needs_sep
def test_sep_deblends_close_pair():
    image, positions = two_blobs(separation=8)
    masks = sep_deblend(image, [1.0, 1.0], deblend_cont=1.0).masks
    assert len(masks) == 1
    masks = sep_deblend(image, [1.0, 1.0]).masks
    assert len(masks) == 2
    assert_one_source_per_mask(masks, positions)


@needs_sep
def test_sep_kron_flux_of_objects_without_an_ellipse():
    """Objects whose moments give no ellipse (SEP returns zero or NaN
    axes for some) get SExtractor's fallback circle of 1.75 px instead
    of an error from sep.sum_ellipse."""
    from galseg.evaluation.baselines import _sep_kron_flux

    image, _ = two_blobs(separation=20)
    data = np.ascontiguousarray(image[0])
    objects, segmap = sep.extract(data, 3.0, err=1.0,
                                  segmentation_map=True)
    assert len(objects) == 2
    fluxes = _sep_kron_flux(data, objects, segmap)
    broken = objects.copy()
    broken['b'][0], broken['theta'][1] = 0.0, np.nan
    fallback = _sep_kron_flux(data, broken, segmap)
    circle, _, _ = sep.sum_circle(
        data, objects['x'], objects['y'], 1.75, subpix=1,
        seg_id=np.arange(1, 3, dtype=np.int32),
        segmap=np.ascontiguousarray(segmap, dtype=np.int32))
    assert_allclose(fallback, circle)
    assert np.all(fluxes > 1.5 * circle)


@pytest.mark.parametrize('deblend', BOTH)
def test_empty_image_gives_no_sources(deblend):
    image = np.random.default_rng(1).normal(0, 1, (2, 32, 32)) * 1e-3
    found = deblend(image, 1.0)
    assert found.masks.shape == (0, 32, 32)
    assert found.scores.shape == (0,)
    assert found.fluxes.shape == found.segment_fluxes.shape == (0, 2)
    assert found.positions.shape == (0, 2)


def test_single_band_and_noise_image():
    image, positions = two_blobs(separation=30)
    noise = np.ones(image.shape[1:])
    found = photutils_deblend(image[0], noise)
    masks, fluxes = found.masks, found.fluxes
    assert len(masks) == 2
    assert fluxes.shape == (2, 1)
    assert_one_source_per_mask(masks, positions)


def test_photutils_deblend_validation():
    image, _ = two_blobs(separation=30)
    with pytest.raises(ValueError, match='psf_fwhm must be positive'):
        photutils_deblend(image, 1.0, psf_fwhm=0.0)


def test_sep_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, 'sep', None)
    with pytest.raises(ImportError, match='sep_deblend needs the optional '
                       'dependency sep'):
        sep_deblend(np.zeros((1, 8, 8)), 1.0)
