"""Simulated datasets on disk: sharded HDF5 files and a manifest."""

import bisect
import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np

from ..validation import check_int
from .config import SimulationConfig
from .scene import (CATALOG_DTYPES, DRAWING_VERSION, Scene, noiseless_sum,
                    simulate_scene)

__all__ = ['simulate_dataset', 'read_dataset', 'SimulatedDataset',
           'DATASET_FORMAT', 'DATASET_FORMAT_VERSION']

#: the ``format`` entry of a dataset manifest
DATASET_FORMAT = 'galseg-simulation'
#: the layout version; readers refuse other versions
DATASET_FORMAT_VERSION = 1

MANIFEST_NAME = 'manifest.json'
_SHARD_RE = re.compile(r'^shard-\d+\.h5$')
_TEMP_RE = re.compile(r'^\.(shard-\d+\.h5|manifest\.json)\..*\.tmp$')

# gzip level 1 with byte shuffling: the footprints shrink a hundredfold,
# the images (each source drawn over the whole stamp) by about a quarter,
# and decompression stays well under a millisecond
_COMPRESSION = dict(compression='gzip', compression_opts=1, shuffle=True)


def _identity(config_dict, n_scenes, seed, shard_size):
    """What makes two datasets the same (and their id)."""
    identity = {'format': DATASET_FORMAT,
                'format_version': DATASET_FORMAT_VERSION,
                'drawing_version': DRAWING_VERSION,
                'config': config_dict, 'seed': seed, 'n_scenes': n_scenes,
                'shard_size': shard_size}
    text = json.dumps(identity, sort_keys=True)
    return identity, hashlib.sha256(text.encode()).hexdigest()[:16]


def _build_manifest(config, n_scenes, seed, shard_size):
    import galsim
    import h5py

    from .. import __version__

    identity, dataset_id = _identity(config.to_dict(), n_scenes, seed,
                                     shard_size)
    shards = []
    for number, start in enumerate(range(0, n_scenes, shard_size)):
        shards.append({'file': f'shard-{number:05d}.h5', 'start': start,
                       'stop': min(start + shard_size, n_scenes)})
    return {**identity, 'dataset_id': dataset_id, 'shards': shards,
            'galseg_version': __version__, 'galsim_version': galsim.__version__,
            'numpy_version': np.__version__, 'h5py_version': h5py.__version__}


def _read_manifest(directory):
    path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        msg = f'cannot read the dataset manifest {path}: {exc}'
        raise ValueError(msg) from None
    if not isinstance(manifest, dict) or manifest.get('format') != DATASET_FORMAT:
        msg = f'{path} is not a galseg simulation manifest'
        raise ValueError(msg)
    return manifest


def _describe_difference(old, new):
    keys = [key for key in ('seed', 'n_scenes', 'shard_size',
                            'format_version', 'drawing_version')
            if old.get(key) != new.get(key)]
    if old.get('config') != new.get('config'):
        old_config = old.get('config') or {}
        keys += [f'config.{key}' for key in sorted(new['config'])
                 if old_config.get(key) != new['config'][key]]
    return ', '.join(keys) or 'manifest'


def _own_files(directory):
    return [path for path in directory.iterdir()
            if path.name == MANIFEST_NAME or _SHARD_RE.match(path.name)
            or _TEMP_RE.match(path.name)]


def _prepare_directory(directory, manifest, overwrite):
    """Check ``directory`` before any work; clear it if overwriting."""
    if directory.exists() and not directory.is_dir():
        msg = f'{directory} exists and is not a directory'
        raise FileExistsError(msg)
    if not directory.exists():
        return
    manifest_path = directory / MANIFEST_NAME
    if overwrite:
        for path in _own_files(directory):
            path.unlink()
        return
    if manifest_path.exists():
        try:
            old = _read_manifest(directory)
        except ValueError as exc:
            msg = f'{exc}; use overwrite (--overwrite) to replace it'
            raise FileExistsError(msg) from None
        if old.get('dataset_id') != manifest['dataset_id']:
            msg = (f'{directory} holds a different dataset (differs in '
                   f'{_describe_difference(old, manifest)}); use overwrite '
                   '(--overwrite) to replace it or choose another directory')
            raise FileExistsError(msg)
        return
    if any(directory.iterdir()):
        msg = (f'{directory} is not empty and holds no galseg dataset; use '
               'overwrite (--overwrite) to write into it or choose another '
               'directory')
        raise FileExistsError(msg)


def _shard_is_complete(path, dataset_id):
    import h5py

    try:
        with h5py.File(path, 'r') as shard:
            return shard.attrs.get('dataset_id') == dataset_id
    except OSError:
        return False


def _write_shard(config, seed, start, stop, path, dataset_id):
    """Simulate scenes ``start:stop`` and write them atomically to ``path``."""
    import h5py

    from ..utils import atomic_output

    scenes = [simulate_scene(config, seed, index)
              for index in range(start, stop)]
    n_bands = len(config.bands)
    size = config.stamp_size
    counts = [scene.n_sources for scene in scenes]
    source_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def stack(name):
        return np.concatenate([getattr(scene, name) for scene in scenes])

    with atomic_output(path, overwrite=True) as tmp_path:
        with h5py.File(tmp_path, 'w', track_order=True) as shard:
            shard.attrs['format'] = DATASET_FORMAT
            shard.attrs['format_version'] = DATASET_FORMAT_VERSION
            shard.attrs['dataset_id'] = dataset_id
            shard.attrs['start'] = start
            shard.attrs['stop'] = stop

            def create(group, name, data, **kwargs):
                group.create_dataset(name, data=data, track_times=False,
                                     **kwargs)

            create(shard, 'image', np.stack([s.image for s in scenes]),
                   chunks=(1, n_bands, size, size))
            create(shard, 'isolated', stack('isolated'),
                   chunks=(1, n_bands, size, size), **_COMPRESSION)
            create(shard, 'footprints', stack('footprints'),
                   chunks=(1, size, size), **_COMPRESSION)
            create(shard, 'source_start', source_start)
            create(shard, 'scene_index',
                   np.arange(start, stop, dtype=np.int64))
            create(shard, 'boxes', stack('boxes'))
            create(shard, 'classes', stack('classes'))
            create(shard, 'noise_sigma',
                   np.stack([s.noise_sigma for s in scenes]))
            create(shard, 'psf_fwhm', np.stack([s.psf_fwhm for s in scenes]))
            create(shard, 'pixel_scale',
                   np.array([s.pixel_scale for s in scenes], dtype=np.float32))
            create(shard, 'noise_correlation',
                   np.array([s.noise_correlation for s in scenes],
                            dtype=np.float32))
            psf = np.stack([s.psf for s in scenes])
            create(shard, 'psf', psf, chunks=(1, *psf.shape[1:]),
                   **_COMPRESSION)
            if config.faint_sources[1] > 0:
                create(shard, 'faint', np.stack([s.faint for s in scenes]),
                       chunks=(1, n_bands, size, size), **_COMPRESSION)
            catalog = shard.create_group('catalog', track_order=True)
            for name in CATALOG_DTYPES:
                create(catalog, name,
                       np.concatenate([np.asarray(s.catalog[name])
                                       for s in scenes]))
    return stop - start


def _run_shards(config, seed, tasks, workers, scheduler, progress_bar):
    if workers == 1 and scheduler is None:
        for task in tasks:
            progress_bar.update(_write_shard(config, seed, *task))
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # a free port for the scheduler's HTTP server, which starts even
        # without a dashboard: a second simulation at the same time must
        # not find its default port taken
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                               processes=True, dashboard_address=':0',
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [client.submit(_write_shard, config, seed, *task,
                                 pure=False, key=f'galseg-shard-{task[2]}')
                   for task in tasks]
        for future in as_completed(futures):
            progress_bar.update(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def simulate_dataset(config, n_scenes, seed, out_dir, workers=1,
                     scheduler=None, overwrite=False, progress=False,
                     shard_size=None):
    """
    Simulate a dataset of scenes and write it to sharded HDF5 files.

    Scene ``i`` is ``simulate_scene(config, seed, i)``, so the data are
    the same whatever the number of workers.  Each shard is written to a
    temporary file and renamed when complete; running the same command
    again after an interruption skips the complete shards.

    Parameters
    ----------
    config : `SimulationConfig`
        The simulation settings.
    n_scenes : int
        The number of scenes.
    seed : int
        The dataset seed.
    out_dir : str or `~pathlib.Path`
        The output directory (created if needed).  It receives
        ``manifest.json`` and ``shard-NNNNN.h5`` files.
    workers : int, optional
        The number of worker processes.  With 1 (and no ``scheduler``)
        the work runs in this process; with more, on a local
        `dask.distributed` cluster of processes.
    scheduler : str, optional
        The address of a running `dask.distributed` scheduler to use
        instead (its workers must see ``out_dir``).
    overwrite : bool, optional
        Whether to replace a different dataset (or other galseg files)
        in ``out_dir``; also restarts an identical one from scratch.
    progress : bool, optional
        Whether to show a progress bar (tqdm).
    shard_size : int, optional
        The number of scenes per shard.  By default
        ``min(128, max(8, ceil(n_scenes / 16)))``: it depends only on
        ``n_scenes``, never on the number of workers, so that the files
        are the same however the data were made.

    Returns
    -------
    dataset : `SimulatedDataset`
        The dataset, opened for reading.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds a different dataset or other files and
        ``overwrite`` is `False`.
    ValueError, TypeError, FileNotFoundError
        If an argument or the config's input catalog is invalid.  All
        checks happen before any work starts.
    """
    if not isinstance(config, SimulationConfig):
        msg = f'config must be a SimulationConfig, got {type(config).__name__}'
        raise TypeError(msg)
    n_scenes = check_int('n_scenes', n_scenes, minimum=1)
    seed = check_int('seed', seed, minimum=0)
    workers = check_int('workers', workers, minimum=1)
    if shard_size is None:
        shard_size = min(128, max(8, -(-n_scenes // 16)))
    shard_size = check_int('shard_size', shard_size, minimum=1)
    if scheduler is not None and not isinstance(scheduler, str):
        msg = f'scheduler must be an address string, got {scheduler!r}'
        raise TypeError(msg)
    config.check_inputs()
    out_dir = Path(out_dir)
    manifest = _build_manifest(config, n_scenes, seed, shard_size)
    _prepare_directory(out_dir, manifest, overwrite)

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in out_dir.iterdir():  # leftovers of a killed run
        if _TEMP_RE.match(path.name):
            path.unlink()
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.exists():
        from ..utils import atomic_output

        with atomic_output(manifest_path) as tmp_path:
            tmp_path.write_text(json.dumps(manifest, indent=2) + '\n')

    tasks, done = [], 0
    for shard in manifest['shards']:
        path = out_dir / shard['file']
        if path.exists() and _shard_is_complete(path, manifest['dataset_id']):
            done += shard['stop'] - shard['start']
        else:
            tasks.append((shard['start'], shard['stop'], str(path),
                          manifest['dataset_id']))
    from tqdm.auto import tqdm

    with tqdm(total=n_scenes, initial=done, unit='scene', disable=not progress,
              desc='simulate') as progress_bar:
        _run_shards(config, seed, tasks, workers, scheduler, progress_bar)
    return read_dataset(out_dir)


def read_dataset(path):
    """
    Open a simulated dataset for reading.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The dataset directory (holding ``manifest.json``).

    Returns
    -------
    dataset : `SimulatedDataset`

    Raises
    ------
    FileNotFoundError
        If there is no manifest.
    ValueError
        If the dataset is incomplete or of another format version.
    """
    return SimulatedDataset(path)


class SimulatedDataset:
    """
    A simulated dataset on disk, read scene by scene as NumPy arrays.

    ``len(ds)`` is the number of scenes, ``ds[i]`` the `Scene` of index
    ``i`` (identical to ``simulate_scene(ds.config, ds.seed, i)``), and
    iterating yields the scenes in order.  Random access reads a few
    chunks of one shard (a few milliseconds for a 128-pixel scene).
    HDF5 files are opened on first use and closed by `close` (or a
    ``with`` block); a pickled dataset reopens them where it is used.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The dataset directory.

    Attributes
    ----------
    manifest : dict
        The manifest (config, seed, shards, versions).
    config : `SimulationConfig`
        The simulation settings.
    seed : int
        The dataset seed.
    """

    def __init__(self, path):
        self.path = Path(path)
        manifest_path = self.path / MANIFEST_NAME
        if not manifest_path.exists():
            msg = f'{self.path} holds no galseg dataset ({MANIFEST_NAME} missing)'
            raise FileNotFoundError(msg)
        self.manifest = _read_manifest(self.path)
        if self.manifest.get('format_version') != DATASET_FORMAT_VERSION:
            msg = (f'{self.path}: dataset format version '
                   f'{self.manifest.get("format_version")} is not supported '
                   f'(this galseg reads version {DATASET_FORMAT_VERSION})')
            raise ValueError(msg)
        missing = [shard['file'] for shard in self.manifest['shards']
                   if not (self.path / shard['file']).exists()]
        if missing:
            msg = (f'{self.path}: incomplete dataset, {len(missing)} of '
                   f'{len(self.manifest["shards"])} shards missing; run the '
                   'same simulation again to finish it')
            raise ValueError(msg)
        self.config = SimulationConfig.from_dict(self.manifest['config'])
        self.seed = self.manifest['seed']
        self._starts = [shard['start'] for shard in self.manifest['shards']]
        self._files = {}
        self._small = {}

    def __len__(self):
        return self.manifest['n_scenes']

    def __repr__(self):
        return (f'<SimulatedDataset {str(self.path)!r}: {len(self)} scenes, '
                f'bands {",".join(self.config.bands)}, '
                f'{self.config.stamp_size} px>')

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_files'] = {}
        state['_small'] = {}
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close the open HDF5 files."""
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._small.clear()

    def _shard(self, number):
        if number not in self._files:
            import h5py

            shard = self.manifest['shards'][number]
            handle = h5py.File(self.path / shard['file'], 'r')
            if handle.attrs.get('dataset_id') != self.manifest['dataset_id']:
                handle.close()
                msg = (f'{self.path / shard["file"]} belongs to another '
                       'dataset')
                raise ValueError(msg)
            self._files[number] = handle
            # the small per-scene and per-source arrays, read once
            small = {name: handle[name][()] for name in (
                'source_start', 'boxes', 'classes', 'noise_sigma',
                'psf_fwhm', 'pixel_scale')}
            # white noise and no faint population in older datasets
            small['noise_correlation'] = (
                handle['noise_correlation'][()]
                if 'noise_correlation' in handle
                else np.zeros(len(small['pixel_scale']), np.float32))
            small['catalog'] = {name: handle['catalog'][name][()]
                                for name in CATALOG_DTYPES}
            # read scene by scene (no faint population, no PSF images in
            # older datasets)
            small['datasets'] = {name: handle[name] for name in (
                'image', 'isolated', 'footprints', 'faint', 'psf')
                if name in handle}
            self._small[number] = small
        return self._files[number], self._small[number]

    def __getitem__(self, index):
        from astropy.table import Table

        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            msg = f'scene index must be an integer, got {type(index).__name__}'
            raise TypeError(msg)
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            msg = f'scene index {index} out of range for {len(self)} scenes'
            raise IndexError(msg)
        number = bisect.bisect_right(self._starts, index) - 1
        _, small = self._shard(number)
        data = small['datasets']
        local = index - self._starts[number]
        first, last = small['source_start'][local:local + 2]
        isolated = data['isolated'][first:last]
        noiseless = noiseless_sum(isolated)
        faint = data['faint'][local] if 'faint' in data else None
        if faint is not None:
            noiseless += faint
        return Scene(
            image=data['image'][local],
            noiseless=noiseless,
            isolated=isolated,
            footprints=data['footprints'][first:last],
            boxes=small['boxes'][first:last],
            classes=small['classes'][first:last],
            noise_sigma=small['noise_sigma'][local],
            psf_fwhm=small['psf_fwhm'][local],
            pixel_scale=float(small['pixel_scale'][local]),
            catalog=Table({name: column[first:last]
                           for name, column in small['catalog'].items()}),
            bands=tuple(self.config.bands),
            noise_correlation=float(small['noise_correlation'][local]),
            faint=faint,
            psf=data['psf'][local] if 'psf' in data else None)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
