"""
Deblending quality of galseg next to photutils and SEP, on held-out
simulated scenes.

Two test sets are simulated with the default model's recipe
(``galseg/models/recipe/simulation.json``) and seeds never used in
training: blends of 1 to 6 sources (seed 303) and two-galaxy blends
(seed 404).  Every method runs on the same scenes, and the script
prints, per set, the instance-mask AP, precision/recall/F1 at IoU 0.5,
the median relative flux error, and the fraction of close pairs whose
two members are both recovered, against their separation in PSF FWHM.

Run: ``python benchmarks/deblend_quality.py [--n 1000] [--model default]``
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

from galseg.models import RECIPE_DIR  # noqa: E402

SETS = {'blends of 1-6 sources': ('mixed', 303, None),
        'two-galaxy blends': ('pairs', 404, (2, 2))}
BINS = (0.0, 0.5, 0.75, 1.25, 2.0, 3.0, 5.0)


def simulated_set(directory, seed, n_sources, n_scenes, workers):
    """Simulate (or reuse) a test set made with the recipe config."""
    from galseg.simulate import (SimulationConfig, read_dataset,
                                 simulate_dataset)

    values = json.loads((RECIPE_DIR / 'simulation.json').read_text())
    if n_sources is not None:
        values['n_sources'] = list(n_sources)
    config = SimulationConfig.from_dict(values)
    if (directory / 'manifest.json').exists():
        dataset = read_dataset(directory)
        if (dataset.seed == seed and len(dataset) == n_scenes
                and dataset.config == config):
            return dataset
    return simulate_dataset(config, n_scenes, seed, directory,
                            workers=workers, overwrite=True)


def print_table(name, result):
    table = result.table
    print(f'\n### {name}: {int(table["n_images"][0])} scenes, '
          f'{int(table["n_true"][0])} true sources\n')
    columns = ('AP', 'AP50', 'AP75', 'precision', 'recall', 'F1',
               'median_flux_error', 'time_per_image')
    print('| method | ' + ' | '.join(columns) + ' |')
    print('|---' * (len(columns) + 1) + '|')
    for row in table:
        values = ' | '.join(f'{float(np.asarray(row[c])):.3f}'
                            for c in columns)
        print(f'| {row["method"]} | {values} |')
    errors = {method: summary['source_flux_errors']
              for method, summary in result.summaries.items()}
    common = np.logical_and.reduce([np.isfinite(e) for e in errors.values()])
    print(f'\nmedian flux error on the {int(common.sum())} sources that '
          'every method found: '
          + ', '.join(f'{method} {np.median(e[common]):.3f}'
                      for method, e in errors.items()))
    bins = result.separation_bins
    labels = [f'{lo:g}-{hi:g}' for lo, hi in zip(bins[:-1], bins[1:])]
    print('\npairs with both members recovered (IoU >= 0.5), by '
          'separation in PSF FWHM:\n')
    print('| method | ' + ' | '.join(labels) + ' |')
    print('|---' * (len(labels) + 1) + '|')
    n_pairs = result.summaries[result.methods[0]]['n_pairs']
    print('| (pairs) | ' + ' | '.join(str(int(n)) for n in n_pairs) + ' |')
    for method, recovery in result.pair_recovery.items():
        print(f'| {method} | '
              + ' | '.join(f'{r:.3f}' for r in recovery) + ' |')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=1000,
                        help='scenes per test set')
    parser.add_argument('--model', default='default')
    parser.add_argument('--score-threshold', type=float, default=None,
                        help="galseg's score threshold (default: "
                             "MaskRCNNDeblender's)")
    parser.add_argument('--also-threshold', type=float, default=0.3,
                        help='also score galseg at this lower threshold '
                             '(its AP and completeness); negative: no')
    parser.add_argument('--data-dir', default='benchmark-data',
                        help='where the test sets and plots are written')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--sets', default='mixed,pairs',
                        help='comma-separated test sets to run: mixed '
                             '(1-6 sources), pairs (two galaxies)')
    args = parser.parse_args()
    chosen = args.sets.split(',')

    from galseg import MaskRCNNDeblender
    from galseg.train import default_methods, evaluate, galseg_predictor

    settings = ({} if args.score_threshold is None
                else {'score_threshold': args.score_threshold})
    deblender = MaskRCNNDeblender(model=args.model, **settings)
    print(f'model: {args.model}; {deblender!r}')
    methods = default_methods(deblender)
    if args.also_threshold >= 0:
        low = MaskRCNNDeblender(model=deblender.model,
                                score_threshold=args.also_threshold)
        methods[f'galseg (score >= {args.also_threshold:g})'] = \
            galseg_predictor(low)
    data_dir = Path(args.data_dir)
    for name, (folder, seed, n_sources) in SETS.items():
        if folder not in chosen:
            continue
        start = time.perf_counter()
        dataset = simulated_set(data_dir / folder, seed, n_sources, args.n,
                                args.workers)
        result = evaluate(dataset, methods,
                          plots_dir=data_dir / f'plots-{folder}',
                          separation_bins=BINS, overwrite=True)
        print_table(name, result)
        print(f'\n({time.perf_counter() - start:.0f} s; plots in '
              f'{data_dir / f"plots-{folder}"})')


if __name__ == '__main__':
    main()
