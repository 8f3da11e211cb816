"""Tests for galseg.deblender: MaskRCNNDeblender from input to catalog."""

import shutil
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData, StdDevUncertainty
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS
from numpy.testing import assert_allclose, assert_array_equal
from photutils.segmentation import SegmentationImage, SourceCatalog
from photutils.utils import NoDetectionsWarning

import galseg.models
from galseg import CrowdedTilesWarning, DeblendResult, MaskRCNNDeblender
from galseg.catalog import build_result
from galseg.tiling import Detection, make_tiles

DEFAULT_COLUMNS = ['label', 'x_centroid', 'y_centroid', 'bbox_xmin',
                   'bbox_xmax', 'bbox_ymin', 'bbox_ymax', 'area',
                   'semimajor_axis', 'semiminor_axis', 'orientation',
                   'eccentricity', 'min_value', 'max_value', 'segment_flux',
                   'kron_flux']
GALSEG_COLUMNS = ['score', 'classification', 'class_score', 'segment_snr',
                  'deblended_flux', 'parent', 'n_children', 'nn_dist',
                  'flags']


def make_image(shape, sources, seed=0, noise=1.0):
    """Round Gaussian blobs (y, x, sigma, amplitude) on Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = rng.normal(0.0, noise, shape)
    for y, x, sigma, amplitude in sources:
        image += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                                    / (2 * sigma ** 2))
    return image


def make_wcs(shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    return wcs


#: a blend of three blobs in a stamp
BLEND = [(30.0, 28.0, 2.5, 60.0), (34.0, 36.0, 2.0, 40.0),
         (20.0, 40.0, 2.0, 80.0)]
#: two isolated blobs
PAIR = [(20.0, 20.0, 2.5, 60.0), (44.0, 46.0, 2.0, 50.0)]


@pytest.fixture(scope='module')
def deblender(tiny_model_dir):
    return MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5)


@pytest.fixture(scope='module')
def pair_image():
    return make_image((64, 64), PAIR, seed=1)


# --- settings and models ----------------------------------------------------

@pytest.mark.parametrize('kwargs, error, match', [
    ({'score_threshold': 1.5}, ValueError,
     r'score_threshold must be in \[0, 1\], got 1.5'),
    ({'score_threshold': '0.5'}, TypeError,
     "score_threshold must be a number, got '0.5'"),
    ({'mask_threshold': 0.0}, ValueError,
     r'mask_threshold must be in \(0, 1\), got 0.0'),
    ({'mask_threshold': 1.0}, ValueError, r'mask_threshold must be in'),
    ({'duplicate_iou': 0}, ValueError,
     r'duplicate_iou must be in \(0, 1\], got 0.0'),
    ({'contained_fraction': 0}, ValueError,
     r'contained_fraction must be in \(0, 1\], got 0.0'),
    ({'contained_fraction': 1.5}, ValueError,
     r'contained_fraction must be in \(0, 1\], got 1.5'),
    ({'contained_fraction': '0.9'}, TypeError,
     'contained_fraction must be a number'),
    ({'core_probability': -0.1}, ValueError,
     r'core_probability must be in \[0, 1\], got -0.1'),
    ({'core_probability': 1.5}, ValueError,
     r'core_probability must be in \[0, 1\], got 1.5'),
    ({'core_probability': '0.7'}, TypeError,
     'core_probability must be a number'),
    ({'n_pixels': 0}, ValueError,
     'n_pixels must be an integer >= 1, got 0'),
    ({'n_pixels': 2.5}, TypeError, 'n_pixels must be an integer, got 2.5'),
    ({'min_snr': -1}, ValueError, 'min_snr must be >= 0, got -1.0'),
    ({'min_snr': np.nan}, ValueError, 'min_snr must be finite'),
    ({'min_snr': '5'}, TypeError, "min_snr must be a number, got '5'"),
    ({'batch_size': 0}, ValueError,
     'batch_size must be an integer >= 1, got 0'),
    ({'batch_size': 2.0}, TypeError, 'batch_size must be an integer'),
    ({'tile_size': True}, TypeError, 'tile_size must be an integer'),
    ({'tile_overlap': -3}, ValueError, 'tile_overlap must be an integer >= 0, got -3'),
    ({'flux_dilation': -1}, ValueError, 'flux_dilation must be an integer >= 0, got -1'),
    ({'flux_dilation': 2.5}, TypeError,
     'flux_dilation must be an integer, got 2.5'),
    ({'progress_bar': 'yes'}, TypeError,
     'progress_bar must be True or False'),
    ({'precision': 'float16'}, ValueError,
     "precision must be one of float32, bfloat16; got 'float16'"),
    ({'spread_threshold': -0.001}, ValueError,
     'spread_threshold must be >= 0'),
    ({'spread_threshold': '0.003'}, TypeError,
     'spread_threshold must be a number'),
    ({'max_tile_snr': 0.5}, ValueError, 'max_tile_snr must be >= 1'),
    ({'max_tile_snr': float('inf')}, ValueError,
     'max_tile_snr must be finite'),
    ({'max_tile_snr': '1000'}, TypeError, 'max_tile_snr must be a number'),
])
def test_settings_are_validated_before_the_model(kwargs, error, match):
    with pytest.raises(error, match=match):
        MaskRCNNDeblender('no/such/model', **kwargs)


def test_default_model_not_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(galseg.models.PRESETS, 'default',
                        tmp_path / 'default')
    with pytest.raises(FileNotFoundError,
                       match='no default model is installed'):
        MaskRCNNDeblender()


def test_default_model_when_installed(tmp_path, monkeypatch, tiny_model_dir):
    shutil.copytree(tiny_model_dir, tmp_path / 'default')
    monkeypatch.setitem(galseg.models.PRESETS, 'default',
                        tmp_path / 'default')
    deblender = MaskRCNNDeblender()
    assert deblender.model_path == 'default'
    assert "model='default'" in repr(deblender)


def test_bfloat16_network_finds_the_same_sources(deblender, tiny_model_dir,
                                                 pair_image):
    import keras

    fast = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5,
                             precision='bfloat16')
    assert fast.model.backbone.dtype_policy.name == 'mixed_bfloat16'
    # the policy was set for that model only
    assert keras.config.dtype_policy().name == 'float32'
    assert deblender.model.backbone.dtype_policy.name == 'float32'
    segm, catalog = deblender(pair_image)
    fast_segm, fast_catalog = fast(pair_image)
    assert fast_segm.n_labels == segm.n_labels
    assert_allclose(fast_catalog['score'], catalog['score'], atol=0.02)
    assert_allclose(fast_catalog['x_centroid'], catalog['x_centroid'],
                    atol=0.1)
    assert fast_catalog['score'].dtype == catalog['score'].dtype
    with pytest.raises(ValueError, match='precision applies to the models '
                       'galseg loads'):
        MaskRCNNDeblender(deblender.model, precision='bfloat16')


def test_model_forms(tmp_path, tiny_model_dir):
    run = tmp_path / 'run'
    shutil.copytree(tiny_model_dir, run / 'model')
    from_run = MaskRCNNDeblender(run)
    assert from_run.model_path == run
    instance = MaskRCNNDeblender(from_run.model)
    assert instance.model is from_run.model
    assert instance.model_path is None
    assert 'MaskRCNN instance' in repr(instance)


def test_bad_models(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='model directory .*nothing does not exist'):
        MaskRCNNDeblender(tmp_path / 'nothing')
    with pytest.raises(FileNotFoundError, match='is neither a model '
                       'directory .* nor a training-run directory'):
        MaskRCNNDeblender(tmp_path)
    with pytest.raises(TypeError, match="model must be 'default', the path"):
        MaskRCNNDeblender(3)


def test_tile_settings_checked_against_the_model(tiny_model_dir):
    with pytest.raises(ValueError, match=r'tile_size must equal the model '
                       r'input size \(64\), got 128'):
        MaskRCNNDeblender(tiny_model_dir, tile_size=128)
    with pytest.raises(ValueError, match=r'tile_overlap must be smaller than'
                       r' tile_size \(64\), got 64'):
        MaskRCNNDeblender(tiny_model_dir, tile_overlap=64)


def test_repr_lists_settings(deblender, tiny_model_dir):
    assert repr(deblender) == (
        f"MaskRCNNDeblender(model='{tiny_model_dir}', n_bands=1, "
        'score_threshold=0.5, mask_threshold=0.5, duplicate_iou=0.6, '
        'contained_fraction=0.95, core_probability=0.0, n_pixels=5, '
        'min_snr=5.0, '
        'flux_dilation=3, '
        'tile_size=64, tile_overlap=16, max_tile_snr=1000.0, batch_size=8, '
        "precision='float32', spread_threshold=0.00175, "
        'progress_bar=False)')


@pytest.mark.parametrize('max_tile_snr', [None, 300.0])
def test_tiles_are_shown_at_most_max_tile_snr_deep(tiny_model_dir,
                                                   monkeypatch,
                                                   max_tile_snr):
    """Every tile goes to the network through normalized_tile with the
    deblender's max_tile_snr, and None grows no segment."""
    import galseg.catalog
    import galseg.deblender

    seen, grown = [], []
    normalized_tile = galseg.deblender.normalized_tile
    grow = galseg.catalog.grow_bright_segments

    def recording_tile(data, bad, tile, max_snr=None):
        seen.append(max_snr)
        return normalized_tile(data, bad, tile, max_snr)

    def recording_grow(*args):
        grown.append(args[-1])
        return grow(*args)

    monkeypatch.setattr(galseg.deblender, 'normalized_tile', recording_tile)
    monkeypatch.setattr(galseg.catalog, 'grow_bright_segments',
                        recording_grow)
    deblender = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.0,
                                  min_snr=0, max_tile_snr=max_tile_snr)
    image = np.random.default_rng(0).normal(size=(100, 100))
    image[40:60, 40:60] += 1e5
    deblender.deblend(image)
    assert seen and set(seen) == {max_tile_snr}
    if max_tile_snr is None:
        assert grown == []
    else:
        assert grown and set(grown) == {300.0}


# --- end to end with the tiny model ---------------------------------------

def test_finds_sources_in_a_stamp(deblender, pair_image):
    segm, catalog = deblender(pair_image)
    assert isinstance(segm, SegmentationImage)
    assert isinstance(catalog, QTable)
    assert segm.shape == pair_image.shape
    assert segm.n_labels == 2
    assert segm.is_consecutive and segm.labels[0] == 1
    assert_array_equal(catalog['label'], [1, 2])
    assert catalog.colnames == DEFAULT_COLUMNS + GALSEG_COLUMNS
    found = sorted(zip(catalog['y_centroid'], catalog['x_centroid']))
    assert_allclose(found, [(20, 20), (44, 46)], atol=0.5)
    assert np.all((catalog['score'] > 0.5) & (catalog['score'] <= 1))
    assert np.all(np.diff(catalog['score']) <= 0)
    # the fixture's model knows one class: galaxies, for sure
    assert list(catalog['classification']) == ['galaxy', 'galaxy']
    assert_allclose(catalog['class_score'], 1.0)
    # isolated sources: no blend, all their flux is their own, and the
    # Kron flux is a total flux (within the noise of ~1%)
    assert_array_equal(catalog['n_children'], [1, 1])
    assert len(set(catalog['parent'])) == 2
    order = np.argsort(catalog['y_centroid'])
    true_flux = [2 * np.pi * s ** 2 * a for _, _, s, a in PAIR]
    assert_allclose(catalog['deblended_flux'][order], true_flux, rtol=0.02)
    assert_allclose(catalog['deblended_flux'], catalog['kron_flux'],
                    rtol=1e-6)


def test_deblend_result(deblender, pair_image):
    result = deblender.deblend(pair_image, background=0)
    kron_apertures = SourceCatalog(
        pair_image, result.segmentation_image).kron_aperture
    assert isinstance(result, DeblendResult)
    assert result.n_sources == len(result.catalog) == 2
    assert result.scores.dtype == np.float32
    assert_allclose(result.scores, result.catalog['score'])
    assert_array_equal(result.classes, [1, 1])
    assert result.boxes.shape == (2, 4)
    masks = result.instance_masks()
    assert masks.shape == (2, 64, 64) and masks.dtype == bool
    for index, (bbox, cutout, image, image_bbox) in enumerate(zip(
            result.bboxes, result.mask_cutouts, result.deblended_images,
            result.deblended_bboxes)):
        label = index + 1
        assert cutout.shape == bbox.shape
        assert image.shape == (1,) + image_bbox.shape
        # the deblended image covers the mask grown by 3 pixels
        assert image_bbox.ixmin <= max(bbox.ixmin - 3, 0)
        assert image_bbox.iymax >= min(bbox.iymax + 3, 64)
        # each segment lies in its instance mask
        assert np.all(masks[index][result.segmentation_image.data == label])
        # the total flux is the deblended image's flux in the Kron
        # aperture of the source
        aperture = kron_apertures[index]
        flux = aperture.do_photometry(result.deblended_image(label)[0])[0]
        assert_allclose(result.catalog['deblended_flux'][index], flux[0],
                        rtol=1e-6)
        assert_allclose(result.deblended_image(label)[0][
                            image_bbox.iymin:image_bbox.iymax,
                            image_bbox.ixmin:image_bbox.ixmax],
                        image[0])


def test_blend_deblended_fluxes_add_up(deblender):
    image = make_image((64, 64), BLEND, seed=2)
    result = deblender.deblend(image, background=0)
    catalog = result.catalog
    # the three blobs (the tiny test model may add a fragment)
    assert len(result) >= 3
    parents = np.asarray(catalog['parent'])
    # which sources touch depends on the trained masks; whatever the
    # grouping, n_children counts each group
    for parent in np.unique(parents):
        members = parents == parent
        assert np.all(catalog['n_children'][members] == members.sum())
    assert catalog['n_children'].max() >= 2
    # the shares of a pixel add up to one: where the boxes of all the
    # deblended images overlap, the deblended images add up to the data
    images = np.array([result.deblended_image(label)[0]
                       for label in result.labels])
    in_all = np.ones(image.shape, dtype=bool)
    for bbox in result.deblended_bboxes:
        in_box = np.zeros(image.shape, dtype=bool)
        in_box[bbox.iymin:bbox.iymax, bbox.ixmin:bbox.ixmax] = True
        in_all &= in_box
    assert in_all.sum() > 20
    assert_allclose(images.sum(axis=0)[in_all], image[in_all], rtol=1e-5)
    # the flux of a blend is split, not given wholly to one source
    assert not np.allclose(catalog['deblended_flux'],
                           catalog['segment_flux'])
    true_total = sum(2 * np.pi * s ** 2 * a for _, _, s, a in BLEND)
    assert_allclose(catalog['deblended_flux'].sum(), true_total, rtol=0.1)


def test_parents_separate_blends(deblender):
    sources = [(20.0, 20.0, 2.0, 60.0), (26.0, 27.0, 2.0, 60.0),
               (70.0, 75.0, 2.5, 80.0)]
    from scipy.spatial.distance import cdist

    segm, catalog = deblender(make_image((96, 96), sources, seed=3))
    # the tiny test model may cut a blob in two: group the sources by the
    # blob nearest to their centroid
    centroids = np.column_stack([catalog['y_centroid'],
                                 catalog['x_centroid']])
    nearest = np.argmin(cdist(centroids, np.array(sources)[:, :2]), axis=1)
    in_pair = nearest < 2
    assert in_pair.sum() >= 2 and (~in_pair).sum() == 1
    parents = np.asarray(catalog['parent'])
    # the touching pair is one parent, the isolated blob another
    assert len(set(parents[in_pair])) == 1
    assert parents[~in_pair][0] != parents[in_pair][0]
    assert_array_equal(catalog['n_children'][in_pair], in_pair.sum())
    assert catalog['n_children'][~in_pair][0] == 1
    assert sorted(set(parents)) == [1, 2]


def test_nothing_found(deblender):
    noise = np.random.default_rng(5).normal(0.0, 1.0, (64, 64))
    with pytest.warns(NoDetectionsWarning, match='No sources were found'):
        segm, catalog = deblender(noise)
    assert segm is None and catalog is None
    with pytest.warns(NoDetectionsWarning):
        assert deblender.deblend(noise) is None


def test_scale_invariance(deblender):
    image = make_image((100, 120), BLEND + [(70.0, 90.0, 2.0, 80.0)], seed=4)
    segm, catalog = deblender(image)
    assert segm.n_labels >= 4
    assert_array_equal(deblender(image * 0.01)[0].data, segm.data)
    segm_scaled, catalog_scaled = deblender(image * 1234.5 + 500.0)
    assert_array_equal(segm_scaled.data, segm.data)
    assert_allclose(catalog_scaled['score'], catalog['score'], atol=1e-5)
    assert_allclose(catalog_scaled['segment_flux'],
                    1234.5 * catalog['segment_flux'], rtol=1e-6)
    assert_allclose(catalog_scaled['deblended_flux'],
                    1234.5 * catalog['deblended_flux'], rtol=1e-6)


def test_background_is_subtracted_from_fluxes(deblender, pair_image):
    _, catalog = deblender(pair_image)
    _, with_sky = deblender(pair_image + 100.0)
    _, given_sky = deblender(pair_image + 100.0, background=100.0)
    assert_allclose(with_sky['segment_flux'], catalog['segment_flux'],
                    rtol=0.02)
    assert_allclose(given_sky['segment_flux'], catalog['segment_flux'],
                    rtol=0.02)


@pytest.mark.parametrize('seam', [48.0, 47.6, 80.0, 80.4])
def test_source_on_a_tile_seam_found_once_and_not_cut(deblender, seam):
    shape = (64, 128)
    tiles = make_tiles(shape, 64, 16)
    assert [tile.core[3] for tile in tiles[:-1]] == [48.0, 80.0]
    # in edge coordinates the source's centre is on (or next to) a seam
    x = seam - 0.5
    image = make_image(shape, [(32.0, x, 2.5, 60.0)], seed=6)
    segm, catalog = deblender(image)
    assert segm.n_labels == 1
    assert_allclose(catalog['x_centroid'][0], x, atol=0.5)
    # not cut: the whole bright part is in the segment, on both sides
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    bright = 60.0 * np.exp(-((yy - 32) ** 2 + (xx - x) ** 2)
                           / (2 * 2.5 ** 2)) > 5.0
    assert np.all(segm.data[bright] == 1)


def test_image_smaller_than_tile_is_padded(deblender):
    image = make_image((40, 50), [(20.0, 25.0, 2.5, 60.0)], seed=3)
    segm, catalog = deblender(image)
    assert segm.shape == (40, 50)
    assert segm.n_labels == 1
    assert_allclose([catalog['y_centroid'][0], catalog['x_centroid'][0]],
                    [20, 25], atol=0.5)


def test_larger_image_is_tiled(deblender):
    rng = np.random.default_rng(7)
    positions = [(y, x) for y in (20, 70, 120, 170, 220)
                 for x in (25, 75, 125, 175, 225)]
    sources = [(y + rng.uniform(-3, 3), x + rng.uniform(-3, 3), 2.2, 60.0)
               for y, x in positions]
    segm, catalog = deblender(make_image((240, 250), sources, seed=7))
    assert segm.n_labels == len(sources)
    found = np.transpose([catalog['y_centroid'], catalog['x_centroid']])
    for y, x, _, _ in sources:  # each source found once, where it is
        distance = np.hypot(found[:, 0] - y, found[:, 1] - x)
        assert np.sum(distance < 0.6) == 1


def test_progress_bar(tiny_model_dir, pair_image, capsys):
    deblender = MaskRCNNDeblender(tiny_model_dir, progress_bar=True)
    deblender(pair_image)
    assert 'galseg deblend' in capsys.readouterr().err


def test_one_stamp_is_one_network_pass(tiny_model_dir, pair_image):
    """A stamp of the model's size runs the network on one image, not on
    a batch padded to ``batch_size``."""
    deblender = MaskRCNNDeblender(tiny_model_dir, batch_size=8)
    batches = []
    deblender(pair_image)  # traces the network
    network = deblender.model._detect_function

    def counting(images, score_threshold):
        batches.append(int(images.shape[0]))
        return network(images, score_threshold)

    deblender.model._detect_function = counting
    deblender(pair_image)
    assert batches == [1]
    wide = np.tile(pair_image, (1, 3))
    n_tiles = len(make_tiles(wide.shape, 64, deblender.tile_overlap))
    deblender(wide)
    assert 2 < n_tiles <= 4
    assert batches[1:] == [4]  # padded to a power of two only


# --- units, NDData, WCS, errors, masks --------------------------------------

def test_quantity_gives_fluxes_in_its_unit(deblender, pair_image):
    _, plain = deblender(pair_image)
    segm, catalog = deblender(pair_image * u.mJy,
                              error=np.ones((64, 64)) * 1e-3 * u.Jy)
    for name in ('segment_flux', 'kron_flux', 'deblended_flux',
                 'segment_flux_err', 'min_value'):
        assert catalog[name].unit == u.mJy
    assert_allclose(catalog['segment_flux'].value, plain['segment_flux'],
                    rtol=0.02)
    assert_allclose(catalog['segment_flux_err'].value,
                    np.sqrt(catalog['area'].value))


def test_nddata_with_wcs_mask_uncertainty_and_unit(deblender, pair_image):
    wcs = make_wcs(pair_image.shape)
    mask = np.zeros(pair_image.shape, dtype=bool)
    mask[46:52, 47:53] = True  # the outer part of the second source
    ccd = CCDData(pair_image, unit='electron/s', wcs=wcs, mask=mask,
                  uncertainty=StdDevUncertainty(np.full((64, 64), 1.0)))
    segm, catalog = deblender(ccd)
    assert segm.n_labels == 2
    assert np.all(segm.data[mask] == 0)
    assert catalog['segment_flux'].unit == u.electron / u.s
    assert catalog['deblended_flux'].unit == u.electron / u.s
    assert 'segment_flux_err' in catalog.colnames
    sky = catalog['sky_centroid']
    expected = wcs.pixel_to_world(catalog['x_centroid'],
                                  catalog['y_centroid'])
    assert_allclose(sky.separation(expected).arcsec, 0, atol=1e-6)
    # the same with plain arrays and keywords
    _, by_keywords = deblender(pair_image * u.electron / u.s, mask=mask,
                               error=np.full((64, 64), 1.0) * u.electron
                               / u.s, wcs=wcs)
    assert_allclose(by_keywords['segment_flux'], catalog['segment_flux'])


def test_nddata_duplicate_keyword_warns(deblender, pair_image):
    mask = np.zeros((64, 64), dtype=bool)
    nddata = NDData(pair_image, mask=mask)
    with pytest.warns(AstropyUserWarning, match="The 'mask' keyword will be "
                      'ignored'):
        deblender(nddata, mask=np.ones((64, 64), dtype=bool))


def test_nddata_keywords_fill_what_it_lacks(deblender, pair_image):
    """An NDData without uncertainty takes ``error=`` (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstropyUserWarning)
        _, catalog = deblender(NDData(pair_image),
                               error=np.full((64, 64), 2.0))
    assert_allclose(catalog['segment_flux_err'],
                    2.0 * np.sqrt(catalog['area'].value))


def test_fits_file_path(deblender, pair_image, tmp_path):
    wcs = make_wcs(pair_image.shape)
    header = wcs.to_header()
    header['BUNIT'] = 'adu'
    path = tmp_path / 'image.fits'
    fits.PrimaryHDU(pair_image.astype(np.float32), header=header).writeto(
        path)
    segm, catalog = deblender(path)
    assert segm.n_labels == 2
    assert catalog['segment_flux'].unit == u.adu
    assert 'sky_centroid' in catalog.colnames


def test_no_wcs_no_error_columns(deblender, pair_image):
    _, catalog = deblender(pair_image)
    assert 'sky_centroid' not in catalog.colnames
    assert 'segment_flux_err' not in catalog.colnames
    assert 'kron_flux_err' not in catalog.colnames


def test_network_input_is_normalised_as_in_training(deblender, pair_image,
                                                    monkeypatch):
    """The given error and background serve the measurements only."""
    import galseg.tiling
    from galseg.normalization import estimate_background_noise

    seen = []
    normalize_image = galseg.tiling.normalize_image

    def spy(image, mask=None, background=None, noise=None):
        seen.append((background, noise))
        return normalize_image(image, mask=mask, background=background,
                               noise=noise)

    monkeypatch.setattr(galseg.tiling, 'normalize_image', spy)
    error = np.full((64, 64), 1.5)
    error[0, 0] = np.nan  # masked
    bad = ~np.isfinite(error)
    results = [deblender.deblend(pair_image, error=error),
               deblender.deblend(pair_image, error=10 * error, background=0),
               deblender.deblend(pair_image, mask=bad)]
    # estimated from the data, as galseg.train does for every stamp
    background, noise = estimate_background_noise(pair_image[None], bad)
    assert len(seen) == 3
    for given_background, given_noise in seen:
        assert_allclose(given_background, background)
        assert_allclose(given_noise, noise)
    for result in results[1:]:
        assert_array_equal(result.segmentation_image.data,
                           results[0].segmentation_image.data)
        assert_allclose(result.scores, results[0].scores)
    catalog = results[0].catalog
    assert_allclose(catalog['segment_flux_err'],
                    1.5 * np.sqrt(catalog['area'].value))
    assert_allclose(results[1].catalog['segment_flux_err'],
                    15 * np.sqrt(catalog['area'].value))


def test_non_finite_pixels_are_masked(deblender, pair_image):
    image = pair_image.copy()
    image[18:21, 18:21] = np.nan  # the core of the first source
    image[0, :] = np.inf
    image[5, 5] = -np.inf
    error = np.ones((64, 64))
    error[44, 46] = 0.0  # non-positive error: masked as well
    segm, catalog = deblender(image, error=error)
    assert segm.n_labels == 2
    assert np.all(segm.data[~np.isfinite(image)] == 0)
    assert segm.data[44, 46] == 0
    for name in ('segment_flux', 'deblended_flux', 'kron_flux', 'score'):
        assert np.all(np.isfinite(catalog[name]))


def test_masked_array(deblender, pair_image):
    masked = np.ma.masked_array(pair_image, mask=np.zeros((64, 64), bool))
    masked.mask[15:25, 15:25] = True
    segm, _ = deblender(masked)
    assert np.all(segm.data[15:25, 15:25] == 0)


@pytest.mark.parametrize('data, error, match', [
    (np.zeros((1, 1, 64, 64)), ValueError,
     r'data must be 2-D \(ny, nx\) or 3-D \(n_bands, ny, nx\), got 4-D'),
    (np.zeros(64), ValueError,
     r'data must be 2-D \(ny, nx\) or 3-D \(n_bands, ny, nx\), got 1-D'),
    (np.full((64, 64), 'a'), TypeError,
     'data must be a numeric .* array, got dtype <U1'),
    (np.zeros((64, 64), dtype=bool), TypeError,
     'data must be a numeric .* got dtype bool'),
    (np.zeros((64, 64), dtype=complex), TypeError, 'got dtype complex128'),
    (np.zeros((2, 64, 64)), ValueError,
     r'data have 2 band\(s\) but the model expects 1'),
    (np.zeros((0, 64)), ValueError, 'data must not be empty'),
    (np.full((64, 64), np.nan), ValueError,
     'data are fully masked: no pixel is finite, unmasked and of positive '
     r'error \(100% of the data are not finite\)'),
])
def test_bad_data(deblender, data, error, match):
    with pytest.raises(error, match=match):
        deblender(data)


def test_bad_companions(deblender, pair_image):
    with pytest.raises(ValueError, match=r'mask must have the shape of data '
                       r'\(64, 64\), got \(64, 63\)'):
        deblender(pair_image, mask=np.zeros((64, 63), dtype=bool))
    with pytest.raises(ValueError, match=r'error must have the shape of data '
                       r'\(64, 64\), got \(32, 32\)'):
        deblender(pair_image, error=np.ones((32, 32)))
    with pytest.raises(ValueError, match='background must be a scalar or an '
                       r'array of the shape of data \(64, 64\), got shape '
                       r'\(3,\)'):
        deblender(pair_image, background=np.zeros(3))
    with pytest.raises(ValueError, match='background must be finite'):
        deblender(pair_image, background=np.nan)
    with pytest.raises(TypeError, match='mask must be a boolean array'):
        deblender(pair_image, mask=np.full((64, 64), 'x'))
    with pytest.raises(ValueError, match='data are fully masked'):
        deblender(pair_image, mask=np.ones((64, 64), dtype=bool))
    with pytest.raises(ValueError, match='data are fully masked.*error is '
                       'zero or not finite at 100% of the pixels'):
        deblender(pair_image, error=np.zeros((64, 64)))
    negative = np.ones((64, 64))
    negative[1, 6] = -1.0
    with pytest.raises(ValueError, match='error must not be negative, got 1 '
                       'negative pixel'):
        deblender(pair_image, error=negative)
    with pytest.raises(ValueError, match='mask must be boolean .*values '
                       'other than 0 and 1'):
        deblender(pair_image, mask=np.full((64, 64), 0.5))
    with pytest.raises(TypeError, match='wcs must be a WCS object .*got str'):
        deblender(pair_image, wcs='not a wcs')
    wrong_shape = make_wcs((50, 64))
    wrong_shape.array_shape = (50, 64)
    with pytest.raises(ValueError, match=r'wcs is for images of shape '
                       r'\(50, 64\), but data have shape \(64, 64\)'):
        deblender(pair_image, wcs=wrong_shape)
    spectral = WCS(naxis=1)
    spectral.wcs.ctype = ['FREQ']
    with pytest.raises(ValueError, match='wcs must have 2 pixel dimensions, '
                       'got 1'):
        deblender(pair_image, wcs=spectral)
    with pytest.raises(ValueError, match=r'error has a unit \(Jy\) but data '
                       'have none'):
        deblender(pair_image, error=np.ones((64, 64)) * u.Jy)
    with pytest.raises(ValueError, match=r'error unit \(m\) cannot be '
                       r'converted to the data unit \(Jy\)'):
        deblender(pair_image * u.Jy, error=np.ones((64, 64)) * u.m)


# --- overlap resolution and multi-band results, from given detections ---

def _detection(bbox, mask, score):
    return Detection(box=np.array(bbox, dtype=float), score=score, class_id=1,
                     mask=np.asarray(mask, dtype=np.float32), bbox=bbox)


def _inputs(data, bad=None):
    data = np.array(data, dtype=float, ndmin=3)
    return SimpleNamespace(
        data=data, bad=np.zeros(data.shape, bool) if bad is None else bad,
        error=None, background=None, wcs=None, unit=None)


def test_multiband_deblended_flux_per_band():
    rng = np.random.default_rng(8)
    data = rng.uniform(1, 2, (2, 10, 12))
    data[1] = 3.0 * data[0]
    left = np.zeros((10, 8))
    left[2:8, 1:7] = 0.8
    right = np.zeros((10, 8))
    right[2:8, 1:7] = 0.4
    right[2:8, 1:3] = 0.9
    dets = [_detection((0, 0, 10, 8), left, 0.9),
            _detection((0, 4, 10, 12), right, 0.8)]
    result = build_result(dets, _inputs(data), 0.0, 0.5,
                          0, 1)
    catalog = result.catalog
    assert catalog['deblended_flux'].shape == (2, 2)
    assert result.deblended_images[0].shape[0] == 2
    # the band-summed catalog: segment fluxes of the band sum
    assert_allclose(catalog['segment_flux'].sum(),
                    data[:, result.segmentation_image.data > 0].sum())
    assert_array_equal(catalog['n_children'], [2, 2])
    # where both masks cover, both share the data, in the same
    # proportions in every band
    both = (result.deblended_image(1) + result.deblended_image(2))
    assert_allclose(both[:, 2:8, 5:7], data[:, 2:8, 5:7])
    share = result.deblended_image(1)[:, 2:8, 5:7] / data[:, 2:8, 5:7]
    assert np.all((share > 0) & (share < 1))
    assert_allclose(share[0], share[1])
    # one Kron aperture for all bands
    assert_allclose(catalog['deblended_flux'][:, 1],
                    3 * catalog['deblended_flux'][:, 0])


def test_result_with_unit_and_touching_masks():
    data = np.ones((1, 6, 8))
    a = _detection((0, 0, 6, 4), np.full((6, 4), 0.9), 0.9)
    b = _detection((0, 4, 6, 8), np.full((6, 4), 0.9), 0.8)
    inputs = _inputs(data)
    inputs.unit = u.Jy
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        result = build_result([a, b], inputs, 0.0, 0.5, 0,
                              1)
    # touching masks form one blend; nothing is shared between them
    assert_array_equal(result.catalog['parent'], [1, 1])
    assert result.catalog['deblended_flux'].unit == u.Jy
    assert_array_equal(result.deblended_image(1)[0], [[1] * 4 + [0] * 4] * 6)


def _gaussian(shape, y, x, sigma, flux):
    yy, xx = np.indices(shape)
    return flux * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma ** 2)
                         ) / (2 * np.pi * sigma ** 2)


def test_kron_flux_recovers_the_wings():
    # the mask covers the core of a Gaussian galaxy (radius 2 sigma):
    # the Kron aperture of the deblended image reaches the wings beyond
    data = _gaussian((48, 48), 24, 24, 2.0, 1000.0)
    yy, xx = np.indices((48, 48))
    core = np.hypot(yy - 24, xx - 24) <= 4
    mask = np.where(core, 0.9, 0.1)[18:31, 18:31]
    det = _detection((18, 18, 31, 31), mask, 0.9)
    for dilation in (0, 3):
        result = build_result([det], _inputs(data), 0.0,
                              0.5, dilation, 5)
        # the instance mask and the segments are not grown
        assert result.segmentation_image.data.sum() == core.sum()
        assert data[core].sum() < 0.9 * 1000
        assert result.catalog['deblended_flux'][0] > 0.98 * 1000
        # an isolated source's deblended image is the data
        bbox = result.deblended_bboxes[0]
        assert_allclose(result.deblended_images[0][0],
                        data[bbox.iymin:bbox.iymax, bbox.ixmin:bbox.ixmax])
    # the box of a deblended image is clipped to the image
    edge = _detection((0, 0, 13, 13), mask, 0.9)
    result = build_result([edge], _inputs(data), 0.0,
                          0.5, 3, 5)
    bbox = result.deblended_bboxes[0]
    assert bbox.ixmin == bbox.iymin == 0 and bbox.ixmax <= 48


def test_grown_wings_take_little_from_a_neighbour():
    # two galaxies 10 px apart: a's grown mask reaches into b's mask
    shape = (24, 40)
    data = (_gaussian(shape, 12, 14, 1.5, 1000.0)
            + _gaussian(shape, 12, 24, 1.5, 4000.0))
    yy, xx = np.indices(shape)
    mask_a = (np.hypot(yy - 12, xx - 14) <= 4.0)[6:19, 8:21]
    mask_b = (np.hypot(yy - 12, xx - 24) <= 4.0)[6:19, 18:31]
    a = _detection((6, 8, 19, 21), np.where(mask_a, 0.95, 0.0), 0.9)
    b = _detection((6, 18, 19, 31), np.where(mask_b, 0.95, 0.0), 0.8)
    bad = np.zeros((1,) + shape, bool)
    bad[0, 12, 10] = True  # a masked pixel contributes to nobody
    data[12, 10] = np.nan
    result = build_result([a, b], _inputs(data, bad), 0.0,
                          0.5, 3, 5)
    flux = result.catalog['deblended_flux']
    assert flux[0] == pytest.approx(1000.0, rel=0.05)
    assert flux[1] == pytest.approx(4000.0, rel=0.02)
    assert np.all(np.isfinite(result.deblended_images[0]))
    # the grown images still add up to the data they cover
    total = sum(result.deblended_image(label)
                for label in result.labels)[0]
    covered = total != 0
    assert_allclose(total[covered], data[covered])


def test_deblended_flux_errors_match_the_scatter():
    """Pulls of deblended_flux over 200 noise realisations of a galaxy
    (signal-to-noise ~100) have a standard deviation of 1 +- 0.15."""
    flux, sigma, size = 2000.0, 3.0, 48
    yy, xx = np.mgrid[:size, :size] - (size / 2 - 0.5)
    model = flux * np.exp(-(yy ** 2 + xx ** 2) / (2 * sigma ** 2)) / (
        2 * np.pi * sigma ** 2)
    mask = (np.hypot(yy, xx) < 3 * sigma).astype(np.float32)
    rng = np.random.default_rng(5)
    pulls = []
    for _ in range(200):
        inputs = _inputs(model + rng.normal(0.0, 1.0, model.shape))
        inputs.error = np.ones(inputs.data.shape)
        catalog = build_result([_detection((0, 0, size, size), mask, 0.9)],
                               inputs, 0.0, 0.5, 3, 5).catalog
        pulls.append((catalog['deblended_flux'][0] - flux)
                     / catalog['deblended_flux_err'][0])
    assert 0.85 < np.std(pulls) < 1.15
    assert abs(np.mean(pulls)) < 0.5  # the Kron aperture holds the flux


def test_catalog_flags_parents_and_neighbours():
    """Two touching sources (one on the image edge, one next to a masked
    pixel) and an isolated one."""
    data = np.zeros((1, 20, 30))
    data[0, 2:8, 0:6] = 5.0
    data[0, 2:8, 6:12] = 3.0
    data[0, 12:18, 20:26] = 4.0
    bad = np.zeros(data.shape, bool)
    bad[0, 8, 8] = True
    left = np.zeros((6, 6))
    left[:, :] = 0.9
    dets = [_detection((2, 0, 8, 6), left, 0.95),
            _detection((2, 6, 8, 12), left, 0.9),
            _detection((12, 20, 18, 26), left, 0.8)]
    result = build_result(dets, _inputs(data, bad), 0.0, 0.5, 0, 1,
                          seams=[('x', 23.5)])
    catalog = result.catalog
    assert list(catalog['parent']) == [1, 1, 2]
    assert list(catalog['n_children']) == [2, 2, 1]
    assert_allclose(catalog['nn_dist'][0].value, 6.0)
    assert_allclose(catalog['nn_dist'][2].value, np.hypot(14.0, 10.0),
                    rtol=1e-3)
    flags = np.asarray(catalog['flags'])
    from galseg.catalog import FLAGS

    assert flags[0] == FLAGS['blended'] | FLAGS['edge']
    assert flags[1] == FLAGS['blended'] | FLAGS['masked']
    assert flags[2] == FLAGS['tile_seam']
    parents = result.parent_segmentation_image
    assert parents.labels.tolist() == [1, 2]
    assert np.all(parents.data[result.segmentation_image.data == 2] == 1)


def test_insignificant_sources_are_dropped():
    # a galaxy and a detection of a patch of pure noise beside it, whose
    # mask overlaps the galaxy's: with min_snr the noise is no source and
    # the galaxy gets back the pixels it lost to it
    data = make_image((32, 48), [(16.0, 14.0, 3.0, 40.0)], seed=3)[None]
    galaxy_mask = np.zeros((32, 32), dtype=np.float32)
    galaxy_mask[4:28, 2:26] = 0.6
    noise_mask = np.zeros((32, 32), dtype=np.float32)
    noise_mask[4:28, 6:30] = 0.9
    noise_mask[4:28, :6] = 0.0
    galaxy = _detection((0, 0, 32, 32), galaxy_mask, 0.9)
    speck = _detection((0, 16, 32, 48), noise_mask, 0.8)
    both = build_result([galaxy, speck], _inputs(data), 0.0, 0.5, 0, 5,
                        noise=1.0)
    assert len(both) == 2
    # 0 keeps every source, even of negative flux
    negative = build_result([galaxy, speck], _inputs(-data), 0.0, 0.5, 0, 5,
                            noise=1.0, min_snr=0.0)
    assert len(negative) == 2 and negative.catalog['segment_snr'][0] < -30
    snr = both.catalog['segment_snr']
    assert snr[0] > 30 and abs(snr[1]) < 5
    kept = build_result([galaxy, speck], _inputs(data), 0.0, 0.5, 0, 5,
                        noise=1.0, min_snr=5.0)
    assert len(kept) == 1
    assert_array_equal(kept.segmentation_image.data,
                       np.pad(galaxy_mask >= 0.5, ((0, 0), (0, 16))))
    assert kept.catalog['area'][0] > both.catalog['area'][0]
    # errors, when given, are the noise; without noise nor errors there is
    # no ratio and nothing is dropped
    inputs = _inputs(data)
    inputs.error = np.full(data.shape, 100.0)
    faint = build_result([galaxy, speck], inputs, 0.0, 0.5, 0, 5,
                         noise=1.0, min_snr=5.0)
    assert faint is None
    unknown = build_result([galaxy, speck], _inputs(data), 0.0, 0.5, 0, 5,
                           min_snr=5.0)
    assert len(unknown) == 2 and np.isnan(unknown.catalog['segment_snr']).all()


def test_segment_snr_accounts_for_correlated_noise():
    """A patch of correlated noise (a resampled coadd) is no source."""
    from scipy import ndimage

    from galseg.segmentation import correlated_noise_factor, segment_snr

    rng = np.random.default_rng(6)
    noise = ndimage.gaussian_filter(rng.normal(size=(1, 96, 96)),
                                    (0, 1.5, 1.5))
    data = noise / noise.std()  # unit variance per pixel, correlated
    # the 10 x 10 patch of highest sum, as a detection
    sums = ndimage.uniform_filter(data[0], 10, mode='constant')
    sums[:5], sums[-5:], sums[:, :5], sums[:, -5:] = 0, 0, 0, 0
    y, x = np.unravel_index(np.argmax(sums), sums.shape)
    patch = _detection((y - 5, x - 5, y + 5, x + 5),
                       np.full((10, 10), 0.9), 0.9)
    result = build_result([patch], _inputs(data), 0.0, 0.5, 0, 5,
                          noise=1.0)
    labels = result.segmentation_image.data
    independent = segment_snr(labels, data, 1.0)[0]
    small_boxes = correlated_noise_factor(data, 1.0, labels == 0, 3)
    # as if the pixels were independent, the patch would be significant;
    # its noise is scaled by the factor of boxes of about its size (10 x
    # 10 pixels), larger than that of 3 x 3 boxes
    assert independent > 5.0 and small_boxes > 3.0
    snr = result.catalog['segment_snr'][0]
    assert snr < independent / np.sqrt(small_boxes)
    assert snr < 5.0
    assert build_result([patch], _inputs(data), 0.0, 0.5, 0, 5, noise=1.0,
                        min_snr=5.0) is None


def test_every_source_reaches_min_snr():
    # a detection of noise hides another one under it: once the first is
    # dropped, the second gets the pixels, and is dropped in its turn
    data = make_image((32, 64), [(16.0, 14.0, 3.0, 40.0)], seed=5)[None]
    galaxy_mask = np.zeros((32, 32), dtype=np.float32)
    galaxy_mask[4:28, 2:26] = 0.6
    galaxy = _detection((0, 0, 32, 32), galaxy_mask, 0.9)
    noise = _detection((0, 32, 32, 64), np.full((32, 32), 0.9), 0.8)
    hidden = _detection((8, 40, 24, 56), np.full((16, 16), 0.7), 0.7)
    everything = build_result([galaxy, noise, hidden], _inputs(data), 0.0,
                              0.5, 0, 5, noise=1.0)
    assert len(everything) == 2  # the hidden one has no pixel
    kept = build_result([galaxy, noise, hidden], _inputs(data), 0.0, 0.5, 0,
                        5, noise=1.0, min_snr=5.0)
    assert len(kept) == 1
    assert kept.catalog['segment_snr'][0] >= 5.0
    assert kept.segmentation_image.data[:, 32:].max() == 0


class _CrowdedNetwork:
    """The tiny network, plus the answer a network gives to a field more
    crowded than it was trained on: one confident detection over the
    whole tile with a diffuse mask."""

    def __init__(self, network):
        self.network = network
        self.config = network.config

    def detect(self, images, batch_size=8, score_threshold=None):
        size = self.config.image_size
        outputs = []
        for output in self.network.detect(images, batch_size=batch_size,
                                          score_threshold=score_threshold):
            masks = np.asarray(output['masks'], dtype=np.float32)
            diffuse = np.full((1, size, size), 0.6, np.float32)
            outputs.append({
                'boxes': np.concatenate([[[0.0, 0.0, size, size]],
                                         output['boxes']]).astype(np.float32),
                'classes': np.concatenate([[1], output['classes']]),
                'class_scores': np.concatenate([[0.9],
                                                output['class_scores']]),
                'scores': np.concatenate([[1.0], output['scores']]),
                'masks': np.concatenate([diffuse,
                                         masks.reshape(-1, size, size)])})
        return outputs


def test_catch_all_detection_of_a_crowded_tile_is_dropped_with_a_warning(
        tiny_model_dir, pair_image):
    plain = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5)
    crowded = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5)
    crowded.model = _CrowdedNetwork(plain.model)
    expected = plain.deblend(pair_image, background=0.0)
    with pytest.warns(CrowdedTilesWarning,
                      match=r'1 of 1 tiles of 64 px look more crowded than '
                            r'the model was trained for'):
        result = crowded.deblend(pair_image, background=0.0)
    # the tile-wide detection neither becomes a source nor hides any
    n_expected = 0 if expected is None else expected.n_sources
    n_found = 0 if result is None else result.n_sources
    assert n_found == n_expected
    if n_found:
        assert_array_equal(result.segmentation_image.data,
                           expected.segmentation_image.data)
    # a network answering with sources gives no warning
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstropyUserWarning)
        plain.deblend(pair_image, background=0.0)


def test_calibration_reports_crowded_tiles_once(tiny_model_dir, pair_image):
    """`galseg.calibration.threshold_table` runs every scene once per
    setting: a crowded tile is reported once, not once per run; and its
    cached network answers every threshold from one pass."""
    from galseg.calibration import threshold_table

    deblender = MaskRCNNDeblender(tiny_model_dir, score_threshold=0.5)
    passes = []
    crowded = _CrowdedNetwork(deblender.model)
    detect = crowded.detect

    def counting(images, batch_size=8, score_threshold=None):
        passes.append(score_threshold)
        return detect(images, batch_size=batch_size,
                      score_threshold=score_threshold)

    crowded.detect = counting
    deblender.model = crowded
    noise = np.random.default_rng(3).normal(0, 1, pair_image.shape)
    scene = SimpleNamespace(
        image=(pair_image + noise)[np.newaxis].astype(np.float32),
        footprints=np.zeros((0, *pair_image.shape), bool),
        catalog=QTable({'x': np.zeros(0), 'y': np.zeros(0),
                        'has_footprint': np.zeros(0, bool)}),
        psf_fwhm=np.array([3.0]), noise_sigma=np.array([1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        table = threshold_table(deblender, [scene, scene],
                                thresholds=(0.3, 0.6, 0.9))
    assert len(table) == 3
    assert sum(issubclass(w.category, CrowdedTilesWarning)
               for w in caught) == 1
    assert len(passes) == 1  # the lowest threshold first, once
