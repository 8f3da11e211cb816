import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from galseg.engine import MaskRCNNConfig, masks_to_boxes
from galseg.normalization import normalize_image
from galseg.simulate import SimulationConfig, read_dataset, simulate_scene
from galseg.train.pipeline import scene_to_example, training_dataset


@pytest.fixture(scope='module')
def scene():
    return simulate_scene(SimulationConfig(stamp_size=64, n_sources=(3, 3)),
                          seed=5, index=0)


def _config(**changes):
    return MaskRCNNConfig(**{'image_size': 64, 'max_instances': 8,
                             **changes})


def test_example_uses_the_shared_normalisation(scene):
    example = scene_to_example(scene, _config())
    assert_array_equal(example['images'], normalize_image(scene.image))
    keep = scene.footprints.sum(axis=(1, 2)) >= 4
    n = keep.sum()
    assert_array_equal(example['gt_masks'][:n], scene.footprints[keep])
    assert_array_equal(example['gt_classes'][:n], scene.classes[keep])
    assert np.all(example['gt_classes'][n:] == 0)
    assert_allclose(example['gt_boxes'][:n], scene.boxes[keep])
    assert example['gt_masks'].dtype == np.uint8


def test_crop_keeps_boxes_consistent():
    scene = simulate_scene(SimulationConfig(stamp_size=128,
                                            n_sources=(4, 4)), 1, 2)
    example = scene_to_example(scene, _config(),
                               rng=np.random.default_rng(0))
    assert example['images'].shape == (64, 64, 1)
    n = (example['gt_classes'] > 0).sum()
    assert_allclose(example['gt_boxes'][:n],
                    masks_to_boxes(example['gt_masks'][:n]))
    assert np.all(example['gt_masks'][:n].sum(axis=(1, 2)) >= 4)


def test_small_stamp_is_padded_as_at_inference(scene):
    """Padded with sky noise, exactly as the deblender pads a tile."""
    from galseg.tiling import make_tiles, normalized_tile

    example = scene_to_example(scene, _config(image_size=96))
    assert example['images'].shape == (96, 96, 1)
    tile = make_tiles((64, 64), 96, 24)[0]
    bad = np.zeros(scene.image.shape, dtype=bool)
    assert_array_equal(example['images'],
                       normalized_tile(scene.image, bad, tile))
    assert_array_equal(example['images'][:64, :64],
                       normalize_image(scene.image))
    assert np.all(example['gt_masks'][:, :, 64:] == 0)


def test_augmentation_is_a_symmetry_of_the_square(scene):
    plain = scene_to_example(scene, _config())
    candidates = []
    for k in range(8):
        image = np.rot90(plain['images'], k % 4, axes=(0, 1))
        if k >= 4:
            image = np.flip(image, axis=1)
        candidates.append(image)
    seen = set()
    for seed in range(12):
        augmented = scene_to_example(scene, _config(),
                                     rng=np.random.default_rng(seed),
                                     augment=True)
        matches = [k for k, c in enumerate(candidates)
                   if np.array_equal(c, augmented['images'])]
        assert len(matches) == 1
        seen.add(matches[0])
        n = (augmented['gt_classes'] > 0).sum()
        assert_allclose(augmented['gt_boxes'][:n],
                        masks_to_boxes(augmented['gt_masks'][:n]))
    assert len(seen) > 3


def test_fresh_noise(scene):
    plain = scene_to_example(scene, _config())
    fresh = scene_to_example(scene, _config(), rng=np.random.default_rng(1),
                             fresh_noise=True)
    assert not np.array_equal(plain['images'], fresh['images'])
    assert_array_equal(plain['gt_masks'], fresh['gt_masks'])


def test_band_mismatch(scene):
    with pytest.raises(ValueError, match='the scenes have 1 bands but the '
                                         'model takes 3'):
        scene_to_example(scene, _config(n_bands=3))


def test_needs_rng_to_augment(scene):
    with pytest.raises(ValueError, match='need a random generator'):
        scene_to_example(scene, _config(), augment=True)


def test_stream_resumes_exactly(simulated_datasets):
    scenes = read_dataset(simulated_datasets['train'])
    config = _config()
    full = list(training_dataset(scenes, config, batch_size=4,
                                 seed=3).take(9))
    resumed = list(training_dataset(scenes, config, batch_size=4, seed=3,
                                    start_step=7).take(2))
    for a, b in zip(full[7:], resumed):
        for key in a:
            assert_array_equal(a[key].numpy(), b[key].numpy())
    # a pass over the data (6 batches of 4 = 24 scenes) uses each scene once
    first_pass = np.concatenate([batch['images'].numpy()
                                 for batch in full[:6]])
    assert len({array.tobytes() for array in first_pass}) == 24


@pytest.mark.parametrize('source_noise, correlated',
                         [(True, False), (False, False), (True, True)])
def test_fresh_noise_follows_the_simulator_noise_model(source_noise,
                                                       correlated):
    """Training examples get their fresh noise from the simulator's
    noise model, whose per-pixel variance is the sky's plus the
    sources' counts, white or correlated as the scene's."""
    from galseg.simulate import add_noise

    config = SimulationConfig(stamp_size=64, n_sources=(1, 1),
                              snr=(3e4, 3e4), first_source_offset=0.0,
                              source_noise=source_noise,
                              correlated_noise_fraction=float(correlated))
    scene = simulate_scene(config, seed=5, index=0)
    assert (scene.noise_correlation > 0) == correlated
    images = []
    for index in range(300):
        example = scene_to_example(scene, _config(),
                                   rng=np.random.default_rng(index),
                                   fresh_noise=True,
                                   source_noise=source_noise)
        image = add_noise(scene.noiseless, scene.noise_sigma,
                          np.random.default_rng(index), source_noise,
                          scene.noise_correlation)
        assert_array_equal(example['images'], normalize_image(image))
        images.append(image[0])
    variance = np.var(images, axis=0)
    sigma = float(scene.noise_sigma[0])
    counts = scene.noiseless[0]
    expected = sigma**2 + (counts.clip(0) if source_noise else 0 * counts)
    bright = counts > 2 * sigma**2
    sky = counts < 0.01 * sigma**2
    assert bright.sum() > 20 and sky.sum() > 1000
    for region in (bright, sky):
        assert_allclose(variance[region].mean() / expected[region].mean(),
                        1.0, rtol=0.03)
    if source_noise:  # the sources' noise is there, and it matters
        assert variance[bright].mean() > 2 * sigma**2
    # the simulated image itself has the same noise
    residual = scene.image[0] - counts
    assert_allclose(residual[sky].var(), sigma**2, rtol=0.1)


def test_add_noise_rejects_bad_correlation():
    from galseg.simulate import add_noise

    noiseless = np.zeros((1, 8, 8), np.float32)
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match='correlation must be a number'):
        add_noise(noiseless, [1.0], rng, correlation='wide')
    with pytest.raises(ValueError, match='correlation must be finite and >= 0'):
        add_noise(noiseless, [1.0], rng, correlation=-1.0)


def test_deep_example_scales_the_noise_and_redraws_the_footprints():
    """A deep example is the scene as a much longer exposure shows it:
    the same sources, noise scaled down, footprints at the scaled noise,
    the faint population (not in the truth) kept below the limit."""
    from galseg.simulate import add_noise
    from galseg.simulate.scene import make_footprints

    config = SimulationConfig(stamp_size=64, n_sources=(2, 2),
                              faint_sources=(5, 5))
    scene = simulate_scene(config, seed=5, index=0)
    assert scene.faint is not None
    scale = 1e-3
    example = scene_to_example(scene, _config(),
                               rng=np.random.default_rng(2),
                               fresh_noise=True, noise_scale=scale)
    signal = scene.noiseless - (1 - scale) * scene.faint
    noisy = add_noise(signal, scene.noise_sigma, np.random.default_rng(2),
                      True, scene.noise_correlation)
    image = signal + scale * (noisy - signal)
    assert_array_equal(example['images'], normalize_image(image))
    footprints = make_footprints(scene.isolated, scale * scene.noise_sigma,
                                 1.0, [0])
    keep = footprints.sum(axis=(1, 2)) >= 4
    order = np.argsort(-footprints.sum(axis=(1, 2))[keep], kind='stable')
    assert_array_equal(
        np.sort(example['gt_masks'][:keep.sum()].sum(axis=(1, 2))),
        np.sort(footprints[keep].sum(axis=(1, 2))[order]))
    # deeper, every footprint grows and holds the one at the simulated depth
    assert np.all(footprints >= scene.footprints)
    assert footprints.sum() > scene.footprints.sum()
    # the residual noise is the scaled sky noise
    sky = scene.noiseless[0] < 0.01 * scene.noise_sigma[0] ** 2
    assert_allclose(np.std((image - signal)[0][sky]),
                    scale * scene.noise_sigma[0], rtol=0.1)


def test_noiseless_example_has_footprints_at_the_estimated_noise():
    """Noise scale 0: the noiseless image, its footprints where each
    source exceeds the noise the normalisation estimates in it."""
    from galseg.normalization import estimate_background_noise
    from galseg.simulate.scene import make_footprints

    config = SimulationConfig(stamp_size=64, n_sources=(2, 2),
                              faint_sources=(5, 5))
    scene = simulate_scene(config, seed=5, index=0)
    example = scene_to_example(scene, _config(),
                               rng=np.random.default_rng(2),
                               fresh_noise=True, noise_scale=0.0)
    signal = scene.noiseless - scene.faint
    assert_allclose(example['images'], normalize_image(signal), atol=1e-6)
    noise = estimate_background_noise(signal)[1].ravel()
    assert 0 < noise[0] < 0.01 * scene.noise_sigma[0]
    footprints = make_footprints(scene.isolated, noise, 1.0, [0])
    assert_array_equal(
        np.sort(example['gt_masks'].sum(axis=(1, 2)))[-2:],
        np.sort(footprints.sum(axis=(1, 2))))
    # larger than at the simulated depth, smaller than the whole stamp
    assert np.all(footprints >= scene.footprints)
    assert 0 < footprints.sum(axis=(1, 2)).max() < 64 * 64


def test_deep_example_needs_fresh_noise_and_a_valid_scale(scene):
    with pytest.raises(ValueError, match='noise_scale < 1 needs fresh_noise'):
        scene_to_example(scene, _config(), rng=np.random.default_rng(0),
                         noise_scale=0.1)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r'noise_scale must be in \[0, 1\]'):
            scene_to_example(scene, _config(), rng=np.random.default_rng(0),
                             fresh_noise=True, noise_scale=bad)


def test_deep_fraction_of_the_stream(simulated_datasets):
    """deep_fraction 0 leaves the stream unchanged; 1 makes every example
    deeper (larger footprints)."""
    scenes = read_dataset(simulated_datasets['train'])
    config = _config()
    kwargs = {'batch_size': 4, 'seed': 3, 'fresh_noise': True}
    plain = next(iter(training_dataset(scenes, config, **kwargs)))
    none = next(iter(training_dataset(scenes, config, deep_fraction=0.0,
                                      **kwargs)))
    deep = next(iter(training_dataset(scenes, config, deep_fraction=1.0,
                                      deep_noise_scale=(1e-3, 1e-3),
                                      **kwargs)))
    for key in plain:
        assert_array_equal(plain[key].numpy(), none[key].numpy())
    assert deep['gt_masks'].numpy().sum() > plain['gt_masks'].numpy().sum()
    # noiseless_fraction 1 shows every deep example noiseless
    noiseless = next(iter(training_dataset(
        scenes, config, deep_fraction=1.0, deep_noise_scale=(1e-3, 1e-3),
        noiseless_fraction=1.0, **kwargs)))
    for key in ('gt_boxes', 'gt_classes'):
        assert noiseless[key].shape == deep[key].shape
    assert not np.array_equal(noiseless['images'].numpy(),
                              deep['images'].numpy())
    with pytest.raises(ValueError, match='deep_fraction > 0 needs fresh_noise'):
        training_dataset(scenes, config, batch_size=4, deep_fraction=0.5)


def test_exclusive_deep_footprints_partition_the_deep_footprints():
    """With ``exclusive``, the deep footprints are disjoint, each pixel
    going to the source brightest there, and cover what they covered."""
    from galseg.simulate.scene import make_footprints

    config = SimulationConfig(stamp_size=64, n_sources=(3, 3),
                              snr=(1000.0, 1000.0), separation=(1.0, 1.5))
    scene = simulate_scene(config, seed=5, index=0)
    kwargs = {'rng': np.random.default_rng(2), 'fresh_noise': True,
              'noise_scale': 1e-3}
    example = scene_to_example(scene, _config(), exclusive=True, **kwargs)
    masks = example['gt_masks'].astype(bool)
    assert masks.sum(axis=0).max() == 1
    deep = make_footprints(scene.isolated, 1e-3 * scene.noise_sigma, 1.0,
                           [0])
    assert deep.sum(axis=0).max() > 1  # the footprints overlap
    kept = deep.sum(axis=(1, 2)) >= 4
    assert_array_equal(masks.any(axis=0), deep[kept].any(axis=0))
    owner = np.argmax(scene.isolated[:, 0], axis=0)
    for mask in masks[:kept.sum()]:
        assert len(np.unique(owner[mask])) == 1


def test_exclusive_footprints_partition_the_simulated_footprints():
    """At the simulated depth, ``exclusive`` makes the scene's overlapping
    footprints disjoint, each pixel to the source brightest there, and
    the validation stream gets the same footprints."""
    from galseg.train.pipeline import validation_dataset

    config = SimulationConfig(stamp_size=64, n_sources=(2, 2),
                              snr=(300.0, 300.0), separation=(1.0, 1.5))
    scene = simulate_scene(config, seed=3, index=0)
    assert scene.footprints.sum(axis=0).max() > 1  # they overlap
    example = scene_to_example(scene, _config(), exclusive=True)
    masks = example['gt_masks'].astype(bool)
    assert masks.sum(axis=0).max() == 1
    kept = scene.footprints.sum(axis=(1, 2)) >= 4
    assert_array_equal(masks.any(axis=0), scene.footprints[kept].any(axis=0))
    owner = np.argmax(scene.isolated[:, 0], axis=0)
    for mask in masks[:kept.sum()]:
        assert len(np.unique(owner[mask])) == 1
    batch = next(iter(validation_dataset([scene], _config(), 1,
                                         exclusive_footprints=True)))
    assert_array_equal(batch['gt_masks'].numpy()[0], example['gt_masks'])


def test_footprint_core_keeps_a_close_neighbour_its_centre():
    """The fainter of two close sources is brightest nowhere near its
    centre: exclusive footprints give its centre to its neighbour, a
    footprint core keeps it, and the footprints stay a partition."""
    from types import SimpleNamespace

    from galseg.train.pipeline import _exclusive_footprints

    yy, xx = np.indices((40, 40))

    def gaussian(y, x, amplitude, sigma):
        return amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                                  / (2 * sigma ** 2))

    isolated = np.stack([gaussian(20, 20, 100.0, 3.0),
                         gaussian(20, 25, 20.0, 2.0)])[:, None]
    scene = SimpleNamespace(isolated=isolated, n_bands=1,
                            psf_fwhm=np.array([4.0], np.float32))
    footprints = isolated[:, 0] > 1.0
    plain = _exclusive_footprints(scene, footprints)
    cored = _exclusive_footprints(scene, footprints, core=0.5)
    for masks in (plain, cored):
        assert masks.sum(axis=0).max() == 1
        assert_array_equal(masks.any(axis=0), footprints.any(axis=0))
        assert not (masks & ~footprints).any()
    assert not plain[1, 20, 25]  # its centre went to the bright source
    assert cored[1, 20, 25] and cored[1].sum() > plain[1].sum()
    # the core reaches 0.5 PSF FWHM (2 px) from its brightest pixel
    assert cored[1, 20, 23] and not cored[1, 20, 22]
    assert cored[0, 20, 20]
    assert_array_equal(_exclusive_footprints(scene, footprints, core=0.0),
                       plain)
    # a core at the image's edge is cut by it
    edge = np.stack([gaussian(39, 39, 100.0, 3.0),
                     gaussian(39, 34, 20.0, 2.0)])[:, None]
    scene.isolated = edge
    cored = _exclusive_footprints(scene, edge[:, 0] > 1.0, core=0.5)
    assert cored[1, 39, 34] and cored[1, 38, 34]
    assert cored.sum(axis=0).max() == 1


def test_footprint_core_is_checked():
    config = SimulationConfig(stamp_size=64, n_sources=(1, 1))
    scene = simulate_scene(config, seed=1, index=0)
    with pytest.raises(ValueError, match='footprint_core must be'):
        scene_to_example(scene, _config(), exclusive=True,
                         footprint_core=-1.0)
