"""
Deblending speed of galseg next to photutils and SEP, in one run.

* 128x128 px stamps: the network alone on batches of normalised stamps
  (``MaskRCNN.detect``, asked as the deblender asks it for the
  detections that can reach its score threshold), the full
  ``MaskRCNNDeblender.deblend`` (with the catalog) stamp by stamp,
  photutils ``detect_sources`` + ``deblend_sources`` and SEP
  ``extract`` (each with its Kron fluxes,
  as `galseg.evaluation.photutils_deblend` and `galseg.evaluation.sep_deblend`
  measure them) on the same stamps; galseg in float32 (the default)
  and with ``precision='bfloat16'``.
* A crowded 2048x2048 px field (a mosaic of 128 px scenes of 4-6
  galaxies): galseg (tiled) against photutils
  ``detect_sources`` + ``deblend_sources`` and SEP on the same image.

Each stamp timing is the least of three runs over the stamps (the
crowded field runs once).

Run: ``python benchmarks/deblend_speed.py [--model default]``
"""

import argparse
import json
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

#: timings of the stamps are the least of this many runs
REPEATS = 3


def _time(function, *args, repeats=1, **kwargs):
    """The least wall time of ``repeats`` calls (as `timeit` advises:
    the others measure what else the machine was doing), and the
    result."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def stamps(n, seed):
    from galseg.models import RECIPE_DIR
    from galseg.simulate import SimulationConfig, simulate_scene

    config = SimulationConfig.from_dict(
        json.loads((RECIPE_DIR / 'simulation.json').read_text()))
    return [simulate_scene(config, seed, index) for index in range(n)]


def crowded_field(size, seed):
    """A mosaic of 128 px scenes of 4-6 galaxies (0.2"/px, 0.8" seeing):
    about 5 galaxies per 128x128 px over the whole field."""
    from galseg.simulate import SimulationConfig, simulate_scene

    config = SimulationConfig(
        stamp_size=128, n_sources=(4, 6), pixel_scale=(0.2, 0.2),
        psf_profiles=('moffat',), moffat_beta=(3.0, 3.0),
        psf_fwhm=(0.8, 0.8), snr=(15.0, 500.0), separation=(0.5, 6.0))
    n = size // 128
    scenes = [simulate_scene(config, seed, index) for index in range(n * n)]
    image = np.block([[scenes[row * n + col].image[0] for col in range(n)]
                      for row in range(n)])
    n_sources = sum(int(s.catalog['has_footprint'].sum()) for s in scenes)
    return image[None], scenes[0].noise_sigma, scenes[0].psf_fwhm, n_sources


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--n-stamps', type=int, default=64)
    parser.add_argument('--field-size', type=int, default=2048)
    args = parser.parse_args()

    from photutils.utils import NoDetectionsWarning

    import warnings

    from galseg import MaskRCNNDeblender, normalize_image
    from galseg.evaluation.baselines import photutils_deblend, sep_deblend

    warnings.simplefilter('ignore', NoDetectionsWarning)
    deblender = MaskRCNNDeblender(model=args.model, batch_size=16)
    scenes = stamps(args.n_stamps, seed=505)
    n = len(scenes)
    normalized = np.stack([normalize_image(s.image) for s in scenes])
    # the network as the deblender runs it: only the detections whose
    # calibrated score can reach the deblender's threshold get masks
    threshold = deblender.score_threshold
    if deblender.score_calibration is not None:
        threshold = deblender.score_calibration.raw_threshold(threshold)
    deblender.model.detect(normalized[:16], batch_size=16,
                           score_threshold=threshold)  # trace
    deblender.deblend(scenes[0].image)

    fast = MaskRCNNDeblender(model=args.model, batch_size=16,
                             precision='bfloat16')
    fast.model.detect(normalized[:16], batch_size=16,
                      score_threshold=threshold)  # trace
    fast.deblend(scenes[0].image)

    rows = []
    seconds, _ = _time(deblender.model.detect, normalized, batch_size=16,
                       score_threshold=threshold, repeats=REPEATS)
    rows.append(('galseg network, batches of 16', seconds / n))
    seconds, _ = _time(fast.model.detect, normalized, batch_size=16,
                       score_threshold=threshold, repeats=REPEATS)
    rows.append(("galseg network, batches of 16, precision='bfloat16'",
                 seconds / n))
    seconds, _ = _time(lambda: [deblender.deblend(s.image) for s in scenes],
                       repeats=REPEATS)
    rows.append(('galseg MaskRCNNDeblender.deblend', seconds / n))
    seconds, _ = _time(lambda: [fast.deblend(s.image) for s in scenes],
                       repeats=REPEATS)
    rows.append(("galseg MaskRCNNDeblender.deblend, precision='bfloat16'",
                 seconds / n))
    seconds, _ = _time(lambda: [photutils_deblend(s.image, s.noise_sigma,
                                                  psf_fwhm=s.psf_fwhm[0])
                                for s in scenes], repeats=REPEATS)
    rows.append(('photutils detect + deblend', seconds / n))
    seconds, _ = _time(lambda: [sep_deblend(s.image, s.noise_sigma)
                                for s in scenes], repeats=REPEATS)
    rows.append(('SEP extract', seconds / n))
    print(f'### {n} stamps of 128x128 px (recipe simulation, seed 505), '
          f'{os.cpu_count()} CPU cores\n')
    print('| method | s per stamp |\n|---|---|')
    for name, value in rows:
        print(f'| {name} | {value:.4f} |')

    image, noise, psf_fwhm, truth = crowded_field(args.field_size, seed=606)
    t_galseg, result = _time(deblender.deblend, image)
    t_photutils, found_photutils = _time(photutils_deblend, image, noise,
                                         psf_fwhm=psf_fwhm[0])
    t_sep, found_sep = _time(sep_deblend, image, noise)
    print(f'\n### crowded field {args.field_size}x{args.field_size} px, '
          f'{truth} galaxies with footprints\n')
    print('| method | seconds | sources found | time / photutils |')
    print('|---|---|---|---|')
    found = 0 if result is None else result.n_sources
    for name, seconds, count in (
            ('galseg', t_galseg, found),
            ('photutils', t_photutils, len(found_photutils.masks)),
            ('SEP', t_sep, len(found_sep.masks))):
        print(f'| {name} | {seconds:.1f} | {count} | '
              f'{seconds / t_photutils:.2f} |')


if __name__ == '__main__':
    main()
