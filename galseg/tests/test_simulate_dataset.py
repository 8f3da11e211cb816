"""Tests of galseg.simulate datasets: writing, resuming, reading, the CLI."""

import json
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip('galsim')
h5py = pytest.importorskip('h5py')

from galseg.cli import main  # noqa: E402
from galseg.simulate import (SimulatedDataset, SimulationConfig,  # noqa: E402
                             read_dataset, simulate_dataset, simulate_scene)
from galseg.simulate import dataset as dataset_module  # noqa: E402

from galseg.tests.test_simulate import assert_scenes_equal, make_catalog  # noqa: E402

CONFIG = SimulationConfig(stamp_size=32, n_sources=(1, 3), star_fraction=0.2,
                          half_light_radius=(0.2, 0.6))


def shard_arrays(directory):
    """Every array of every shard, keyed by file and dataset name."""
    arrays = {}
    for path in sorted(directory.glob('shard-*.h5')):
        with h5py.File(path, 'r') as shard:
            shard.visititems(lambda name, item: arrays.__setitem__(
                (path.name, name), item[()])
                if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_dataset_round_trip(tmp_path):
    out = tmp_path / 'data'
    dataset = simulate_dataset(CONFIG, 7, seed=4, out_dir=out, shard_size=3)
    assert isinstance(dataset, SimulatedDataset)
    assert sorted(p.name for p in out.iterdir()) == [
        'manifest.json', 'shard-00000.h5', 'shard-00001.h5', 'shard-00002.h5']
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['seed'] == 4 and manifest['n_scenes'] == 7
    assert manifest['config'] == CONFIG.to_dict()
    for key in ('galseg_version', 'galsim_version'):
        assert manifest[key]
    with read_dataset(out) as ds:
        assert len(ds) == 7 and ds.config == CONFIG and ds.seed == 4
        assert ds.manifest == manifest
        scenes = list(ds)
        assert len(scenes) == 7
        for index in (0, 4, 6):
            assert_scenes_equal(ds[index], simulate_scene(CONFIG, 4, index))
        assert_scenes_equal(ds[-1], scenes[6])
        with pytest.raises(IndexError, match='scene index 7 out of range'):
            ds[7]
        # a dataset can be pickled (e.g. into a data-loading process)
        clone = pickle.loads(pickle.dumps(ds))
        assert_scenes_equal(clone[2], scenes[2])
        clone.close()
    # float32 storage, ragged per-source arrays
    with h5py.File(out / 'shard-00001.h5', 'r') as shard:
        n_sources = sum(s.n_sources for s in scenes[3:6])
        assert shard['image'].shape == (3, 1, 32, 32)
        assert shard['image'].dtype == np.float32
        assert shard['isolated'].shape == (n_sources, 1, 32, 32)
        assert shard['isolated'].dtype == np.float32
        assert shard['catalog/x'].dtype == np.float32
        assert shard['isolated'].chunks == (1, 1, 32, 32)
        assert_array_equal(shard['scene_index'], [3, 4, 5])


#: every option that adds to the image beyond the truth, or varies it
SKY_CONFIG = SimulationConfig(stamp_size=32, n_sources=(1, 3),
                              star_fraction=0.2, star_snr=(10, 1e4),
                              half_light_radius=(0.1, 0.4),
                              conditions=('space', 'ground'),
                              knot_fraction=(0.0, 0.3), n_knots=(3, 6),
                              sersic_fraction=0.3, irregular_fraction=0.2,
                              faint_sources=(0, 5),
                              correlated_noise_fraction=0.5)


def test_workers_while_another_cluster_holds_the_default_port(tmp_path):
    # a second simulation at the same time (or any server on dask's
    # default port 8787) must not make the workers' cluster warn or fail
    import socket

    with socket.socket() as other:
        try:
            other.bind(('', 8787))
            other.listen()
        except OSError:  # already taken: the same situation
            pass
        dataset = simulate_dataset(CONFIG, 4, seed=3, out_dir=tmp_path,
                                   workers=2, shard_size=2)
    assert len(dataset) == 4
    dataset.close()


@pytest.mark.parametrize('config', [CONFIG, SKY_CONFIG],
                         ids=['default', 'sky'])
def test_workers_give_identical_data(tmp_path, config):
    a = simulate_dataset(config, 12, seed=3, out_dir=tmp_path / 'a',
                         workers=1, shard_size=4)
    b = simulate_dataset(config, 12, seed=3, out_dir=tmp_path / 'b',
                         workers=2, shard_size=4)
    a.close()
    b.close()
    arrays_a, arrays_b = shard_arrays(tmp_path / 'a'), shard_arrays(tmp_path / 'b')
    assert arrays_a.keys() == arrays_b.keys()
    assert ('shard-00002.h5', 'catalog/flux') in arrays_a
    for key, value in arrays_a.items():
        assert value.dtype == arrays_b[key].dtype
        assert_array_equal(value, arrays_b[key], err_msg=str(key))
    # and reading gives back the scenes themselves, faint light and
    # noise correlation included
    with read_dataset(tmp_path / 'b') as dataset:
        for index in range(12):
            scene = simulate_scene(config, 3, index)
            read = dataset[index]
            for name in ('image', 'noiseless', 'isolated', 'footprints'):
                assert_array_equal(getattr(read, name), getattr(scene, name))
            assert read.noise_correlation == scene.noise_correlation
            if scene.faint is None:
                assert read.faint is None
            else:
                assert_array_equal(read.faint, scene.faint)


def test_resume_after_interrupted_run(tmp_path, monkeypatch):
    out = tmp_path / 'data'
    write_shard = dataset_module._write_shard
    calls = []

    def failing(config, seed, start, stop, path, dataset_id):
        calls.append(start)
        if len(calls) == 2:
            # die in the middle of the second shard, as a killed job would
            scenes = [simulate_scene(config, seed, i) for i in range(start, stop)]
            assert scenes
            raise KeyboardInterrupt
        return write_shard(config, seed, start, stop, path, dataset_id)

    monkeypatch.setattr(dataset_module, '_write_shard', failing)
    with pytest.raises(KeyboardInterrupt):
        simulate_dataset(CONFIG, 9, seed=1, out_dir=out, shard_size=3)
    assert sorted(p.name for p in out.iterdir()) == ['manifest.json',
                                                     'shard-00000.h5']
    with pytest.raises(ValueError, match='incomplete dataset, 2 of 3 shards '
                       'missing'):
        read_dataset(out)
    # a temporary file left by a killed writer is cleaned up
    (out / '.shard-00001.h5.abc123.tmp').write_bytes(b'partial')
    first_shard_time = (out / 'shard-00000.h5').stat().st_mtime_ns

    monkeypatch.setattr(dataset_module, '_write_shard', write_shard)
    resumed = simulate_dataset(CONFIG, 9, seed=1, out_dir=out, shard_size=3)
    assert (out / 'shard-00000.h5').stat().st_mtime_ns == first_shard_time
    assert not list(out.glob('.*.tmp'))
    fresh = simulate_dataset(CONFIG, 9, seed=1, out_dir=tmp_path / 'fresh',
                             shard_size=3)
    for index in range(9):
        assert_scenes_equal(resumed[index], fresh[index])
    resumed.close()
    fresh.close()


def test_different_dataset_is_not_overwritten(tmp_path):
    out = tmp_path / 'data'
    simulate_dataset(CONFIG, 4, seed=1, out_dir=out, shard_size=2).close()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match='holds a different dataset '
                       r'\(differs in seed\); use overwrite'):
        simulate_dataset(CONFIG, 4, seed=2, out_dir=out, shard_size=2)
    other = SimulationConfig.from_dict({**CONFIG.to_dict(), 'n_sources': [1, 2]})
    with pytest.raises(FileExistsError, match=r'\(differs in config.n_sources\)'):
        simulate_dataset(other, 4, seed=1, out_dir=out, shard_size=2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    with simulate_dataset(CONFIG, 2, seed=2, out_dir=out, shard_size=2,
                          overwrite=True) as replaced:
        assert len(replaced) == 2 and replaced.seed == 2
    assert sorted(p.name for p in out.iterdir()) == ['manifest.json',
                                                     'shard-00000.h5']


def test_dataset_of_another_drawing_is_not_resumed(tmp_path):
    """A dataset begun by a simulator that drew scenes differently is not
    finished with this one's drawings."""
    from galseg.simulate import DRAWING_VERSION

    out = tmp_path / 'data'
    simulate_dataset(CONFIG, 4, seed=1, out_dir=out, shard_size=2).close()
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['drawing_version'] == DRAWING_VERSION
    # as an earlier simulator would have left it, one shard missing
    manifest['drawing_version'] = DRAWING_VERSION - 1
    manifest['dataset_id'] = 'earlier-drawing'
    (out / 'manifest.json').write_text(json.dumps(manifest))
    (out / 'shard-00001.h5').unlink()
    with pytest.raises(FileExistsError, match=r'differs in drawing_version'):
        simulate_dataset(CONFIG, 4, seed=1, out_dir=out, shard_size=2)
    assert not (out / 'shard-00001.h5').exists()


def test_unrelated_directory_is_refused(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='is not empty and holds no '
                       'galseg dataset'):
        simulate_dataset(CONFIG, 2, seed=0, out_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ['notes.txt']
    afile = tmp_path / 'notes.txt'
    with pytest.raises(FileExistsError, match='is not a directory'):
        simulate_dataset(CONFIG, 2, seed=0, out_dir=afile)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    (dict(n_scenes=0), ValueError, 'n_scenes must be an integer >= 1'),
    (dict(seed=-3), ValueError, 'seed must be an integer >= 0'),
    (dict(workers=0), ValueError, 'workers must be an integer >= 1'),
    (dict(shard_size=0), ValueError, 'shard_size must be an integer >= 1'),
    (dict(scheduler=8786), TypeError, 'scheduler must be an address string'),
])
def test_simulate_dataset_bad_arguments(tmp_path, kwargs, error, match):
    arguments = dict(config=CONFIG, n_scenes=2, seed=0,
                     out_dir=tmp_path / 'out') | kwargs
    with pytest.raises(error, match=match):
        simulate_dataset(**arguments)
    assert not (tmp_path / 'out').exists()


def test_catalog_file_checked_before_work(tmp_path):
    table = make_catalog()
    del table['fluxnorm_bulge']
    path = tmp_path / 'cat.ecsv'
    table.write(path)
    config = SimulationConfig(stamp_size=32, source_type='catalog',
                              catalog=str(path))
    with pytest.raises(ValueError, match='missing required columns: '
                       'fluxnorm_bulge'):
        simulate_dataset(config, 2, seed=0, out_dir=tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


def test_read_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='manifest.json missing'):
        read_dataset(tmp_path)
    (tmp_path / 'manifest.json').write_text('{"format": "other"}')
    with pytest.raises(ValueError, match='not a galseg simulation manifest'):
        read_dataset(tmp_path)


def test_cli_simulate(tmp_path, capsys):
    config_file = tmp_path / 'sim.json'
    config_file.write_text(json.dumps({'stamp_size': 32, 'n_sources': [1, 2]}))
    out = tmp_path / 'out'
    args = ['simulate', '--n', '5', '--seed', '2', '--out', str(out),
            '--config', str(config_file), '--survey', 'hsc', '--bands', 'r,i',
            '--shard-size', '3', '--quiet']
    assert main(args) == 0
    assert 'wrote 5 scenes' in capsys.readouterr().out
    with read_dataset(out) as ds:
        assert ds.config.bands == ('r', 'i')
        assert ds.config.survey == 'hsc' and ds.config.stamp_size == 32
        assert_scenes_equal(ds[4], simulate_scene(ds.config, 2, 4))

    # the same again resumes (nothing to do, with a progress bar); another
    # seed is refused
    assert args[-1] == '--quiet'
    assert main(args[:-1]) == 0
    assert main(args[:4] + ['3'] + args[5:]) == 1
    assert 'holds a different dataset' in capsys.readouterr().err
    assert main(args[:4] + ['3'] + args[5:] + ['--overwrite']) == 0


@pytest.mark.parametrize(('extra', 'message'), [
    (['--survey', 'sdss9'], "unknown survey 'sdss9'"),
    (['--bands', 'i,w'], "unknown band 'w' for survey 'lsst'"),
    (['--workers', '0'], 'workers must be an integer >= 1'),
    (['--config', 'missing.json'], 'config file missing.json does not exist'),
])
def test_cli_bad_input(tmp_path, capsys, extra, message):
    out = tmp_path / 'out'
    status = main(['simulate', '--n', '2', '--out', str(out), '--quiet']
                  + extra)
    assert status == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_default_shard_size_depends_only_on_n_scenes(tmp_path):
    with simulate_dataset(CONFIG, 20, seed=0, out_dir=tmp_path) as ds:
        assert ds.manifest['shard_size'] == 8
        assert [s['stop'] for s in ds.manifest['shards']] == [8, 16, 20]
        assert_scenes_equal(ds[17], simulate_scene(CONFIG, 0, 17))
