"""
Crowded fields: galseg next to photutils and SEP as the number of
sources per 128 px stamp grows beyond the training stamps' 1-8.

Simulates, for each crowding level, ``--n`` stamps of the sky-like
training recipe (``galseg/models/recipe/sky_simulation.json``) with
``n_sources`` replaced by the level's range and each new source 0.8-12
PSF FWHM from an earlier one (so that the sources fill the stamp), with
seeds 9201, 9202, ... (never used in training or for choosing
thresholds), and scores every method with `galseg.evaluation.evaluate`
(what users get: segmentation images and catalogs).  For galseg it
also counts the stamps where the network answered with a detection
spanning the whole tile (`galseg.tiling.catch_all_detections`: the
deblender drops it and warns).

Then runs the three methods on a real deep image with no truth,
``skimage.data.hubble_deep_field`` (grey, bundled with scikit-image),
and prints how many sources each finds and how many of galseg's tiles
were crowded beyond its training.

Run: ``python benchmarks/crowding.py [--model default] [--n 30]``
"""

import argparse
import json
import os
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

from galseg.models import RECIPE_DIR  # noqa: E402

#: level name: n_sources range
LEVELS = {'4-6': (4, 6), '10-14': (10, 14), '20-30': (20, 30),
          '40-50': (40, 50)}
FIRST_SEED = 9201
COLUMNS = ('det_precision', 'det_recall', 'AP50', 'over_count',
           'under_count')


def level_scenes(n_sources, seed, n_scenes):
    """Sky-like stamps of ``n_sources`` sources: a function of the seed."""
    from galseg.simulate import SimulationConfig, simulate_scene

    values = json.loads((RECIPE_DIR / 'sky_simulation.json').read_text())
    values.update(n_sources=list(n_sources), separation=[0.8, 12.0])
    config = SimulationConfig.from_dict(values)
    return [simulate_scene(config, seed, index) for index in range(n_scenes)]


def crowded_tiles(deblender, image, background=None, error=None):
    """The deblender's sources and the number of tiles it warned about."""
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', AstropyUserWarning)
        result = deblender.deblend(image, background=background, error=error)
    n_tiles = sum(_crowded(warning) for warning in caught)
    return (0 if result is None else result.n_sources), n_tiles


def _crowded(warning):
    """The number of tiles a deblender's warning calls too crowded."""
    text = str(warning.message)
    if 'more crowded than the model' not in text:
        return 0
    return int(text.split()[0])


def hubble_deep_field():
    """The Hubble Deep Field image of scikit-image, grey, in 0-255."""
    from skimage import color, data

    return (color.rgb2gray(data.hubble_deep_field()) * 255).astype(
        np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--n', type=int, default=30,
                        help='stamps per crowding level')
    args = parser.parse_args()

    from astropy.stats import sigma_clipped_stats

    from galseg import MaskRCNNDeblender
    from galseg.evaluation import default_methods, evaluate
    from galseg.evaluation.baselines import photutils_deblend, sep_deblend

    deblender = MaskRCNNDeblender(model=args.model)
    print(f'model: {args.model}; {deblender!r}\n')
    header = ['sources per stamp', 'true sources', 'method', *COLUMNS]
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    start = time.perf_counter()
    for seed, (name, n_sources) in enumerate(LEVELS.items(), FIRST_SEED):
        scenes = level_scenes(n_sources, seed, args.n)
        n_true = sum(int(np.sum(scene.catalog['has_footprint']))
                     for scene in scenes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            table = evaluate(scenes, default_methods(deblender),
                             n_gallery=0).table
        for row in table:
            values = [f'{float(row[c]):.3f}' for c in COLUMNS]
            print(f"| {name} | {n_true} | {row['method']} | "
                  + ' | '.join(values) + ' |')
        # one warning per stamp (a stamp is one tile)
        crowded = sum(_crowded(warning) > 0 for warning in caught)
        print(f'| {name} | | galseg stamps with a tile-wide detection | '
              f'{crowded} of {len(scenes)} | | | | |')

    image = hubble_deep_field()
    _, sky, noise = sigma_clipped_stats(image)
    n_galseg, n_tiles = crowded_tiles(deblender, image)
    n_photutils = len(photutils_deblend(image - sky, noise).masks)
    n_sep = len(sep_deblend(image - sky, noise).masks)
    print(f'\nHubble Deep Field ({image.shape[1]}x{image.shape[0]} px, '
          'skimage.data; no truth): galseg '
          f'{n_galseg} sources ({n_tiles} tiles crowded beyond its '
          f'training), photutils {n_photutils}, SEP {n_sep} (both at '
          'their benchmark settings, on the image minus its sigma-clipped '
          'median)')
    print(f'\n{time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
    main()
