"""Tests of galseg.star_galaxy: spread_model with a PSF, and the catalog
columns it gives."""

from types import SimpleNamespace

import numpy as np
import pytest
from astropy.nddata import NDData
from astropy.utils.exceptions import AstropyUserWarning
from numpy.testing import assert_allclose, assert_array_equal

from galseg import MaskRCNNDeblender
from galseg.catalog import build_result
from galseg.star_galaxy import (MIN_SPREAD_SNR, SPREAD_THRESHOLD,
                                classify_spread, psf_fwhm, spread_models,
                                validate_psf)
from galseg.tiling import Detection

galsim = pytest.importorskip('galsim')

#: a ground-like PSF, 4 px FWHM
PSF = galsim.Moffat(beta=3.0, fwhm=4.0)


def psf_image(size=31):
    return PSF.drawImage(nx=size, ny=size, scale=1.0).array.astype(float)


def draw(shape, sources, noise, seed=0):
    """Stars (``hlr`` 0) and exponential galaxies, convolved with the
    PSF, on white noise: sources are ``(x, y, flux, hlr)``, 0-based."""
    image = galsim.ImageD(shape[1], shape[0], scale=1.0)
    for x, y, flux, hlr in sources:
        profile = PSF if hlr == 0 else galsim.Convolve(
            galsim.Exponential(half_light_radius=hlr), PSF)
        profile.withFlux(flux).drawImage(
            image=image, center=(x + 1, y + 1), add_to_image=True)
    rng = np.random.default_rng(seed)
    return image.array + rng.normal(0.0, noise, shape)


def labels_around(shape, centroids, radius):
    yy, xx = np.indices(shape)
    labels = np.zeros(shape, dtype=int)
    for index, (x, y) in enumerate(centroids):
        labels[np.hypot(xx - x, yy - y) <= radius] = index + 1
    return labels


@pytest.mark.parametrize('psf, error, match', [
    ('psf', TypeError, 'psf must be a real numeric array'),
    (np.ones(5), ValueError, r'psf must be 2-D \(py, px\) or 3-D'),
    (np.ones((2, 2, 5, 5, 1)), ValueError, 'got 5-D'),
    (np.ones((4, 5)), ValueError,
     'psf must have odd sides of at least 3 pixels .* got 4x5'),
    (np.ones((1, 1)), ValueError, 'got 1x1'),
    (np.full((5, 5), np.nan), ValueError, 'psf must be finite'),
    (np.zeros((5, 5)), ValueError, 'psf must have a positive sum'),
    (np.ones((3, 5, 5)), ValueError,
     'psf has 3 bands but the data have 2'),
    (np.ones((5, 5), dtype=bool), TypeError,
     'psf must be a real numeric array, got bool'),
    (np.eye(7)[::-1] + np.pad([[5.0]], ((0, 6), (0, 6))), ValueError,
     r'psf must peak on its central pixel or next to it, got the peak at '
     r'\(y, x\) = \(0, 0\) in band 0'),
])
def test_bad_psf(psf, error, match):
    with pytest.raises(error, match=match):
        validate_psf(psf, 2)


def test_centred_moves_the_psf_to_the_source():
    from galseg.star_galaxy import _centred

    psf = validate_psf(psf_image(), 1)[0]
    for x, y in [(20.3, 12.6), (3.8, 30.2), (0.0, 0.0)]:
        slices, moved = _centred(psf, x, y, (40, 40))
        yy, xx = np.indices((40, 40))
        full = np.zeros((40, 40))
        full[slices] = moved
        if 5 < x < 35 and 5 < y < 35:  # whole: the centroid is the source's
            assert_allclose([(full * xx).sum() / full.sum(),
                             (full * yy).sum() / full.sum()], [x, y],
                            atol=0.01)
        assert np.unravel_index(full.argmax(), full.shape) == (
            int(round(y)), int(round(x)))
    assert _centred(psf, 100.0, 100.0, (40, 40)) == (None, None)


def test_psf_is_normalised_per_band():
    psf = validate_psf(3.0 * psf_image(), 2)
    assert psf.shape == (2, 31, 31)
    assert_allclose(psf.sum(axis=(1, 2)), 1.0)
    two = np.stack([psf_image(), 5 * psf_image()])
    assert_allclose(validate_psf(two, 2), psf)
    assert_allclose(psf_fwhm(psf[0]), 4.0, rtol=0.1)


def test_spread_model_tells_stars_from_galaxies():
    # a star and a galaxy at half the PSF FWHM, well apart, at S/N ~ 200,
    # at sub-pixel positions
    sources = [(20.3, 22.6, 2e4, 0.0), (60.7, 44.2, 2e4, 2.0),
               (24.5, 60.5, 2e5, 0.0)]
    image = draw((80, 80), sources, noise=10.0)
    centroids = np.array([(x, y) for x, y, _, _ in sources])
    labels = labels_around(image.shape, centroids, radius=9)
    spread, error = spread_models(image[None], np.full((1,) + image.shape,
                                                       100.0),
                                  labels, centroids,
                                  validate_psf(psf_image(), 1))
    # stars: zero within their errors, whatever the flux
    assert abs(spread[0]) < 3 * error[0] + 2e-4
    assert abs(spread[2]) < 3 * error[2] + 2e-4
    assert spread[1] > 0.005 and spread[1] > 10 * error[1]
    # errors shrink with the flux
    assert error[2] < error[0] / 5
    is_star, probability = classify_spread(spread, error)
    assert_array_equal(is_star, [True, False, True])
    assert np.all((probability > 0.5) & (probability <= 1))
    # the error scatters as measured: 40 noise draws of the star
    draws = [spread_models(
        draw((80, 80), sources[:1], 10.0, seed)[None],
        np.full((1, 80, 80), 100.0), labels, centroids[:1],
        validate_psf(psf_image(), 1))[0][0] for seed in range(40)]
    assert_allclose(np.std(draws), error[0], rtol=0.35)


def test_spread_model_without_errors_or_outside_the_image():
    image = draw((40, 40), [(20.0, 20.0, 1e4, 0.0)], noise=1.0)
    centroids = np.array([(20.0, 20.0), (np.nan, 5.0), (300.0, 300.0)])
    labels = labels_around(image.shape, centroids[:1], radius=8)
    spread, error = spread_models(image[None], None, labels, centroids,
                                  validate_psf(psf_image(), 1))
    assert abs(spread[0]) < 1e-3 and np.isnan(error[0])
    assert np.isnan(spread[1:]).all() and np.isnan(error[1:]).all()
    is_star, probability = classify_spread(spread, error)
    assert_array_equal(is_star, [True, False, False])
    assert np.isnan(probability[1:]).all()


def test_multiband_spread_model_weights_the_bands():
    # a galaxy in two bands, the second with its own noise draw and ten
    # times the noise: the bands combine by inverse variance
    sources = [(24.2, 23.7, 5e4, 1.5)]
    data = np.stack([draw((48, 48), sources, noise=5.0, seed=1),
                     draw((48, 48), sources, noise=50.0, seed=2)])
    variance = np.stack([np.full((48, 48), 25.0),
                         np.full((48, 48), 2500.0)])
    centroids = np.array([(24.2, 23.7)])
    labels = labels_around((48, 48), centroids, radius=9)
    psf = validate_psf(psf_image(), 2)
    spread, error = spread_models(data, variance, labels, centroids, psf)
    bands = [spread_models(data[b:b + 1], variance[b:b + 1], labels,
                           centroids, psf[b:b + 1]) for b in range(2)]
    values = np.array([value[0] for value, _ in bands])
    errors = np.array([value_error[0] for _, value_error in bands])
    assert errors[1] > 5 * errors[0]
    weights = 1 / errors ** 2
    assert_allclose(spread, np.sum(weights * values) / weights.sum())
    assert_allclose(error, 1 / np.sqrt(weights.sum()))
    assert spread[0] > 0.005


def test_catalog_classifies_by_spread_model_with_a_psf():
    # given detections (the network says galaxy for both): with a PSF,
    # the star becomes a star; without, the network's classes stay
    sources = [(16.4, 16.2, 3e4, 0.0), (44.6, 42.3, 3e4, 2.5)]
    image = draw((60, 60), sources, noise=5.0)
    detections = []
    for x, y, _, _ in sources:
        y0, x0 = int(y) - 8, int(x) - 8
        yy, xx = np.indices((17, 17))
        mask = (np.hypot(yy + y0 - y, xx + x0 - x) <= 7).astype(np.float32)
        detections.append(Detection(
            box=np.array([y0, x0, y0 + 17, x0 + 17], dtype=float),
            score=0.95, class_id=1, mask=mask, class_score=0.8,
            bbox=(y0, x0, y0 + 17, x0 + 17)))

    def inputs(psf):
        return SimpleNamespace(
            data=image[None], bad=np.zeros((1, 60, 60), bool),
            error=np.full((1, 60, 60), 5.0), background=None, wcs=None,
            unit=None, psf=psf)

    plain = build_result(detections, inputs(None), 0.0, 0.5, 0, 5)
    assert 'spread_model' not in plain.catalog.colnames
    assert_array_equal(plain.catalog['classification'], ['galaxy'] * 2)
    assert_allclose(plain.catalog['class_score'], 0.8)

    result = build_result(detections, inputs(validate_psf(psf_image(), 1)),
                          0.0, 0.5, 0, 5)
    catalog = result.catalog
    assert_array_equal(catalog['classification'], ['star', 'galaxy'])
    assert_array_equal(result.classes, [2, 1])
    assert catalog['spread_model'][0] < SPREAD_THRESHOLD
    assert catalog['spread_model'][1] > 0.005
    assert np.all(catalog['spread_model_err'] > 0)
    assert np.all(catalog['class_score'] > 0.5)
    assert 'spread_model' in catalog['spread_model'].info.description.lower()
    # a higher threshold calls more sources stars
    loose = build_result(detections, inputs(validate_psf(psf_image(), 1)),
                         0.0, 0.5, 0, 5, spread_threshold=1.0)
    assert_array_equal(loose.catalog['classification'], ['star', 'star'])


def test_network_class_where_spread_model_is_not_measured():
    from galseg.catalog import _psf_classes

    # measured; not measured; measured; too faint to trust; S/N unknown
    spread = (np.array([0.0, np.nan, 0.02, 0.02, 0.0]),
              np.array([1e-4, np.nan, 1e-4, 1e-3, 1e-4]))
    snr = np.array([100.0, 100.0, 100.0, MIN_SPREAD_SNR - 1, np.nan])
    class_id, class_score = _psf_classes(
        np.array([1, 2, 2, 2, 1]), np.array([0.7, 0.9, 0.6, 0.8, 0.6]),
        spread, snr, SPREAD_THRESHOLD)
    assert_array_equal(class_id, [2, 2, 1, 2, 2])
    assert class_score[1] == 0.9 and class_score[3] == 0.8
    assert class_score[0] > 0.8 and class_score[2] > 0.99


def test_deblender_takes_the_psf(tiny_model_dir):
    deblender = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5)
    image = draw((64, 64), [(20.0, 20.0, 3e3, 0.0), (46.0, 44.0, 3e3, 2.0)],
                 noise=1.0)
    psf = psf_image(15)
    _, catalog = deblender(image, psf=psf)
    assert catalog is not None
    assert {'spread_model', 'spread_model_err'} <= set(catalog.colnames)
    # an NDData gives its psf
    _, from_nddata = deblender(NDData(image, psf=psf))
    assert_allclose(from_nddata['spread_model'], catalog['spread_model'])
    _, without = deblender(image)
    assert 'spread_model' not in without.colnames
    # the NDData's own psf wins over the keyword, with a warning
    with pytest.warns(AstropyUserWarning, match="The 'psf' keyword will "
                      'be ignored'):
        _, both = deblender(NDData(image, psf=psf), psf=np.ones((3, 3)))
    assert_allclose(both['spread_model'], catalog['spread_model'])
    with pytest.raises(ValueError, match='psf must have odd sides'):
        deblender(image, psf=np.ones((4, 4)))
    with pytest.raises(ValueError, match='psf has 2 bands but the data '
                       'have 1'):
        deblender(image, psf=np.ones((2, 5, 5)))
    with pytest.raises(ValueError, match='spread_threshold must be >= 0'):
        MaskRCNNDeblender(tiny_model_dir, spread_threshold=-0.1)
