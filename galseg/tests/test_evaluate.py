"""Tests of galseg.evaluation.evaluate and galseg.evaluation.plots."""

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from astropy.table import Table
from numpy.testing import assert_allclose, assert_array_equal, assert_equal

from galseg.evaluation.evaluate import (EvaluationResult, default_methods,
                                        evaluate, galseg_predictor,
                                        match_catalog, photutils_predictor,
                                        scene_truth,
                                        sep_predictor, write_evaluation)
from galseg.evaluation.plots import plot_gallery, plot_separation_curves

SIZE = 48
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@dataclass
class FakeScene:
    """The fields of `galseg.simulate.Scene` that evaluation uses."""

    image: np.ndarray
    noiseless: np.ndarray
    isolated: np.ndarray
    footprints: np.ndarray
    noise_sigma: np.ndarray
    psf_fwhm: np.ndarray
    pixel_scale: float
    catalog: Table


def make_scene(rng, positions, fluxes, sigma=2.0, noise=1.0):
    """Two-band scene of round Gaussian sources (sigma in pixels)."""
    y, x = np.mgrid[:SIZE, :SIZE]
    sed = np.array([1.0, 0.8])
    isolated = np.stack([
        flux * sed[:, None, None]
        * np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * sigma**2))
        / (2 * np.pi * sigma**2)
        for (x0, y0), flux in zip(positions, fluxes)]).astype(np.float32)
    noiseless = isolated.sum(axis=0)
    image = (noiseless + rng.normal(0, noise, noiseless.shape)).astype(
        np.float32)
    footprints = isolated.sum(axis=1) > noise
    catalog = Table()
    catalog['x'] = [p[0] for p in positions]
    catalog['y'] = [p[1] for p in positions]
    catalog['flux'] = np.asarray(fluxes)[:, None] * sed
    catalog['has_footprint'] = footprints.any(axis=(1, 2))
    return FakeScene(image=image, noiseless=noiseless, isolated=isolated,
                     footprints=footprints,
                     noise_sigma=np.full(2, noise, np.float32),
                     psf_fwhm=np.full(2, 2.3548 * sigma, np.float32),
                     pixel_scale=0.2, catalog=catalog)


@pytest.fixture(scope='module')
def scenes():
    rng = np.random.default_rng(42)
    return [
        # Two well-separated sources.
        make_scene(rng, [(12.0, 24.0), (36.0, 24.0)], [1500.0, 1200.0]),
        # A close pair, 8 px = 1.7 FWHM apart.
        make_scene(rng, [(20.0, 24.0), (28.0, 24.0)], [2000.0, 1500.0]),
        # One source, and one too faint to have a footprint.
        make_scene(rng, [(24.0, 24.0), (10.0, 10.0)], [1500.0, 1e-3]),
    ]


def oracle(scene):
    """Predict the true footprints and fluxes exactly."""
    keep = np.asarray(scene.catalog['has_footprint'])
    masks = scene.footprints[keep]
    scores = np.linspace(1, 0.5, len(masks))
    return masks, scores, np.asarray(scene.catalog['flux'])[keep]


def nothing(scene):
    """Never predict anything."""
    return np.zeros((0, *scene.image.shape[1:]), bool), np.zeros(0), None


def test_scene_truth(scenes):
    truth = scene_truth(scenes[2])
    assert truth['masks'].shape == (1, SIZE, SIZE)
    assert_equal(truth['positions'], [[24.0, 24.0]])
    assert_allclose(truth['fluxes'], [[1500.0, 1200.0]])
    assert_allclose(truth['psf_fwhm'], 2.3548 * 2.0, rtol=1e-6)
    # without a half_light_radius column, matching uses the PSF FWHM only
    assert truth['half_light_radii'] is None
    # the source too faint for a footprint is kept apart, to be ignored
    assert_equal(truth['ignored_positions'], [[10.0, 10.0]])
    scene = scenes[2]
    catalog = scene.catalog.copy()
    catalog['half_light_radius'] = np.full(len(catalog), 0.6)  # arcsec
    truth = scene_truth(dataclasses.replace(scene, catalog=catalog))
    assert_allclose(truth['half_light_radii'], [0.6 / 0.2])
    assert_allclose(truth['ignored_half_light_radii'], [0.6 / 0.2])


def test_match_catalog():
    # a large galaxy (half-light radius 8 px) whose centroid is 5 px off,
    # beside a star, under a 2 px PSF; the third source is a fragment
    truth = {'positions': np.array([[20.0, 20.0], [40.0, 20.0]]),
             'psf_fwhm': 2.0, 'half_light_radii': np.array([8.0, 0.0])}
    catalog = Table({'x_centroid': [25.0, 40.5, 44.0],
                     'y_centroid': [20.0, 20.0, 20.0]})
    assert_array_equal(match_catalog(catalog, [0.9, 0.8, 0.7], truth),
                       [0, 1, -1])
    # without radii, one PSF FWHM: the galaxy is missed
    truth['half_light_radii'] = None
    assert_array_equal(match_catalog(catalog, [0.9, 0.8, 0.7], truth),
                       [-1, 1, -1])
    # a faint galaxy without a footprint at (44, 21): the third source
    # found it, neither true nor false
    truth['ignored_positions'] = np.array([[44.0, 21.0]])
    truth['ignored_half_light_radii'] = None
    assert_array_equal(match_catalog(catalog, [0.9, 0.8, 0.7], truth),
                       [-1, 1, -2])


def test_evaluate_table(scenes):
    methods = {'oracle': oracle, 'nothing': nothing,
               'photutils': photutils_predictor()}
    result = evaluate(scenes, methods)
    assert isinstance(result, EvaluationResult)
    table = result.table
    assert list(table['method']) == ['oracle', 'nothing', 'photutils']
    for name in ('AP', 'AP50', 'AP75', 'precision', 'recall', 'F1',
                 'median_flux_error', 'blend_recovery', 'recovery_1.5-2',
                 'AP_1.5-2', 'n_images', 'n_true', 'n_pred',
                 'time_per_image'):
        assert name in table.colnames, name
    assert table['time_per_image'].unit == 's'
    assert_equal(table['n_images'], [3, 3, 3])
    # The faint source without a footprint is not a true source.
    assert_equal(table['n_true'], [5, 5, 5])
    assert table.meta['separation_bins'] == [0, 0.5, 1, 1.5, 2, 3, 5]
    # Only the close pair is within 5 FWHM, in the bin 1.5-2 FWHM.
    assert table.meta['n_pairs_per_bin'] == [0, 0, 0, 1, 0, 0]

    oracle_row, nothing_row, photutils_row = table
    for name in ('AP', 'AP50', 'AP75', 'precision', 'recall', 'F1',
                 'blend_recovery', 'recovery_1.5-2', 'AP_1.5-2'):
        assert oracle_row[name] == 1.0, name
    assert oracle_row['median_flux_error'] == 0.0
    assert np.isnan(oracle_row['recovery_0-0.5'])

    # Scenes without predictions count: every source is missed.
    assert nothing_row['AP'] == 0.0
    assert nothing_row['recall'] == 0.0
    assert nothing_row['F1'] == 0.0
    assert nothing_row['n_pred'] == 0
    assert np.isnan(nothing_row['median_flux_error'])

    # photutils finds and deblends these bright, simple sources.
    assert photutils_row['n_pred'] == 5
    assert photutils_row['recall'] == 1.0
    assert photutils_row['AP50'] == 1.0
    assert 0 < photutils_row['median_flux_error'] < 0.3

    assert_equal(result.pair_recovery['oracle'],
                 [np.nan, np.nan, np.nan, 1, np.nan, np.nan])
    assert set(result.ap_vs_separation) == set(methods)
    assert result.methods == list(methods)
    assert result.summaries['oracle']['n_true_positive'] == 5


def test_evaluate_ignores_detections_of_sources_without_footprint(scenes):
    # a method that finds the galaxy too faint for a footprint as well:
    # at the detection level it is neither right nor wrong
    def oracle_and_faint(scene):
        masks, scores, fluxes = oracle(scene)
        if not scene.catalog['has_footprint'].all():
            faint = np.zeros((1, SIZE, SIZE), bool)
            faint[0, 9:12, 9:12] = True
            masks = np.concatenate([masks, faint])
            scores = np.append(scores, 0.1)
            fluxes = np.concatenate([fluxes, fluxes[:1]])
        return masks, scores, fluxes

    result = evaluate(scenes, {'oracle': oracle,
                               'oracle_and_faint': oracle_and_faint})
    oracle_row, faint_row = result.table
    for name in ('det_precision', 'det_recall'):
        assert oracle_row[name] == faint_row[name] == 1.0, name
    assert faint_row['over_count'] == faint_row['spurious'] == 0.0
    assert result.summaries['oracle_and_faint']['n_ignored'] == 1
    # the mask-level scores still count it as a false positive
    assert faint_row['n_pred'] == 6 and faint_row['precision'] < 1.0


def test_evaluate_sep(scenes):
    pytest.importorskip('sep')
    result = evaluate(scenes, {'sep': sep_predictor()})
    assert result.table['recall'][0] == 1.0


def test_evaluate_max_scenes_and_dataset_like(scenes):
    class Dataset:
        def __len__(self):
            return len(scenes)

        def __getitem__(self, index):
            return scenes[index]

    result = evaluate(Dataset(), {'oracle': oracle}, max_scenes=2,
                      progress=True)
    assert result.table['n_images'][0] == 2
    assert result.table['n_true'][0] == 4


def test_evaluate_plots(scenes, tmp_path):
    result = evaluate(scenes, {'oracle': oracle, 'nothing': nothing},
                      plots_dir=tmp_path, n_gallery=2)
    for name in ('separation.png', 'gallery.png'):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
    # Blended scenes first, in dataset order.
    assert [example['index'] for example in result.examples] == [0, 1]
    assert set(result.examples[0]['predictions']) == {'oracle', 'nothing'}
    assert list(tmp_path.glob('*.tmp')) == []

    def fail(scene):
        raise AssertionError('evaluation should not start')

    with pytest.raises(FileExistsError, match='separation.png already '
                       'exists'):
        evaluate(scenes, {'fail': fail}, plots_dir=tmp_path)
    evaluate(scenes[:1], {'oracle': oracle}, plots_dir=tmp_path,
             overwrite=True)


def test_plot_functions(scenes, tmp_path):
    result = evaluate(scenes, {'oracle': oracle}, plots_dir=None)
    figure = plot_separation_curves(result)
    assert len(figure.axes) == 2
    path = tmp_path / 'curves.png'
    plot_separation_curves(result, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    examples = [{'image': scenes[1].image, 'truth': scenes[1].footprints,
                 'predictions': {'a': scenes[1].footprints[:1]}}]
    figure = plot_gallery(examples, tmp_path / 'gallery.png')
    assert len(figure.axes) == 3
    with pytest.raises(ValueError, match='examples must contain at least '
                       'one scene'):
        plot_gallery([])


def test_write_evaluation(scenes, tmp_path):
    result = evaluate(scenes, {'oracle': oracle, 'nothing': nothing})
    path = tmp_path / 'evaluation.ecsv'
    result.write(path)
    table = Table.read(path, format='ascii.ecsv')
    assert list(table['method']) == ['oracle', 'nothing']
    assert_allclose(table['AP'], result.table['AP'])
    assert table.meta['separation_bins'] == [0, 0.5, 1, 1.5, 2, 3, 5]
    assert table['time_per_image'].unit == 's'
    with pytest.raises(FileExistsError):
        write_evaluation(result, path)
    text = tmp_path / 'evaluation.txt'
    write_evaluation(result.table, text)
    lines = text.read_text().splitlines()
    assert lines[0].split()[:3] == ['method', 'AP', 'AP50']
    assert lines[2].split()[0] == 'oracle'


class FakeDeblendResult:
    """Instance masks as given; each pixel's label is its first mask."""

    def __init__(self, masks, scores, fluxes):
        from photutils.segmentation import SegmentationImage

        self._masks = masks
        self.scores = scores
        self.labels = np.arange(1, len(masks) + 1)
        first = np.argmax(masks, axis=0) + 1
        self.segmentation_image = SegmentationImage(
            np.where(masks.any(axis=0), first, 0))
        yy, xx = np.indices(masks.shape[1:])
        self.catalog = Table({
            'deblended_flux': fluxes,
            'x_centroid': [xx[mask].mean() for mask in masks],
            'y_centroid': [yy[mask].mean() for mask in masks]})

    def instance_masks(self):
        return self._masks


class FakeDeblender:
    """Returns the true footprints, or None with a NoDetectionsWarning."""

    def __init__(self, find=True):
        self.find = find
        self.errors = []
        self.backgrounds = []

    def deblend(self, image, error=None, background=None):
        from photutils.utils import NoDetectionsWarning

        self.errors.append(error)
        self.backgrounds.append(background)
        if not self.find:
            warnings.warn('No sources were found.', NoDetectionsWarning)
            return None
        masks, scores, fluxes = oracle(self._scene)
        return FakeDeblendResult(masks, scores, fluxes)


def test_galseg_predictor(scenes):
    deblender = FakeDeblender()
    predict = galseg_predictor(deblender)
    deblender._scene = scenes[0]
    found = predict(scenes[0])
    assert found.masks.shape == (2, SIZE, SIZE)
    assert_allclose(found.fluxes, scenes[0].catalog['flux'])
    # the segments, as users get them, do not overlap
    assert not np.any(found.masks.sum(axis=0) > 1)
    assert_allclose(found.segment_fluxes[:, 0],
                    [scenes[0].image[0][mask].sum() for mask in found.masks],
                    rtol=1e-6)
    assert found.positions.shape == (2, 2)
    instances = galseg_predictor(deblender, masks='instances')(scenes[0])
    assert_array_equal(instances.masks, oracle(scenes[0])[0])
    assert deblender.errors[0].shape == scenes[0].image.shape
    assert_allclose(deblender.errors[0], 1.0)
    assert deblender.backgrounds[0] == 0.0

    # No detection: zero instances and no warning (warnings are errors).
    predict = galseg_predictor(FakeDeblender(find=False))
    found = predict(scenes[0])
    assert found.masks.shape == (0, SIZE, SIZE)
    assert found.scores.shape == (0,)
    result = evaluate(scenes, {'galseg': predict})
    assert result.table['recall'][0] == 0.0

    with pytest.raises(TypeError, match='deblender must have a deblend'):
        galseg_predictor(object())
    with pytest.raises(ValueError, match="masks must be 'segments' or "
                       "'instances'; got 'all'"):
        galseg_predictor(deblender, masks='all')


def test_default_methods():
    methods = default_methods()
    assert 'photutils' in methods
    assert 'galseg' not in methods
    methods = default_methods(FakeDeblender())
    assert list(methods)[0] == 'galseg'
    assert 'galseg (instance masks)' not in methods
    methods = default_methods(FakeDeblender(), instance_masks=True)
    assert list(methods)[-1] == 'galseg (instance masks)'


def test_evaluate_validation(scenes):
    with pytest.raises(TypeError, match='methods must be a non-empty '
                       'mapping'):
        evaluate(scenes, {})
    with pytest.raises(TypeError, match="the predictor of method 'x' is "
                       "not callable"):
        evaluate(scenes, {'x': 1})
    with pytest.raises(ValueError, match='max_scenes must be an integer '
                       '>= 1, got 0'):
        evaluate(scenes, {'oracle': oracle}, max_scenes=0)

    def not_a_tuple(scene):
        return scene.footprints

    with pytest.raises(TypeError, match="the predictor of method 'bad' "
                       "must return"):
        evaluate(scenes, {'bad': not_a_tuple})

    def wrong_shape(scene):
        return np.zeros((1, 8, 8), bool), np.ones(1), None

    with pytest.raises(ValueError, match=r"method 'bad', scene 0: "
                       r'true_masks have image shape'):
        evaluate(scenes, {'bad': wrong_shape})


def test_sep_predictor_without_sep(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, 'sep', None)
    with pytest.raises(ImportError, match='the sep method needs the '
                       'optional dependency sep'):
        sep_predictor()
    assert 'sep' not in default_methods()


def test_evaluate_gallery_size(scenes):
    result = evaluate(scenes, {'oracle': oracle}, n_gallery=0)
    assert result.examples == []
    result = evaluate(scenes, {'oracle': oracle})
    # Two blended scenes, then the single-source one.
    assert [example['index'] for example in result.examples] == [0, 1, 2]
    with pytest.raises(ValueError, match='n_gallery must be a non-negative '
                       'integer; got -1'):
        evaluate(scenes, {'oracle': oracle}, n_gallery=-1)


def test_comparison_tables(scenes):
    from galseg.evaluation import comparison_tables

    result = evaluate(scenes, {'oracle': oracle, 'nothing': nothing})
    markdown = comparison_tables(result)
    lines = markdown.splitlines()
    assert lines[0].startswith('| method | AP50 | precision | recall | '
                               'over-count |')
    assert lines[2].startswith('| oracle | 1.000 | 1.000 | 1.000 | 0.000 |')
    assert '| oracle | position |' in markdown
    assert 'sources all found' in markdown
    rst = comparison_tables(result, fmt='rst')
    assert rst.splitlines()[0].startswith('=====')
    assert 'oracle' in rst and 'nothing' in rst
    with pytest.raises(ValueError, match="fmt must be 'markdown' or 'rst'; "
                       "got 'html'"):
        comparison_tables(result, fmt='html')
