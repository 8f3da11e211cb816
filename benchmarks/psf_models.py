"""
How ``spread_model`` depends on the PSF model it is given.

A 512x512 px field (seed 5) of 25 stars (S/N ~ 1,000-10,000) and 15
exponential galaxies of half-light radius 0.2-0.5 PSF FWHM, under a
Moffat PSF (beta 3, 4 px FWHM) with white noise, measured with
`galseg.star_galaxy.spread_models` on circular segments, given:

* the true PSF;
* an effective PSF built from 15 of the stars by photutils
  (`~photutils.psf.extract_stars` and `~photutils.psf.EPSFBuilder`,
  ``oversampling=1``), as a user without a PSF model would;
* a Moffat of the right profile 5 and 10 percent too narrow or too
  broad, and a Gaussian of the right FWHM.

Prints the 5th, 50th and 95th percentiles of ``spread_model`` of the
stars and the galaxies, next to the deblender's threshold
(`galseg.star_galaxy.SPREAD_THRESHOLD`): stars must stay below it and
galaxies above.

Run: ``python benchmarks/psf_models.py``
"""

import warnings

import numpy as np

SEED = 5
SIZE = 512
NOISE = 10.0
FWHM = 4.0


def field():
    import galsim

    rng = np.random.default_rng(SEED)
    psf = galsim.Moffat(beta=3.0, fwhm=FWHM)
    image = galsim.ImageD(SIZE, SIZE, scale=1.0)
    positions = rng.uniform(20, SIZE - 20, (40, 2))
    for index, (x, y) in enumerate(positions):
        if index < 25:
            profile = psf.withFlux(rng.uniform(5e4, 5e5))
        else:
            disk = galsim.Exponential(
                half_light_radius=rng.uniform(0.2, 0.5) * FWHM)
            profile = galsim.Convolve(disk, psf).withFlux(2e5)
        profile.drawImage(image=image, center=(x + 1, y + 1),
                          add_to_image=True)
    data = image.array + rng.normal(0.0, NOISE, image.array.shape)
    return data, positions, psf


def effective_psf(data, positions):
    from astropy.nddata import NDData
    from astropy.table import Table
    from photutils.psf import EPSFBuilder, extract_stars

    table = Table({'x': positions[:15, 0], 'y': positions[:15, 1]})
    stars = extract_stars(NDData(data), table, size=25)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        epsf, _ = EPSFBuilder(oversampling=1, maxiters=10,
                              progress_bar=False)(stars)
    return epsf.data


def main():
    import galsim

    from galseg.star_galaxy import (SPREAD_THRESHOLD, spread_models,
                                    validate_psf)

    data, positions, psf = field()
    yy, xx = np.indices(data.shape)
    labels = np.zeros(data.shape, dtype=int)
    for index, (x, y) in enumerate(positions):
        labels[np.hypot(xx - x, yy - y) <= 9] = index + 1

    def drawn(profile):
        return profile.drawImage(nx=25, ny=25, scale=1.0).array

    models = [('true PSF', drawn(psf)),
              ('photutils ePSF from 15 of the stars',
               effective_psf(data, positions))]
    for factor in (0.9, 0.95, 1.05, 1.1):
        models.append((f'Moffat, FWHM x {factor:g}',
                       drawn(galsim.Moffat(beta=3.0, fwhm=FWHM * factor))))
    models.append(('Gaussian of the right FWHM',
                   drawn(galsim.Gaussian(fwhm=FWHM))))

    print(f'{SIZE}x{SIZE} px field, 25 stars and 15 galaxies, Moffat PSF '
          f'(beta 3, {FWHM:g} px FWHM), seed {SEED}; threshold '
          f'{SPREAD_THRESHOLD}\n')
    print('| PSF given | stars: 5% / 50% / 95% | galaxies: 5% / 50% / 95% |'
          ' stars called galaxies | galaxies called stars |')
    print('|---|---|---|---|---|')
    variance = np.full((1,) + data.shape, NOISE ** 2)
    for name, image in models:
        spread, _ = spread_models(data[None], variance, labels, positions,
                                  validate_psf(image, 1))
        stars, galaxies = spread[:25], spread[25:]
        cells = [' / '.join(f'{value:.4f}' for value in
                            np.percentile(values, [5, 50, 95]))
                 for values in (stars, galaxies)]
        print(f'| {name} | {cells[0]} | {cells[1]} | '
              f'{int((stars > SPREAD_THRESHOLD).sum())} of 25 | '
              f'{int((galaxies <= SPREAD_THRESHOLD).sum())} of 15 |')


if __name__ == '__main__':
    main()
