"""
Robustness of galseg next to photutils and SEP on held-out families of
scenes unlike (or harder than) the default training data.

Every family is the default model's simulation recipe
(``galseg/models/recipe/simulation.json``) with a few settings changed,
simulated with its own seed (9001, 9002, ...; never used in training):

* ``clumpy irregular``: isolated galaxies with star-forming knots, half
  of them irregular or merging systems of several components (each must
  come out as ONE source);
* ``large``: isolated galaxies of half-light radius 10-30 px, and
  ``large 512px`` the same on 512 px images, deblended through tiling;
* ``noise`` and ``noise correlated``: images whose only source is far
  below the noise (the truth is empty), with white noise and with noise
  correlated as in a resampled coadd (kernel sigma 0.5-1.5 px):
  spurious sources per megapixel;
* ``stars``: stars (SNR 10-30000, bright ones included) near and on
  galaxies;
* ``pairs smooth`` and ``pairs clumpy``: two galaxies 0.5-3 PSF FWHM
  apart;
* ``space-like PSF`` (the ``'space'`` conditions preset: 0.03-0.1"/px
  under an obscured Airy pattern of FWHM 1.5-2.5 px), ``poor seeing``
  (8-10 px) and ``low S/N`` (5-10);
* ``very bright``: one galaxy or a pair 1-3 PSF FWHM apart at S/N
  10^4-10^6, far above the simulated training range, as a nearby galaxy
  on a deep image (its wings spread far; it must not be cut up).

Each family is scored with `galseg.evaluation.evaluate` (what users get:
segmentation images and catalogs) and printed as one table; the
evaluation tables are written to ``robustness.ecsv`` and a gallery of
galseg's worst scenes per family (most extra sources, then most missed
galaxies) to ``worst-<family>.png`` in ``--out`` (none for a family
where galseg got every scene's count right; an earlier run's is
removed).

The seeds 9001, 9002, ... make the families held-out test data: nothing
is chosen on them. ``--first-seed`` draws the same families from other
seeds (e.g. 7001) as validation data, on which settings and training
recipes may be compared.

Run: ``python benchmarks/robustness.py [--model default] [--n 150]
[--first-seed 9001] [--docs docs/robustness_table.inc]``
"""

import argparse
import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

from galseg.models import RECIPE_DIR  # noqa: E402
from galseg.utils import atomic_output  # noqa: E402

ISOLATED = dict(n_sources=[1, 1], first_source_offset=16.0)
CLUMPY = dict(knot_fraction=[0.1, 0.5], n_knots=[10, 50])
PAIRS = dict(n_sources=[2, 2], separation=[0.5, 3.0])
LARGE = dict(ISOLATED, pixel_scale=[0.2, 0.2],
             half_light_radius=[2.0, 6.0], snr=[100.0, 1000.0])

#: name: (settings that replace the recipe's, scenes relative to --n)
FAMILIES = {
    'clumpy irregular': (dict(ISOLATED, **CLUMPY, irregular_fraction=0.5),
                         1.0),
    'large': (LARGE, 1.0),
    'large 512px': (dict(LARGE, stamp_size=512,
                         first_source_offset=128.0), 0.1),
    'noise': (dict(ISOLATED, snr=[0.01, 0.01]), 1.0),
    'stars': (dict(n_sources=[2, 4], star_fraction=0.5,
                   star_snr=[10.0, 30000.0], separation=[0.0, 2.0]), 1.0),
    'pairs smooth': (PAIRS, 1.0),
    'pairs clumpy': (dict(PAIRS, **CLUMPY), 1.0),
    'space-like PSF': (dict(conditions=['space']), 1.0),
    'poor seeing': (dict(psf_fwhm=[8.0, 10.0]), 1.0),
    'low S/N': (dict(snr=[5.0, 10.0]), 1.0),
    # new families go last, so that the others keep their seeds
    'noise correlated': (dict(ISOLATED, snr=[0.01, 0.01],
                              correlated_noise_fraction=1.0,
                              noise_correlation=[0.5, 1.5]), 1.0),
    'very bright': (dict(n_sources=[1, 2], snr=[1e4, 1e6],
                         separation=[1.0, 3.0]), 1.0),
}
FIRST_SEED = 9001
COLUMNS = ('AP50', 'det_precision', 'precision_separated', 'det_recall',
           'over_count',
           'under_count', 'fragments', 'spurious', 'total_flux_error')


def family_scenes(settings, seed, n_scenes):
    """The scenes of one family: a pure function of (settings, seed)."""
    from galseg.simulate import SimulationConfig, simulate_scene

    values = json.loads((RECIPE_DIR / 'simulation.json').read_text())
    values.update(settings)
    config = SimulationConfig.from_dict(values)
    return [simulate_scene(config, seed, index) for index in range(n_scenes)]


def recording(methods):
    """Predictors that also keep each scene's masks, by method."""
    kept = {name: [] for name in methods}

    def wrap(name, predict):
        def recorded(scene):
            prediction = predict(scene)
            kept[name].append(np.asarray(prediction.masks, dtype=bool))
            return prediction
        return recorded

    return {name: wrap(name, p) for name, p in methods.items()}, kept


def worst_examples(scenes, masks, n_worst=4):
    """galseg's worst scenes: most extra sources, then most missed."""
    from galseg.evaluation.evaluate import scene_truth

    truths = [scene_truth(scene)['masks'] for scene in scenes]
    excess = np.array([len(found) - len(truth) for found, truth
                       in zip(masks['galseg'], truths)])
    order = np.lexsort((excess < 0, -np.abs(excess)))
    return [{'index': int(i), 'image': np.asarray(scenes[i].image),
             'truth': truths[i],
             'predictions': {name: found[i] for name, found in masks.items()}}
            for i in order[:n_worst] if excess[i] != 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--n', type=int, default=150,
                        help='scenes per family (a tenth for 512 px)')
    parser.add_argument('--out', default='benchmark-data/robustness',
                        help='directory of the ECSV table and galleries')
    parser.add_argument('--families', default=','.join(FAMILIES),
                        help='comma-separated families to run')
    parser.add_argument('--first-seed', type=int, default=FIRST_SEED,
                        help='seed of the first family (9001: the held-out '
                             'test families; another value draws '
                             'validation families)')
    parser.add_argument('--docs', default=None, metavar='FILE',
                        help='also write the table as reStructuredText '
                             'into FILE (docs/robustness_table.inc)')
    args = parser.parse_args()

    from astropy.table import vstack

    from galseg import MaskRCNNDeblender
    from galseg.evaluation import default_methods, evaluate, plot_gallery

    chosen = [name.strip() for name in args.families.split(',')]
    unknown = sorted(set(chosen) - set(FAMILIES))
    if unknown:
        parser.error(f'unknown families: {", ".join(unknown)}')
    deblender = MaskRCNNDeblender(model=args.model)
    print(f'model: {args.model}; first seed {args.first_seed}; '
          f'{deblender!r}\n')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = ['family', 'scenes', 'method', *COLUMNS]
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    tables, rows = [], []
    start = time.perf_counter()
    for seed, (name, (settings, share)) in enumerate(FAMILIES.items(),
                                                     args.first_seed):
        if name not in chosen:
            continue
        scenes = family_scenes(settings, seed,
                               max(1, round(args.n * share)))
        methods, masks = recording(default_methods(deblender))
        result = evaluate(scenes, methods, n_gallery=0)
        table = result.table
        table.add_column([name] * len(table), name='family', index=0)
        tables.append(table)
        pixels = sum(scene.image[0].size for scene in scenes)
        for row in table:
            values = [f'{float(row[c]):.3f}' for c in COLUMNS]
            if name.startswith('noise'):
                n_found = row['n_pred']
                values[COLUMNS.index('spurious')] = \
                    f'{n_found / pixels * 1e6:.1f}/Mpx'
            rows.append([name, str(len(scenes)), row['method'], *values])
            print('| ' + ' | '.join(rows[-1]) + ' |')
        worst = worst_examples(scenes, masks)
        slug = re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')
        gallery = out / f'worst-{slug}.png'
        if worst:
            plot_gallery(worst, gallery, overwrite=True)
        else:
            # no scene went wrong: no gallery, not an earlier run's
            gallery.unlink(missing_ok=True)
    table = vstack(tables)
    table.write(out / 'robustness.ecsv', format='ascii.ecsv',
                overwrite=True)
    print(f'\n({time.perf_counter() - start:.0f} s; table and galleries in '
          f'{out})')
    if args.docs:
        with atomic_output(args.docs, overwrite=True) as tmp:
            tmp.write_text(rst_table(header, rows, args))
        print(f'wrote {args.docs}')


def rst_table(header, rows, args):
    """The table as a reStructuredText list-table, with how it was made."""
    lines = ['.. This file is written by benchmarks/robustness.py --docs; '
             'do not edit.', '',
             f'Printed by ``python benchmarks/robustness.py --model '
             f'{args.model} --n {args.n} --first-seed {args.first_seed}``.',
             '',
             '.. list-table::', '    :header-rows: 1', '']
    for cells in [header, *rows]:
        lines.append(f'    * - {cells[0]}')
        lines.extend(f'      - {cell}' for cell in cells[1:])
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
