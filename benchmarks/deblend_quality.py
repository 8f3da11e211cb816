"""
Deblending quality of galseg next to photutils and SEP, on held-out
simulated scenes, scored on what users get.

Two test sets are simulated with the default model's recipe
(``galseg/models/recipe/simulation.json``) and seeds never used in
training: blends of 1 to 6 sources (seed 303) and two-galaxy blends
(seed 404).  Every method runs on the same scenes: galseg's
segmentation image and ``deblended_flux`` from ``MaskRCNNDeblender()``,
photutils' segmentation and Kron fluxes (``SourceCatalog``), SEP's
segmentation and Kron fluxes (``sep.kron_radius`` + ``sep.sum_ellipse``).
The script prints, per set, the tables of
`galseg.evaluation.comparison_tables`: detection-level precision and recall,
over- and under-count, fragments, spurious detections, total- and
segment-flux errors (all sources and blended ones), pair recovery by
separation, and the flux error on the sources every method found; the
instance-mask AP of galseg is an extra row.

Run: ``python benchmarks/deblend_quality.py [--n 1000] [--model default]
[--docs docs/comparison_tables.inc]``
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


from galseg.models import RECIPE_DIR  # noqa: E402
from galseg.utils import atomic_output  # noqa: E402

SETS = {'blends of 1-6 sources': ('mixed', 303, None),
        'two-galaxy blends': ('pairs', 404, (2, 2))}
BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=1000,
                        help='scenes per test set')
    parser.add_argument('--model', default='default')
    parser.add_argument('--score-threshold', type=float, default=None,
                        help="galseg's score threshold (default: "
                             "MaskRCNNDeblender's)")
    parser.add_argument('--min-snr', type=float, default=None,
                        help="galseg's least segment signal-to-noise ratio "
                             "(default: MaskRCNNDeblender's)")
    parser.add_argument('--docs', default=None, metavar='FILE',
                        help='also write the tables as reStructuredText '
                             'into FILE (docs/comparison_tables.inc)')
    parser.add_argument('--data-dir', default='benchmark-data',
                        help='where the test sets and plots are written')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--sets', default='mixed,pairs',
                        help='comma-separated test sets to run: mixed '
                             '(1-6 sources), pairs (two galaxies)')
    args = parser.parse_args()
    chosen = args.sets.split(',')

    from galseg import MaskRCNNDeblender
    from galseg.evaluation import comparison_tables, default_methods, evaluate

    settings = {name: value for name, value in
                (('score_threshold', args.score_threshold),
                 ('min_snr', args.min_snr)) if value is not None}
    deblender = MaskRCNNDeblender(model=args.model, **settings)
    print(f'model: {args.model}; {deblender!r}')
    methods = default_methods(deblender, instance_masks=True)
    data_dir = Path(args.data_dir)
    docs = []
    for name, (folder, seed, n_sources) in SETS.items():
        if folder not in chosen:
            continue
        start = time.perf_counter()
        dataset = simulated_set(data_dir / folder, seed, n_sources, args.n,
                                args.workers)
        result = evaluate(dataset, methods,
                          plots_dir=data_dir / f'plots-{folder}',
                          separation_bins=BINS, overwrite=True)
        title = (f'{name}: {int(result.table["n_images"][0])} scenes, '
                 f'{int(result.table["n_true"][0])} true sources')
        print(f'\n### {title}\n')
        print(comparison_tables(result))
        print(f'({time.perf_counter() - start:.0f} s; plots in '
              f'{data_dir / f"plots-{folder}"})')
        docs.append(f'{title}\n{"-" * len(title)}\n\n'
                    + comparison_tables(result, fmt='rst'))
    if args.docs:
        header = ('.. This file is written by benchmarks/deblend_quality.py '
                  '--docs; do not edit.\n\n')
        with atomic_output(args.docs, overwrite=True) as tmp:
            tmp.write_text(header + '\n'.join(docs))
        print(f'wrote {args.docs}')


if __name__ == '__main__':
    main()
