"""
Star/galaxy classification of galseg's catalog on held-out sky-like
scenes.

Simulates ``--n`` scenes of the sky-like training recipe
(``galseg/models/recipe/sky_simulation.json``: 15% stars, bright ones
included, galaxies of every kind) with seed 9101 (never used in
training or for choosing thresholds), deblends each with
``MaskRCNNDeblender(model)``, matches the catalog to the truth by
position (a source is found when its centroid lies within one PSF FWHM,
or the half-light radius if larger, of a true source not matched yet,
best scores first:
`galseg.evaluation.match_catalog`), and prints, per bin of the true
signal-to-noise, the sources found and the fraction whose
``classification`` is right, with the completeness and purity of the
stars.  The issue's target is >= 0.95 correct at S/N >= 20.

Run: ``python benchmarks/classification.py [--model default] [--n 300]``
"""

import argparse
import json
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

SEED = 9101
SNR_BINS = (0.0, 20.0, 100.0, 1000.0, np.inf)


def matched_classes(deblender, scene):
    """(true class, true S/N, predicted class) of every true source found,
    and the predicted classes of the detections matching nothing."""
    from photutils.utils import NoDetectionsWarning

    from galseg.catalog import CLASS_NAMES
    from galseg.evaluation import match_catalog, scene_truth

    truth = scene_truth(scene)
    catalog = scene.catalog[np.asarray(scene.catalog['has_footprint'],
                                       dtype=bool)]
    noise = np.asarray(scene.noise_sigma, dtype=np.float32)
    error = np.broadcast_to(noise.reshape(-1, 1, 1),
                            scene.image.shape).copy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        result = deblender.deblend(scene.image, error=error, background=0.0)
    if result is None:
        return []
    found = result.catalog
    to_true = match_catalog(found, result.scores, truth)
    names = {name: number for number, name in CLASS_NAMES.items()}
    return [(int(catalog['class'][t]), float(catalog['snr'][t]),
             names[str(found['classification'][i])])
            for i, t in enumerate(to_true) if t >= 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--n', type=int, default=300, help='scenes')
    args = parser.parse_args()

    from galseg import MaskRCNNDeblender
    from galseg.models import RECIPE_DIR
    from galseg.simulate import STAR, SimulationConfig, simulate_scene

    config = SimulationConfig.from_dict(json.loads(
        (RECIPE_DIR / 'sky_simulation.json').read_text()))
    deblender = MaskRCNNDeblender(args.model)
    rows = []
    for index in range(args.n):
        rows.extend(matched_classes(deblender,
                                    simulate_scene(config, SEED, index)))
    true, snr, predicted = (np.array(column) for column in zip(*rows))
    print(f'model {args.model}; {args.n} scenes of sky_simulation.json, '
          f'seed {SEED}; {len(rows)} true sources found\n')
    print('| true S/N | galaxies | stars | correct | star completeness '
          '| star purity |')
    print('|---|---|---|---|---|---|')
    bins = list(zip(SNR_BINS[:-1], SNR_BINS[1:])) + [(20.0, np.inf)]
    for low, high in bins:
        inside = (snr >= low) & (snr < high)
        stars = inside & (true == STAR)
        called = inside & (predicted == STAR)
        correct = (true[inside] == predicted[inside]).mean() \
            if inside.any() else np.nan
        complete = (predicted[stars] == STAR).mean() if stars.any() \
            else np.nan
        pure = (true[called] == STAR).mean() if called.any() else np.nan
        label = f'>= {low:g}' if high == np.inf and low == 20 else \
            f'{low:g}-{high:g}'
        print(f'| {label} | {int((inside & (true != STAR)).sum())} | '
              f'{int(stars.sum())} | {correct:.3f} | {complete:.3f} | '
              f'{pure:.3f} |')


if __name__ == '__main__':
    main()
