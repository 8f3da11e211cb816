"""
Make the gallery of simulated scenes of the simulation docs page
(docs/simulate.rst).

Usage::

    python docs/simulate_gallery.py docs/_static/simulate_gallery.png

or, for another simulation config (a JSON or TOML file of
`galseg.simulate.SimulationConfig` fields) or seed::

    python docs/simulate_gallery.py OUTPUT.png --config sim.json --seed 3

Each panel is one scene of the config, index 0, 1, 2, ... of the seed
(by default the sky-like training recipe,
``galseg/models/recipe/sky_simulation.json``, and seed 2, which no
training set or benchmark uses), shown with an arcsinh stretch; its
title gives the pixel scale, the PSF FWHM, the noise correlation and the
number of sources.  Crosses mark the true galaxies (cyan) and stars
(red).
"""

import argparse
from pathlib import Path

import numpy as np

RECIPE = (Path(__file__).resolve().parent.parent
          / 'galseg' / 'models' / 'recipe' / 'sky_simulation.json')


def draw_gallery(config, seed, out, n_rows=2, n_columns=6):
    """Draw ``n_rows * n_columns`` scenes of ``config`` into ``out``."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from galseg.simulate import STAR, simulate_scene
    from galseg.utils import atomic_output

    fig, axes = plt.subplots(n_rows, n_columns,
                             figsize=(2.2 * n_columns, 2.7 * n_rows))
    for index, ax in enumerate(np.ravel(axes)):
        scene = simulate_scene(config, seed, index)
        image = scene.image.sum(axis=0)
        sigma = float(np.sqrt(np.sum(scene.noise_sigma**2)))
        ax.imshow(np.arcsinh(image / (3 * sigma)), origin='lower',
                  cmap='gray', vmin=-1, vmax=float(np.arcsinh(
                      np.percentile(image, 99.8) / (3 * sigma))))
        stars = scene.classes == STAR
        for mask, colour in ((~stars, 'cyan'), (stars, 'red')):
            ax.plot(scene.catalog['x'][mask], scene.catalog['y'][mask], '+',
                    color=colour, ms=6, mew=1)
        ax.set_title(f'{scene.pixel_scale:.2f}"/px, PSF '
                     f'{scene.psf_fwhm[0]:.1f} px\n'
                     f'noise corr. {scene.noise_correlation:.1f} px, '
                     f'{scene.n_sources} src', fontsize=7)
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_output(out, overwrite=True) as tmp_path:
        fig.savefig(tmp_path, dpi=70, format=Path(out).suffix[1:] or 'png')
    plt.close(fig)


def main(argv=None):
    from galseg.simulate import SimulationConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('out', help='the PNG file to write')
    parser.add_argument('--config', default=str(RECIPE),
                        help='a simulation config file (default: the '
                             'sky-like training recipe)')
    parser.add_argument('--seed', type=int, default=2)
    args = parser.parse_args(argv)
    draw_gallery(SimulationConfig.from_file(args.config), args.seed,
                 args.out)


if __name__ == '__main__':
    main()
