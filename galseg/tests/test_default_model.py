"""The bundled default model and the ``galseg demo`` command."""

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from galseg import MaskRCNNDeblender
from galseg.cli import main
from galseg.models import DEFAULT_MODEL_DIR, RECIPE_DIR


@pytest.fixture(scope='module')
def deblender():
    return MaskRCNNDeblender()


def test_loads_offline_from_the_package(deblender):
    assert deblender.model_path == 'default'
    assert deblender.model.config.n_bands == 1
    assert deblender.model.config.image_size == 128
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 20e6


def _recipe_files(card):
    """The training recipe named by a card's command (``--config``)."""
    import shlex

    words = shlex.split(card['commands'][-1])
    return RECIPE_DIR / Path(words[words.index('--config') + 1]).name


def _made_from_a_simulation_recipe(data_config):
    """Whether a dataset's config is one of the recipe's simulations."""
    for path in RECIPE_DIR.glob('*simulation*.json'):
        recipe = json.loads(path.read_text())
        if all(data_config.get(key) == value
               for key, value in recipe.items()):
            return True
    return False


def _lineage(card):
    """The card and the cards of the models it started from."""
    while card is not None:
        yield card
        card = card.get('init_model_card')


def test_model_card_records_the_recipe():
    """Every training stage of the shipped model ran ``galseg train`` with
    a training recipe of galseg/models/recipe on data simulated from a
    simulation recipe there, with the recorded seeds; the first stage
    started from no model."""
    card = json.loads((DEFAULT_MODEL_DIR / 'model_card.json').read_text())
    cards = list(_lineage(card))
    for stage in cards:
        assert all(command.startswith('galseg train')
                   for command in stage['commands'])
        training = json.loads(_recipe_files(stage).read_text())
        assert stage['training']['stages'] == training['stages']
        assert stage['training']['seed'] == training['seed']
        data = {entry['role']: entry for entry in stage['data']}
        assert _made_from_a_simulation_recipe(data['train']['config'])
        assert _made_from_a_simulation_recipe(data['validation']['config'])
        assert stage['steps'] > 0
    assert cards[-1]['training']['init_model'] is None
    assert all(stage['training']['init_model'] for stage in cards[:-1])
    assert card['model'] == json.loads(
        (DEFAULT_MODEL_DIR / 'config.json').read_text())


def _absolute_paths(value):
    """Every absolute path in a model card (strings and command lines)."""
    import os

    if isinstance(value, dict):
        return [path for item in value.values()
                for path in _absolute_paths(item)]
    if isinstance(value, list):
        return [path for item in value for path in _absolute_paths(item)]
    if isinstance(value, str):
        return [word for word in value.split() if os.path.isabs(word)]
    return []


def test_model_card_is_portable_and_matches_the_weights():
    """No path of the machine it was trained on; the checksum of the
    weights file it describes."""
    from galseg.engine.io import file_sha256

    card = json.loads((DEFAULT_MODEL_DIR / 'model_card.json').read_text())
    assert _absolute_paths(card) == []
    assert card['weights_sha256'] == file_sha256(
        DEFAULT_MODEL_DIR / card['weights_file'])


def test_calibrated_on_its_own_validation_data(deblender):
    """The bundled calibration (score map, threshold, min_snr) was chosen
    on the validation set of the model's last training stage: never on
    training or test data."""
    from galseg.calibration import CALIBRATION_FILE

    card = json.loads((DEFAULT_MODEL_DIR / 'model_card.json').read_text())
    calibration = json.loads(
        (DEFAULT_MODEL_DIR / CALIBRATION_FILE).read_text())
    validation = {entry['role']: entry for entry in card['data']}['validation']
    training_seeds = {entry['seed'] for stage in _lineage(card)
                      for entry in stage['data'] if entry['role'] == 'train'}
    provenance = calibration['provenance']
    assert provenance['data_seed'] == validation['seed']
    assert provenance['data_seed'] not in training_seeds
    assert provenance['n_scenes'] <= validation['n_scenes']
    assert _absolute_paths(calibration) == []
    assert calibration['validation']['precision'] >= 0.95
    assert deblender.score_threshold == calibration['score_threshold']
    assert deblender.min_snr == calibration['min_snr']
    assert deblender.score_calibration is not None


def test_separates_a_simulated_pair(deblender):
    """The two most confident detections are the two galaxies."""
    from galseg.simulate import SimulationConfig, simulate_scene

    config = SimulationConfig(n_sources=(2, 2), snr=(200, 300),
                              pixel_scale=(0.2, 0.2), psf_fwhm=(0.7, 0.7),
                              half_light_radius=(0.4, 0.6),
                              separation=(2.0, 2.5))
    for index in range(4):
        scene = simulate_scene(config, 99, index)
        segm, catalog = deblender(scene.image[0])
        assert segm.n_labels >= 2
        assert np.all(catalog['score'] >= deblender.score_threshold)
        # labels follow decreasing score: the first two are the galaxies
        found = np.stack([catalog['x_centroid'][:2],
                          catalog['y_centroid'][:2]], axis=1)
        true = np.stack([scene.catalog['x'], scene.catalog['y']], axis=1)
        distance = np.hypot(*(found[:, None] - true[None]).T)
        assert sorted(distance.argmin(axis=1)) == [0, 1]
        assert np.all(distance.min(axis=1) < 2.0)


def test_demo(tmp_path, capsys):
    out = tmp_path / 'demo'
    args = ['demo', '--out', str(out), '--size', '128', '--n-sources', '6']
    assert main(args) == 0
    for name in ('field.fits', 'segmentation.fits', 'catalog.ecsv',
                 'comparison.png'):
        assert (out / name).is_file()
    assert 'galseg found' in capsys.readouterr().out
    assert main(args) == 1
    assert 'already exists' in capsys.readouterr().err
    assert main([*args, '--overwrite']) == 0


# --- one galaxy, one source ---------------------------------------------

@pytest.mark.parametrize('noise', [0.0, 1e-4, 1e-2, 1.0])
def test_photutils_two_gaussian_fixture_gives_two_sources(deblender, noise):
    """photutils' deblending test fixture: two noiseless Gaussians, and
    the same with noise down to a peak signal-to-noise ratio of 10^6,
    far deeper than the tiles the network is shown
    (`galseg.tiling.MAX_TILE_SNR`)."""
    from astropy.modeling.models import Gaussian2D

    yy, xx = np.mgrid[0:100, 0:100]
    data = (Gaussian2D(100, 50, 50, 5, 5)(xx, yy)
            + Gaussian2D(100, 35, 50, 5, 5)(xx, yy))
    data = data + np.random.default_rng(7).normal(0.0, noise, data.shape)
    segm, catalog = deblender(data, background=0)
    assert segm.n_labels == 2
    assert_allclose(np.sort(catalog['x_centroid']), [35, 50], atol=4)


def _exponential_galaxies(shape, positions, seed):
    import galsim

    image = galsim.ImageD(shape[1], shape[0], scale=1.0)
    galaxy = galsim.Exponential(scale_radius=3.0, flux=6000.0)
    for x, y in positions:
        stamp = galaxy.drawImage(nx=64, ny=64, scale=1.0,
                                 center=galsim.PositionD(x + 1, y + 1))
        bounds = stamp.bounds & image.bounds
        image[bounds] += stamp[bounds]
    rng = np.random.default_rng(seed)
    return image.array + rng.normal(0.0, 1.0, shape)


def test_galaxies_on_tile_seams_found_once_each(deblender):
    """49 isolated galaxies on and near multiples of 128 px."""
    rng = np.random.default_rng(3)
    grid = 128.0 * np.arange(1, 8)
    positions = [(x + rng.uniform(-3, 3), y + rng.uniform(-3, 3))
                 for y in grid for x in grid]
    image = _exponential_galaxies((1024, 1024), positions, seed=4)
    segm, catalog = deblender(image, background=0)
    assert segm.n_labels == 49
    found = np.column_stack([catalog['x_centroid'], catalog['y_centroid']])
    distance = np.hypot(*(found[:, None] - np.array(positions)[None]).T)
    assert np.all(distance.min(axis=0) < 1.5)


@pytest.mark.parametrize('scale, axis_ratio, centre', [
    (8.0, 0.7, (96, 96)), (9.0, 0.8, (96, 96)), (9.0, 0.8, (100, 150))])
def test_galaxy_larger_than_the_tile_overlap_is_seen_whole(
        deblender, scale, axis_ratio, centre):
    """A galaxy of radius 45-51 px, which the tile that owns it cuts."""
    yy, xx = np.mgrid[:256, :256]
    galaxy = 300.0 * np.exp(-np.hypot(xx - centre[1],
                                      (yy - centre[0]) / axis_ratio) / scale)
    image = galaxy + np.random.default_rng(6).normal(0.0, 1.0, galaxy.shape)
    segm, _ = deblender(image, error=np.ones_like(image), background=0)
    assert segm.n_labels == 1
    truth = galaxy > 1.0
    segment = segm.data == segm.labels[0]
    # looked at in only one centred tile (still cut there), the last two
    # were covered 0.70 and 0.64 by intersection over union
    assert (segment & truth).sum() / (segment | truth).sum() > 0.9


def test_isolated_smooth_galaxy_is_one_source(deblender):
    image = _exponential_galaxies((96, 96), [(47.3, 48.6)], seed=5)
    segm, catalog = deblender(image, background=0)
    assert segm.n_labels == 1
    # the total flux of an isolated galaxy: Kron, as photutils measures it
    assert_allclose(catalog['deblended_flux'][0], 6000, rtol=0.1)
