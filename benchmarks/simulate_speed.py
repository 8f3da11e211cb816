"""
Benchmark galseg.simulate: scenes per second per worker.

Times 128x128-pixel single-band LSST-like scenes of exactly 2 and of
exactly 6 sources, simulated in this process (one worker = one core),
alone and with the HDF5 writing of `simulate_dataset`, and the random
access read time of the written data; the same with every galaxy and
PSF option of the simulator on (``ALL_OPTIONS``: knots, Sersic and
irregular galaxies, offset bulges with their own shapes, stars, Airy
PSFs among the ground-based ones).

Usage::

    python benchmarks/simulate_speed.py [--n 200] [--seed 0]
"""

import argparse
import tempfile
import time

import numpy as np

from galseg.simulate import (SimulationConfig, simulate_dataset,
                             simulate_scene)


def _rate(n_scenes, seconds):
    return n_scenes / seconds if seconds > 0 else float('inf')


#: Every option that makes scenes more varied (and slower) switched on.
ALL_OPTIONS = dict(knot_fraction=(0.0, 0.5), sersic_fraction=0.3,
                   irregular_fraction=0.2,
                   bulge_offset=(0.0, 0.5), bulge_ellipticity=(0.0, 0.5),
                   star_fraction=0.1,
                   psf_profiles=('moffat', 'kolmogorov', 'airy'))


def bench(n_sources, n_scenes, seed, options=None):
    config = SimulationConfig(stamp_size=128, bands=('i',),
                              n_sources=(n_sources, n_sources),
                              **(options or {}))
    simulate_scene(config, seed, n_scenes)  # warm up GalSim's caches
    start = time.perf_counter()
    for index in range(n_scenes):
        simulate_scene(config, seed, index)
    simulate_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        dataset = simulate_dataset(config, n_scenes, seed, directory,
                                   workers=1, shard_size=64)
        write_s = time.perf_counter() - start
        rng = np.random.default_rng(seed)
        indices = rng.integers(0, n_scenes, 200)
        dataset[0]  # open the first shard
        start = time.perf_counter()
        for index in indices:
            dataset[int(index)]
        read_ms = (time.perf_counter() - start) / len(indices) * 1e3
        dataset.close()
    return (_rate(n_scenes, simulate_s), _rate(n_scenes, write_s), read_ms)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--n', type=int, default=200,
                        help='scenes per case (default 200)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    rows = [(n_sources, name, *bench(n_sources, args.n, args.seed, options))
            for name, options in (('default', None), ('all', ALL_OPTIONS))
            for n_sources in (2, 6)]
    header = ('sources', 'options', 'scenes/s/worker', 'with HDF5 writing',
              'random read (ms)')
    print(f'128x128 px, 1 band (LSST i), {args.n} scenes per case')
    print(' | '.join(header))
    print(' | '.join('-' * len(name) for name in header))
    for n_sources, name, simulate, write, read in rows:
        print(f'{n_sources:>{len(header[0])}} | {name:>{len(header[1])}} | '
              f'{simulate:>{len(header[2])}.1f} | '
              f'{write:>{len(header[3])}.1f} | {read:>{len(header[4])}.2f}')


if __name__ == '__main__':
    main()
