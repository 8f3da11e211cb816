"""Tests of galseg.simulate: surveys, SimulationConfig and simulate_scene."""

import json

import numpy as np
import pytest
from astropy.table import Table
from numpy.testing import assert_allclose, assert_array_equal

pytest.importorskip('galsim')
surveycodex = pytest.importorskip('surveycodex')

from galseg.simulate import (PSF_IMAGE_SIZE, Band, SimulationConfig,  # noqa: E402
                             Survey, get_survey, simulate_scene)
from galseg.simulate.config import CATALOG_COLUMNS  # noqa: E402

SMALL = dict(stamp_size=64, n_sources=(2, 4))


def assert_scenes_equal(a, b):
    for name in ('image', 'noiseless', 'isolated', 'footprints', 'boxes',
                 'classes', 'noise_sigma', 'psf_fwhm', 'psf'):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert_array_equal(x, y, err_msg=name)
    assert a.pixel_scale == b.pixel_scale
    assert a.bands == b.bands
    assert a.catalog.colnames == b.catalog.colnames
    for name in a.catalog.colnames:
        assert a.catalog[name].dtype == b.catalog[name].dtype, name
        assert_array_equal(a.catalog[name], b.catalog[name], err_msg=name)


def make_catalog(n=5, bands=('i',), seed=0):
    rng = np.random.default_rng(seed)
    table = Table()
    for band in bands:
        table[f'{band}_ab'] = rng.uniform(22, 25, n)
    table['a_d'] = rng.uniform(0.3, 1.0, n)
    table['b_d'] = table['a_d'] * rng.uniform(0.4, 1.0, n)
    table['a_b'] = rng.uniform(0.1, 0.3, n)
    table['b_b'] = table['a_b'] * rng.uniform(0.6, 1.0, n)
    table['pa_disk'] = rng.uniform(0, 180, n)
    table['pa_bulge'] = table['pa_disk']
    table['fluxnorm_disk'] = rng.uniform(0, 1, n)
    table['fluxnorm_bulge'] = 1 - table['fluxnorm_disk']
    return table


# ---------------------------------------------------------------- surveys

@pytest.mark.parametrize(('name', 'codex_name'), [
    ('lsst', 'LSST'), ('hsc', 'HSC'), ('des', 'DES'), ('euclid_vis', 'Euclid_VIS')])
def test_survey_presets_come_from_surveycodex(name, codex_name):
    survey = get_survey(name)
    codex = surveycodex.get_survey(codex_name)
    assert survey.pixel_scale == codex.pixel_scale.to_value('arcsec')
    assert survey.band_names == tuple(codex.available_filters)
    for band_name in survey.band_names:
        band, ref = survey.get_band(band_name), codex.get_filter(band_name)
        assert band.psf_fwhm == ref.psf_fwhm.to_value('arcsec')
        assert band.zeropoint == ref.zeropoint.value
        assert band.sky_brightness == ref.sky_brightness.value
        assert band.exposure_time == ref.full_exposure_time.to_value('s')


def test_survey_preset_case_insensitive_and_unknown():
    assert get_survey('LSST') == get_survey('lsst')
    with pytest.raises(ValueError, match="unknown survey 'sdss9'; available"):
        get_survey('sdss9')
    with pytest.raises(ValueError, match="unknown band 'q' for survey 'lsst'"):
        get_survey('lsst').get_band('q')


def test_band_flux_magnitude_and_sky():
    band = Band('r', 0.7, 28.0, 21.0, 100.0)
    assert_allclose(band.mag_to_flux(28.0), 100.0)
    assert_allclose(band.flux_to_mag(band.mag_to_flux(23.4)), 23.4)
    # 21 mag/arcsec^2 is 10**2.8 e/s/arcsec^2; 0.5" pixels hold a quarter
    assert_allclose(band.sky_level(0.5), 100.0 * 10**2.8 * 0.25)


def test_custom_survey_round_trip_and_errors():
    survey = Survey('mine', 0.3, {'x': {'psf_fwhm': 1.0, 'zeropoint': 27.0,
                                        'sky_brightness': 20.0,
                                        'exposure_time': 60.0}})
    assert Survey.from_dict(survey.to_dict()) == survey
    with pytest.raises(ValueError, match='pixel_scale must be a positive'):
        Survey('mine', -0.2, {'x': Band('x', 1.0, 27.0, 20.0, 60.0)})
    with pytest.raises(ValueError, match="band 'x': psf_fwhm must be positive"):
        Band('x', 0.0, 27.0, 20.0, 60.0)
    with pytest.raises(ValueError, match='survey dict is missing keys: bands'):
        Survey.from_dict({'name': 'a', 'pixel_scale': 0.2})


# ----------------------------------------------------------------- config

def test_config_defaults_and_round_trip(tmp_path):
    config = SimulationConfig()
    assert config.bands == ('i',)
    assert config.n_sources == (1, 6)
    assert config.stamp_size == 128
    assert SimulationConfig(survey='euclid_vis').bands == ('IE',)
    data = config.to_dict()
    json.dumps(data)  # serialisable
    assert SimulationConfig.from_dict(data) == config

    custom = SimulationConfig(
        survey=get_survey('des'), bands='g,r', pixel_scale=(0.17, 0.26),
        psf_fwhm=(2.5, 6), psf_fwhm_unit='pixel', magnitude=(20, 25))
    assert custom.snr is None  # an explicit magnitude replaces the default
    assert SimulationConfig.from_dict(custom.to_dict()) == custom

    path = tmp_path / 'sim.json'
    path.write_text(json.dumps(custom.to_dict()))
    assert SimulationConfig.from_file(path) == custom
    toml = tmp_path / 'sim.toml'
    toml.write_text('survey = "hsc"\nbands = ["r", "i"]\nn_sources = [2, 3]\n')
    from_toml = SimulationConfig.from_file(toml)
    assert from_toml.bands == ('r', 'i') and from_toml.n_sources == (2, 3)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    (dict(survey='nope'), ValueError, "unknown survey 'nope'"),
    (dict(bands=('i', 'w')), ValueError, "unknown band 'w' for survey 'lsst'"),
    (dict(bands=('u', 'g', 'r', 'i', 'z', 'y', 'i')), ValueError, '1 to 6 bands'),
    (dict(n_sources=(4, 2)), ValueError, r'n_sources: empty range \(4, 2\)'),
    (dict(n_sources=(0, 2)), ValueError, r'n_sources: impossible range .* >= 1'),
    (dict(n_sources=(1.5, 2)), TypeError, 'n_sources must be an integer'),
    (dict(half_light_radius=(2.0, 0.2)), ValueError, 'half_light_radius: empty'),
    (dict(ellipticity=(0.0, 1.2)), ValueError, r'ellipticity: impossible .* < 1'),
    (dict(psf_fwhm=(0, 1)), ValueError, r'psf_fwhm: impossible .* > 0'),
    (dict(pixel_scale=(0.2,)), ValueError, r'pixel_scale must be a \(low, high\)'),
    (dict(snr=(float('nan'), 10)), ValueError, 'snr must be finite'),
    (dict(snr=(5, 10), magnitude=(20, 24)), ValueError, 'only one of snr'),
    (dict(snr=None), ValueError, 'one of snr and magnitude'),
    (dict(psf_profiles=('gaussian',)), ValueError, 'psf_profiles must be one of'),
    (dict(bulge_offset=(-1.0, 1.0)), ValueError,
     r'bulge_offset: impossible range .* >= 0'),
    (dict(bulge_ellipticity=(0.2, 1.0)), ValueError,
     r'bulge_ellipticity: impossible range .* < 1'),
    (dict(irregular_fraction=-0.1), ValueError,
     r'irregular_fraction must be in \[0, 1\]'),
    (dict(irregular_components=(1, 3)), ValueError,
     r'irregular_components: impossible range .* >= 2'),
    (dict(sersic_fraction=1.5), ValueError,
     r'sersic_fraction must be in \[0, 1\]'),
    (dict(sersic_index=(0.1, 2.0)), ValueError,
     r'sersic_index: impossible range .* >= 0.3'),
    (dict(airy_obscuration=(0.2, 1.0)), ValueError,
     r'airy_obscuration: impossible range .* < 1'),
    (dict(star_fraction=1.5), ValueError, r'star_fraction must be in \[0, 1\]'),
    (dict(knot_fraction=(0.2, 1.0)), ValueError,
     r'knot_fraction: impossible range .* < 1'),
    (dict(knot_fraction=(-0.1, 0.2)), ValueError,
     r'knot_fraction: impossible range .* >= 0'),
    (dict(n_knots=(0, 5)), ValueError, r'n_knots: impossible range .* >= 1'),
    (dict(n_knots=(2.5, 5)), TypeError, 'n_knots must be an integer'),
    (dict(knot_size=(0, 0.1)), ValueError, r'knot_size: impossible .* > 0'),
    (dict(star_snr=(0, 10)), ValueError, r'star_snr: impossible range .* > 0'),
    (dict(conditions=('moon',)), ValueError,
     "conditions must be one of space, ground, poor_seeing; got 'moon'"),
    (dict(conditions=()), ValueError, 'conditions must name at least one'),
    (dict(faint_sources=(-1, 3)), ValueError,
     r'faint_sources: impossible range .* >= 0'),
    (dict(faint_sources=(0, 2.5)), TypeError,
     'faint_sources must be an integer'),
    (dict(faint_snr=(0, 3)), ValueError, r'faint_snr: impossible range'),
    (dict(correlated_noise_fraction=1.5), ValueError,
     r'correlated_noise_fraction must be in \[0, 1\]'),
    (dict(noise_correlation=(0, 1)), ValueError,
     r'noise_correlation: impossible range .* > 0'),
    (dict(noise_correlation=(1, 6)), ValueError,
     r'noise_correlation: impossible range .* <= 5'),
    (dict(stamp_size=8), ValueError, 'stamp_size must be at least 16'),
    (dict(footprint_threshold=0), ValueError, 'footprint_threshold must be'),
    (dict(stamp_size=32, separation=(40, 50), separation_unit='pixel'),
     ValueError, 'separation: impossible range'),
    (dict(detection_bands=('r',)), ValueError, "detection band 'r' is not"),
    (dict(source_type='catalog'), ValueError, 'needs a catalog'),
    (dict(source_type='real'), ValueError, 'needs real_galaxy_catalog'),
])
def test_config_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimulationConfig(**kwargs)


def test_config_unknown_field_and_bad_file(tmp_path):
    with pytest.raises(ValueError, match='unknown SimulationConfig fields: '
                       'nsources'):
        SimulationConfig.from_dict({'nsources': [1, 2]})
    path = tmp_path / 'bad.json'
    path.write_text('{"survey": ')
    with pytest.raises(ValueError, match='cannot parse config file'):
        SimulationConfig.from_file(path)


def test_config_catalog_checks(tmp_path):
    table = make_catalog()
    del table['a_b'], table['pa_bulge']
    with pytest.raises(ValueError, match='catalog is missing required '
                       'columns: a_b, pa_bulge'):
        SimulationConfig(source_type='catalog', catalog=table)
    with pytest.raises(ValueError, match='missing required columns: r_ab'):
        SimulationConfig(source_type='catalog', catalog=make_catalog(),
                         bands=('r', 'i'))
    with pytest.raises(ValueError, match='no catalog row has i_ab'):
        SimulationConfig(source_type='catalog', catalog=make_catalog(),
                         magnitude=(10, 12))
    with pytest.raises(TypeError, match='in-memory catalog table cannot be '
                       'saved'):
        SimulationConfig(source_type='catalog', catalog=make_catalog()).to_dict()

    # file catalogs are checked by check_inputs (simulate_dataset calls it)
    path = tmp_path / 'cat.ecsv'
    table.write(path)
    config = SimulationConfig(source_type='catalog', catalog=str(path))
    with pytest.raises(ValueError, match='missing required columns: a_b'):
        config.check_inputs()
    missing = SimulationConfig(source_type='catalog',
                               catalog=str(tmp_path / 'none.fits'))
    with pytest.raises(FileNotFoundError, match='none.fits does not exist'):
        missing.check_inputs()


# ------------------------------------------------------------------ scene

def test_scene_is_a_pure_function_of_config_seed_index():
    config = SimulationConfig(**SMALL, star_fraction=0.3)
    first = simulate_scene(config, 7, 3)
    assert_scenes_equal(first, simulate_scene(config, 7, 3))
    # a config rebuilt from its dict gives the same scene
    assert_scenes_equal(first, simulate_scene(
        SimulationConfig.from_dict(config.to_dict()), 7, 3))
    assert not np.array_equal(first.image, simulate_scene(config, 7, 4).image)
    assert not np.array_equal(first.image, simulate_scene(config, 8, 3).image)


def test_offset_bulges():
    one = dict(stamp_size=64, n_sources=(1, 1), bulge_fraction=(0.8, 0.8),
               half_light_radius=(1.0, 1.0), pixel_scale=(0.2, 0.2),
               snr=(1e4, 1e4), first_source_offset=0.0)
    for offset, expected in ((0.0, 0.0), (1.0, 0.8 * 5.0)):
        config = SimulationConfig(**one, bulge_offset=(offset, offset),
                                  bulge_ellipticity=(0.0, 0.5))
        for index in range(3):
            scene = simulate_scene(config, 4, index)
            image = scene.isolated[0, 0].astype(float)
            y, x = np.indices(image.shape)
            row = scene.catalog[0]
            shift = np.hypot((image * x).sum() / image.sum() - row['x'],
                             (image * y).sum() / image.sum() - row['y'])
            # the light centre moves by the bulge's share of the offset
            # (1 disk half-light radius = 5 px)
            assert_allclose(shift, expected, atol=0.3)


def test_irregular_galaxies_are_one_source():
    one = dict(stamp_size=64, n_sources=(1, 1), half_light_radius=(1.0, 1.0),
               pixel_scale=(0.2, 0.2), psf_fwhm=(2.0, 2.0),
               psf_fwhm_unit='pixel', snr=(1e4, 1e4),
               first_source_offset=0.0, bulge_fraction=(0.0, 0.0))

    def asymmetry(config, seed):
        # a source at the stamp centre, against itself turned by 180 deg
        scene = simulate_scene(config, seed, 0)
        image = scene.isolated[0, 0]
        return np.abs(image - image[::-1, ::-1]).sum() / image.sum(), scene

    for seed in range(3):
        smooth, _ = asymmetry(SimulationConfig(**one), seed)
        irregular, scene = asymmetry(
            SimulationConfig(**one, irregular_fraction=1.0,
                             irregular_components=(3, 4)), seed)
        assert smooth < 0.01 < 0.2 < irregular
        # one galaxy in the truth: one row, one footprint, its flux
        assert len(scene.catalog) == len(scene.footprints) == 1
        assert scene.catalog['class'][0] == 1
        assert np.isnan(scene.catalog['bulge_fraction'][0])
        assert_allclose(scene.isolated[0, 0].sum(),
                        scene.catalog['flux'][0], rtol=0.02)


def test_sersic_galaxies():
    config = SimulationConfig(stamp_size=64, n_sources=(1, 1),
                              sersic_fraction=1.0, sersic_index=(6.0, 6.0),
                              half_light_radius=(0.6, 0.6),
                              ellipticity=(0.0, 0.0), snr=(1e4, 1e4),
                              first_source_offset=0.0,
                              pixel_scale=(0.2, 0.2), psf_fwhm=(1.5, 1.5),
                              psf_fwhm_unit='pixel')
    steep = simulate_scene(config, 3, 0)
    assert np.isnan(steep.catalog['bulge_fraction'][0])
    assert_allclose(steep.catalog['half_light_radius'][0], 0.6, rtol=1e-5)
    flat = simulate_scene(SimulationConfig(
        **{**config.to_dict(), 'sersic_index': [0.5, 0.5]}), 3, 0)

    # a Sersic index of 6 is far more peaked than one of 0.5
    def peak(scene):
        image = scene.isolated[0, 0]
        return image.max() / image.sum()
    assert peak(steep) > 2 * peak(flat)


def test_large_high_index_galaxies_under_a_space_psf_are_finite():
    # GalSim drew this scene's 2.7" Sersic n=5.6 galaxy with knots under a
    # 0.067" Airy PSF as NaN everywhere (an FFT too large); it is now
    # redrawn with a looser folding threshold, and nothing else changes
    from galseg.models import RECIPE_DIR
    config = SimulationConfig.from_file(RECIPE_DIR / 'sky_simulation3.json')
    scene = simulate_scene(config, 141, 5728)
    assert np.isfinite(scene.image).all()
    assert np.isfinite(scene.isolated).all()
    # the galaxy is larger than the stamp: some of its light falls outside
    drawn = scene.isolated[:, 0].sum(axis=(1, 2))
    flux = np.asarray(scene.catalog['flux'])[:, 0]
    assert np.all(drawn <= 1.001 * flux)
    assert drawn[2] > 0.3 * flux[2]


def test_galaxies_with_knots():
    smooth = SimulationConfig(**SMALL)
    clumpy = SimulationConfig(**SMALL, knot_fraction=(0.4, 0.5),
                              n_knots=(5, 10))
    scene = simulate_scene(clumpy, 7, 3)
    assert_scenes_equal(scene, simulate_scene(clumpy, 7, 3))
    assert_scenes_equal(scene, simulate_scene(
        SimulationConfig.from_dict(clumpy.to_dict()), 7, 3))

    # knots are compact: the clumpy galaxy's light is more concentrated
    # in its brightest pixels than that of a smooth galaxy of the same
    # flux, size and shape
    def peakiness(config, seed):
        image = simulate_scene(config, seed, 0).isolated[0, 0]
        top = np.sort(image.ravel())[::-1]
        return top[:10].sum() / top.sum()

    one = dict(SMALL, n_sources=(1, 1), half_light_radius=(1.5, 1.5),
               ellipticity=(0.0, 0.0), bulge_fraction=(0.0, 0.0),
               pixel_scale=(0.1, 0.1), psf_fwhm=(2.0, 2.0),
               psf_fwhm_unit='pixel')
    knotty = SimulationConfig(**one, knot_fraction=(0.5, 0.5),
                              n_knots=(8, 8), knot_size=(0.05, 0.05))
    assert all(peakiness(knotty, seed) > 1.5 * peakiness(
        SimulationConfig(**one), seed) for seed in range(3))
    # smooth galaxies draw no random number for knots: scenes made before
    # the option existed are unchanged
    assert smooth.knot_fraction == (0.0, 0.0)


@pytest.mark.parametrize('transform', ['none', 'jacobian', 'shift'])
def test_knots_are_drawn_as_galsim_draws_them(transform):
    # the simulator's knots (one matrix product for the whole k grid)
    # give GalSim's RandomKnots images, FFT sizes included, to rounding
    import galsim

    from galseg.simulate.scene import _separable_knots_class

    def draw(knots):
        # (RandomKnots.transform would make plain RandomKnots)
        if transform == 'jacobian':
            knots = galsim.Transformation(
                knots, jac=np.array([[1.1, 0.3], [-0.2, 0.9]]))
        elif transform == 'shift':
            knots = galsim.Transformation(knots, offset=(0.3, -0.2))
        profile = galsim.Convolve(knots, galsim.Gaussian(fwhm=0.1),
                                  galsim.Moffat(beta=3, fwhm=0.7))
        return profile.withFlux(1e4).drawImage(
            nx=64, ny=64, scale=0.2, offset=(0.3, -0.4)).array

    gsparams = galsim.GSParams(folding_threshold=1e-2)
    shear = galsim.Shear(e=0.4, beta=30 * galsim.degrees)
    for seed, n_knots in ((1, 5), (2, 30)):
        theirs = galsim.RandomKnots(
            n_knots, half_light_radius=0.8, flux=0.3, gsparams=gsparams,
            rng=galsim.BaseDeviate(seed)).shear(shear)
        ours = _separable_knots_class(galsim)(
            n_knots, gsparams=gsparams, rng=galsim.BaseDeviate(seed),
            profile=galsim.Gaussian(half_light_radius=0.8,
                                    flux=0.3).shear(shear))
        assert_array_equal(ours.points, theirs.points)
        assert ours.stepk == pytest.approx(theirs.stepk, rel=1e-12)
        assert ours.maxk == theirs.maxk
        expected = draw(theirs)
        assert_allclose(draw(ours), expected, rtol=0,
                        atol=1e-5 * expected.max())


def test_scene_truth_is_consistent():
    config = SimulationConfig(stamp_size=64, n_sources=(1, 6),
                              bands=('g', 'r', 'i'), star_fraction=0.2,
                              footprint_threshold=1.5)
    for index in range(6):
        scene = simulate_scene(config, 11, index)
        n, size = scene.n_sources, config.stamp_size
        assert 1 <= n <= 6
        assert scene.image.shape == (3, size, size)
        assert scene.isolated.shape == (n, 3, size, size)
        assert scene.footprints.shape == (n, size, size)
        assert scene.boxes.shape == (n, 4) and len(scene.catalog) == n
        for name in ('image', 'noiseless', 'isolated', 'boxes',
                     'noise_sigma', 'psf_fwhm'):
            assert getattr(scene, name).dtype == np.float32, name
        assert scene.footprints.dtype == bool
        assert scene.classes.dtype == np.int32
        assert set(scene.classes) <= {1, 2}
        assert_array_equal(scene.classes, scene.catalog['class'])
        # the isolated images sum to the noiseless blend
        assert_allclose(scene.isolated.sum(axis=0), scene.noiseless,
                        rtol=1e-5, atol=1e-3)
        # footprints: the isolated image above k sigma in a band
        above = (scene.isolated > 1.5 * scene.noise_sigma[None, :, None, None])
        assert_array_equal(scene.footprints, above.any(axis=1))
        assert_array_equal(scene.catalog['has_footprint'],
                           scene.footprints.any(axis=(1, 2)))
        # boxes: pixel-edge bounds of the footprints, inside the stamp
        for footprint, box in zip(scene.footprints, scene.boxes):
            if not footprint.any():
                assert_array_equal(box, 0)
                continue
            ymin, xmin, ymax, xmax = box.astype(int)
            assert 0 <= ymin < ymax <= size and 0 <= xmin < xmax <= size
            assert footprint[ymin:ymax, xmin:xmax].sum() == footprint.sum()
            assert footprint[ymin].any() and footprint[ymax - 1].any()
            assert footprint[:, xmin].any() and footprint[:, xmax - 1].any()
        # sources inside the stamp, away from the edges
        for axis in ('x', 'y'):
            assert np.all(scene.catalog[axis] >= config.edge_margin)
            assert np.all(scene.catalog[axis] <= size - 1 - config.edge_margin)
        flux = np.asarray(scene.catalog['flux'])
        assert flux.shape == (n, 3) and np.all(flux > 0)
        assert np.all((scene.catalog['blendedness'] >= 0)
                      & (scene.catalog['blendedness'] <= 1))


def test_scene_noise_matches_noise_sigma():
    config = SimulationConfig(stamp_size=128, n_sources=(1, 1), snr=(10, 11),
                              source_noise=False)
    scene = simulate_scene(config, 0, 0)
    residual = scene.image - scene.noiseless
    assert_allclose(residual.std(), scene.noise_sigma[0], rtol=0.03)
    lsst_i = get_survey('lsst').get_band('i')
    assert_allclose(scene.noise_sigma[0], np.sqrt(lsst_i.sky_level(0.2)),
                    rtol=1e-6)
    assert_allclose(scene.psf_fwhm[0], 0.79 / 0.2, rtol=1e-6)


def test_star_is_the_psf_at_its_position():
    config = SimulationConfig(stamp_size=64, n_sources=(1, 1),
                              star_fraction=1.0, snr=(50, 50),
                              psf_profiles=('kolmogorov',))
    for index in range(3):
        scene = simulate_scene(config, 2, index)
        row = scene.catalog[0]
        assert row['class'] == 2 and scene.classes[0] == 2
        image = scene.isolated[0, 0].astype(float)
        y, x = np.indices(image.shape)
        assert_allclose((image * x).sum() / image.sum(), row['x'], atol=0.02)
        assert_allclose((image * y).sum() / image.sum(), row['y'], atol=0.02)
        assert_allclose(image.sum(), row['flux'][0], rtol=0.02)
        assert_allclose(row['snr'], 50, rtol=1e-4)
        # the scene's PSF image: that star's profile, centred, unit sum
        psf = scene.psf[0].astype(float)
        assert scene.psf.shape == (1, PSF_IMAGE_SIZE, PSF_IMAGE_SIZE)
        assert scene.psf.dtype == np.float32
        assert_allclose(psf.sum(), 1.0, rtol=1e-5)
        centre = PSF_IMAGE_SIZE // 2
        yy, xx = np.indices(psf.shape)
        assert_allclose([(psf * yy).sum(), (psf * xx).sum()], centre,
                        atol=0.02)
        assert_allclose(psf.max(), image.max() / image.sum(), rtol=0.1)


def test_space_like_airy_psf_has_the_requested_fwhm():
    import galsim

    config = SimulationConfig(stamp_size=64, n_sources=(1, 1),
                              star_fraction=1.0, snr=(1e4, 1e4),
                              first_source_offset=0.0,
                              psf_profiles=('airy',), psf_fwhm=(8.0, 8.0),
                              psf_fwhm_unit='pixel',
                              airy_obscuration=(0.3, 0.3))
    scene = simulate_scene(config, 2, 0)
    assert_allclose(scene.psf_fwhm[0], 8.0, rtol=1e-5)  # pixels
    star = galsim.Image(np.ascontiguousarray(scene.isolated[0, 0]),
                        scale=1.0)
    assert_allclose(star.calculateFWHM(), 8.0, rtol=0.05)
    psf = galsim.Image(np.ascontiguousarray(scene.psf[0]), scale=1.0)
    assert_allclose(psf.calculateFWHM(), 8.0, rtol=0.05)
    # the diffraction rings: an Airy star has more light far out than a
    # Moffat star of the same FWHM
    moffat = simulate_scene(SimulationConfig(
        **{**config.to_dict(), 'psf_profiles': ['moffat'],
           'moffat_beta': [5.0, 5.0]}), 2, 0).isolated[0, 0]
    yy, xx = np.indices(moffat.shape)
    far = np.hypot(yy - 32, xx - 32) > 16
    assert (scene.isolated[0, 0][far].sum() / scene.isolated[0, 0].sum()
            > 2 * moffat[far].sum() / moffat.sum())


def test_space_and_ground_presets():
    """Each scene takes the pixel scale and PSF of one preset."""
    from galseg.simulate import CONDITIONS

    config = SimulationConfig(stamp_size=48, n_sources=(1, 1),
                              conditions=('space', 'ground', 'poor_seeing'))
    seen = set()
    for index in range(30):
        scene = simulate_scene(config, 4, index)
        fwhm_arcsec = scene.psf_fwhm[0] * scene.pixel_scale
        if scene.pixel_scale <= 0.1:
            kind = 'space'
            assert 1.5 - 1e-4 <= scene.psf_fwhm[0] <= 2.5 + 1e-4
        else:
            kind = 'ground' if fwhm_arcsec <= 1.2 else 'poor_seeing'
            low, high = CONDITIONS[kind]['psf_fwhm']
            assert low - 1e-4 <= fwhm_arcsec <= high + 1e-4
        low, high = CONDITIONS[kind]['pixel_scale']
        assert low <= scene.pixel_scale <= high
        seen.add(kind)
    assert seen == {'space', 'ground', 'poor_seeing'}
    assert SimulationConfig(conditions='space').conditions == ('space',)


def test_bright_stars_have_their_own_snr_range():
    config = SimulationConfig(stamp_size=48, n_sources=(4, 4),
                              star_fraction=0.5, snr=(10, 20),
                              star_snr=(1e4, 1e5))
    catalogs = [simulate_scene(config, 8, index).catalog
                for index in range(5)]
    stars = np.concatenate([c['snr'][c['class'] == 2] for c in catalogs])
    galaxies = np.concatenate([c['snr'][c['class'] == 1] for c in catalogs])
    assert len(stars) and len(galaxies)
    assert stars.min() >= 1e4 * (1 - 1e-4) and stars.max() <= 1e5 * 1.0001
    assert galaxies.max() <= 20 * 1.0001


def test_faint_population_is_in_the_image_not_in_the_truth():
    base = dict(stamp_size=64, n_sources=(2, 2), source_noise=False)
    plain = simulate_scene(SimulationConfig(**base), 3, 0)
    config = SimulationConfig(**base, faint_sources=(30, 30),
                              faint_snr=(1.0, 2.0))
    scene = simulate_scene(config, 3, 0)
    # the truth is the same scene's: same sources, footprints, catalog
    assert_array_equal(scene.isolated, plain.isolated)
    assert_array_equal(scene.footprints, plain.footprints)
    assert scene.catalog.as_array().tobytes() == \
        plain.catalog.as_array().tobytes()
    # the faint galaxies are in the noiseless and the noisy image
    assert scene.faint.shape == (1, 64, 64) and scene.faint.min() >= -1e-3
    assert_allclose(scene.noiseless, plain.noiseless + scene.faint,
                    atol=1e-3)
    # 30 galaxies of SNR 1-2: real light, but each below detection
    assert scene.faint.sum() > 30 * 1.0 * scene.noise_sigma[0]
    assert scene.faint.max() < 2 * scene.noise_sigma[0]
    assert plain.faint is None
    assert simulate_scene(SimulationConfig(
        **base, faint_sources=(0, 0)), 3, 0).faint is None


def test_correlated_noise_keeps_the_variance_and_correlates_pixels():
    config = SimulationConfig(stamp_size=128, n_sources=(1, 1), snr=(5, 5),
                              source_noise=False,
                              correlated_noise_fraction=1.0,
                              noise_correlation=(1.0, 1.0))
    scene = simulate_scene(config, 6, 0)
    assert scene.noise_correlation == 1.0
    noise = (scene.image - scene.noiseless)[0].astype(float)
    assert_allclose(noise.std(), scene.noise_sigma[0], rtol=0.05)
    neighbours = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    # a Gaussian kernel of sigma 1 px: exp(-1 / 4) between neighbours
    assert_allclose(neighbours, np.exp(-0.25), atol=0.05)
    white = simulate_scene(SimulationConfig(
        **{**config.to_dict(), 'correlated_noise_fraction': 0.0}), 6, 0)
    assert white.noise_correlation == 0.0
    noise = (white.image - white.noiseless)[0].astype(float)
    assert abs(np.corrcoef(noise[:, :-1].ravel(),
                           noise[:, 1:].ravel())[0, 1]) < 0.05


def test_large_galaxies_cross_the_stamp_edges():
    """A wide size range: galaxies larger than the stamp's margins
    reach its edges, and their footprints are cut there."""
    config = SimulationConfig(stamp_size=64, n_sources=(1, 1),
                              half_light_radius=(2.0, 2.0),
                              pixel_scale=(0.1, 0.1), snr=(500, 500),
                              edge_margin=2.0, first_source_offset=8.0)
    scene = simulate_scene(config, 1, 0)
    assert scene.catalog['half_light_radius'][0] / 0.1 > 15  # pixels
    footprint = scene.footprints[0]
    assert footprint[0].any() or footprint[-1].any()
    assert footprint[:, 0].any() or footprint[:, -1].any()


def test_bright_sources_have_no_edges_inside_the_stamp():
    """Each source is drawn over the whole stamp: the wings of a very
    bright galaxy or star fade smoothly, with no box around it where
    its light would stop (which a deep image would show)."""
    for star_fraction in (0.0, 1.0):
        config = SimulationConfig(stamp_size=128, n_sources=(1, 1),
                                  half_light_radius=(0.2, 0.2),
                                  star_fraction=star_fraction,
                                  snr=(1e6, 1e6), first_source_offset=0.0)
        scene = simulate_scene(config, 3, 0)
        image = scene.isolated[0, 0].astype(float)
        assert np.all(image > 0)
        # no step between neighbouring pixels far from the centre
        # larger than the light left there
        y, x = np.indices(image.shape)
        row = scene.catalog[0]
        far = np.hypot(x - row['x'], y - row['y']) > 30
        step = np.abs(np.diff(image, axis=1))
        assert np.all(step[far[:, 1:]] <= image[:, 1:][far[:, 1:]])


def test_randomised_conditions_stay_in_their_ranges():
    config = SimulationConfig(
        stamp_size=64, n_sources=(2, 3), pixel_scale=(0.17, 0.26),
        psf_fwhm=(2.5, 6), psf_fwhm_unit='pixel', snr=(10, 20),
        separation=(0.3, 0.8), separation_unit='psf_fwhm',
        psf_profiles=('moffat', 'kolmogorov'))
    scales, fwhms = [], []
    for index in range(8):
        scene = simulate_scene(config, 5, index)
        scales.append(scene.pixel_scale)
        fwhms.append(scene.psf_fwhm[0])
        assert 2 <= scene.n_sources <= 3
        snr = np.asarray(scene.catalog['snr'])
        assert np.all((snr >= 10 * (1 - 1e-5)) & (snr <= 20 * (1 + 1e-5)))
        # each source is within the separation range of another one
        assert np.all(scene.catalog['neighbour_distance']
                      <= 0.8 * scene.psf_fwhm[0] * (1 + 1e-5))
    assert min(scales) >= 0.17 and max(scales) <= 0.26
    assert len(set(scales)) == 8
    assert min(fwhms) >= 2.5 - 1e-5 and max(fwhms) <= 6 + 1e-5


def test_magnitude_range_and_colors():
    config = SimulationConfig(stamp_size=64, n_sources=(3, 3),
                              bands=('r', 'i'), magnitude=(21, 23),
                              color=(0.1, 0.2))
    scene = simulate_scene(config, 1, 0)
    mag = np.asarray(scene.catalog['mag'])
    assert np.all((mag[:, 0] >= 21 - 1e-4) & (mag[:, 0] <= 23 + 1e-4))
    color = mag[:, 1] - mag[:, 0]
    assert np.all((color >= 0.1 - 1e-4) & (color <= 0.2 + 1e-4))


def test_catalog_sources():
    table = make_catalog(n=4, bands=('r', 'i'))
    config = SimulationConfig(stamp_size=64, n_sources=(3, 3),
                              bands=('r', 'i'), source_type='catalog',
                              catalog=table)
    scene = simulate_scene(config, 0, 0)
    rows = np.asarray(scene.catalog['catalog_row'])
    assert np.all((rows >= 0) & (rows < 4))
    for source, row in zip(scene.catalog, rows):
        assert_allclose(source['mag'], [table['r_ab'][row], table['i_ab'][row]],
                        rtol=1e-5)
        assert source['class'] == 1


def test_simulate_scene_bad_arguments():
    config = SimulationConfig(**SMALL)
    with pytest.raises(TypeError, match='config must be a SimulationConfig'):
        simulate_scene({'stamp_size': 64}, 0, 0)
    with pytest.raises(ValueError, match='seed must be an integer >= 0'):
        simulate_scene(config, -1, 0)
    with pytest.raises(TypeError, match='index must be an integer'):
        simulate_scene(config, 0, 1.5)


def test_catalog_columns_constant():
    assert set(CATALOG_COLUMNS) == {'a_d', 'b_d', 'a_b', 'b_b', 'pa_disk',
                                    'pa_bulge', 'fluxnorm_disk',
                                    'fluxnorm_bulge'}


def write_fake_real_galaxy_catalog(directory, n=3, seed=0):
    """A tiny catalog in the `galsim.RealGalaxyCatalog` format."""
    import galsim
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    psf = galsim.Gaussian(fwhm=0.1)
    psf_image = psf.drawImage(nx=32, ny=32, scale=0.03)
    galaxies, psfs = [fits.PrimaryHDU()], [fits.PrimaryHDU()]
    for _ in range(n):
        galaxy = galsim.Convolve(galsim.Sersic(
            1.5, half_light_radius=rng.uniform(0.2, 0.4), flux=100.0).shear(
            e1=0.2, e2=0.0), psf)
        image = galaxy.drawImage(nx=64, ny=64, scale=0.03).array
        image += rng.normal(0, 1e-3, image.shape)
        galaxies.append(fits.ImageHDU(image.astype(np.float32)))
        psfs.append(fits.ImageHDU(psf_image.array))
    fits.HDUList(galaxies).writeto(directory / 'gal.fits')
    fits.HDUList(psfs).writeto(directory / 'psf.fits')
    table = Table({'ident': np.arange(n), 'gal_filename': ['gal.fits'] * n,
                   'PSF_filename': ['psf.fits'] * n,
                   'gal_hdu': np.arange(1, n + 1),
                   'PSF_hdu': np.arange(1, n + 1),
                   'pixel_scale': np.full(n, 0.03),
                   'noise_variance': np.full(n, 1e-6),
                   'mag': np.full(n, 22.0), 'band': ['F814W'] * n,
                   'weight': np.ones(n)})
    table.write(directory / 'catalog.fits')
    return 'catalog.fits', str(directory)


def test_real_galaxies(tmp_path):
    name, directory = write_fake_real_galaxy_catalog(tmp_path)
    config = SimulationConfig(stamp_size=64, n_sources=(2, 2),
                              source_type='real', real_galaxy_catalog=name,
                              real_galaxy_dir=directory, snr=(100, 200))
    config.check_inputs()
    scene = simulate_scene(config, 0, 0)
    assert_scenes_equal(scene, simulate_scene(config, 0, 0))
    assert scene.n_sources == 2
    rows = np.asarray(scene.catalog['catalog_row'])
    assert np.all((rows >= 0) & (rows < 3))
    assert np.all(scene.catalog['has_footprint'])
    assert_allclose(scene.isolated.sum(axis=0), scene.noiseless,
                    rtol=1e-5, atol=1e-3)
    missing = SimulationConfig(source_type='real', real_galaxy_catalog='no.fits',
                               real_galaxy_dir=directory)
    with pytest.raises(FileNotFoundError, match='no.fits does not exist'):
        missing.check_inputs()


def _cosmos_catalog():
    import galsim

    from pathlib import Path

    directory = Path(galsim.meta_data.share_dir) / 'COSMOS_25.2_training_sample'
    path = directory / 'real_galaxy_catalog_25.2.fits'
    return (str(path), str(directory)) if path.exists() else None


@pytest.mark.skipif(_cosmos_catalog() is None,
                    reason='the COSMOS real galaxy files are not installed')
def test_cosmos_real_galaxies():
    path, directory = _cosmos_catalog()
    config = SimulationConfig(stamp_size=64, n_sources=(2, 2),
                              source_type='real', real_galaxy_catalog=path,
                              real_galaxy_dir=directory)
    config.check_inputs()
    scene = simulate_scene(config, 0, 0)
    assert scene.n_sources == 2
    assert np.all(scene.catalog['catalog_row'] >= 0)
    assert_allclose(scene.isolated.sum(axis=0), scene.noiseless,
                    rtol=1e-5, atol=1e-3)
