"""
Deblending at depth: the held-out two-galaxy blends of
``deblend_quality.py`` (seed 404) as simulated, made 10 and 100 times
deeper (the noise divided by 10 and 100) and noiseless, deblended with
galseg showing the network tiles as they are (``max_tile_snr=None``)
and no deeper than a peak signal-to-noise ratio of 1000 (the default),
next to photutils on the same images.

The true sources and footprints stay those of the scenes as simulated,
so only the detection-level scores are printed: precision, recall,
images with a galaxy missed (under-count) and the fraction of pairs
with both members found, by separation in PSF FWHM.

Run: ``python benchmarks/depth.py [--n 200] [--model default]``
"""

import argparse
import os
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

from deblend_quality import BINS, SETS, simulated_set  # noqa: E402

DEPTHS = (1.0, 10.0, 100.0, np.inf)
SHOWN = ('det_precision', 'det_recall', 'under_count')
PAIR_BINS = ('1-1.5', '1.5-2', '2-3')


def deeper(scene, factor):
    """The scene with its noise divided by ``factor`` (inf: noiseless),
    its truth unchanged."""
    noise = scene.image - scene.noiseless
    return SimpleNamespace(
        image=scene.noiseless + noise / factor,
        noise_sigma=np.asarray(scene.noise_sigma) / min(factor, 1e6),
        footprints=scene.footprints, catalog=scene.catalog,
        psf_fwhm=scene.psf_fwhm, pixel_scale=scene.pixel_scale)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=200,
                        help='two-galaxy blends')
    parser.add_argument('--model', default='default')
    parser.add_argument('--data-dir', default='benchmark-data')
    parser.add_argument('--workers', type=int, default=2)
    args = parser.parse_args()

    from galseg import MaskRCNNDeblender
    from galseg.evaluation import (evaluate, galseg_predictor,
                                   photutils_predictor)

    folder, seed, n_sources = SETS['two-galaxy blends']
    dataset = simulated_set(Path(args.data_dir) / folder, seed, n_sources,
                            args.n, args.workers)
    scenes = [dataset[i] for i in range(len(dataset))]
    methods = {
        'galseg, max_tile_snr=None': galseg_predictor(
            MaskRCNNDeblender(args.model, max_tile_snr=None)),
        'galseg, max_tile_snr=1000': galseg_predictor(
            MaskRCNNDeblender(args.model, max_tile_snr=1000.0)),
        'photutils': photutils_predictor(),
    }
    header = ['depth', 'method', *SHOWN,
              *(f'both found {b}' for b in PAIR_BINS)]
    print(f'model: {args.model}; {len(scenes)} two-galaxy blends, '
          f'seed {seed}\n')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    start = time.perf_counter()
    for factor in DEPTHS:
        depth = 'noiseless' if np.isinf(factor) else f'x{factor:g}'
        result = evaluate([deeper(scene, factor) for scene in scenes],
                          methods, separation_bins=BINS, n_gallery=0)
        for row in result.table:
            values = [f'{float(row[c]):.3f}' for c in SHOWN]
            values += [f'{float(row[f"det_recovery_{b}"]):.3f}'
                       for b in PAIR_BINS]
            print(f'| {depth} | {row["method"]} | ' + ' | '.join(values)
                  + ' |')
    print(f'\n({time.perf_counter() - start:.0f} s)')


if __name__ == '__main__':
    main()
