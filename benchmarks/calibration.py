"""
Calibration of galseg's detection scores: does a score of 0.8 mean that
80% of such detections are real sources?

Runs ``MaskRCNNDeblender(model, score_threshold=LOW)`` on the scenes of a
simulated dataset (by default the sky-like validation set, seed 212:
calibration, like every threshold, is judged on validation data), calls
a detection true when its centroid lies within one PSF FWHM of a true
source not matched yet (`galseg.evaluation.match_detections`, the
detection-level matching of the benchmarks), and prints the reliability
table: per score bin, the number of detections, their mean score and the
fraction that is true, with the expected calibration error (ECE: the
mean of |fraction true - mean score| over bins, weighted by their
detections).  It also prints, per score threshold, the detection-level
precision, recall and F1, and the threshold that maximises F1 subject to
a precision of at least ``--min-precision``.

Run: ``python benchmarks/calibration.py --data DATASET [--model default]
[--n 200]``
"""

import argparse
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402

BINS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def scored_detections(deblender, scenes):
    """Scores of every detection, whether it is true, and the number of
    true sources."""
    from photutils.utils import NoDetectionsWarning

    from galseg.evaluation import match_detections, scene_truth

    scores, true, n_true = [], [], 0
    for scene in scenes:
        truth = scene_truth(scene)
        n_true += len(truth['positions'])
        image = np.asarray(scene.image)
        noise = np.asarray(scene.noise_sigma, dtype=image.dtype)
        error = np.broadcast_to(noise.reshape(-1, 1, 1), image.shape).copy()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NoDetectionsWarning)
            # as the benchmarks run galseg: the scene's noise as error,
            # the simulated images are background-free
            result = deblender.deblend(image, error=error, background=0.0)
        if result is None:
            continue
        catalog = result.catalog
        positions = np.column_stack([np.asarray(catalog['x_centroid']),
                                     np.asarray(catalog['y_centroid'])])
        pred_to_true, _ = match_detections(
            positions, result.scores, truth['positions'],
            max_distance=truth['psf_fwhm'])
        scores.extend(result.scores.tolist())
        true.extend((pred_to_true >= 0).tolist())
    return np.array(scores), np.array(true, dtype=bool), n_true


def reliability(scores, true, bins=BINS):
    """Rows of (low, high, n, mean score, fraction true) and the ECE."""
    rows, ece = [], 0.0
    for low, high in zip(bins[:-1], bins[1:]):
        inside = (scores >= low) & (scores < high if high < 1 else
                                    scores <= high)
        n = int(inside.sum())
        if n == 0:
            rows.append((low, high, 0, np.nan, np.nan))
            continue
        mean, fraction = scores[inside].mean(), true[inside].mean()
        rows.append((low, high, n, mean, fraction))
        ece += n * abs(fraction - mean)
    return rows, ece / max(len(scores), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--data', required=True,
                        help='a dataset of galseg simulate (validation)')
    parser.add_argument('--n', type=int, default=200, help='scenes')
    parser.add_argument('--min-precision', type=float, default=0.95)
    args = parser.parse_args()

    from galseg import MaskRCNNDeblender
    from galseg.simulate import read_dataset

    dataset = read_dataset(args.data)
    scenes = [dataset[i] for i in range(min(args.n, len(dataset)))]
    deblender = MaskRCNNDeblender(args.model, score_threshold=min(BINS))
    scores, true, n_true = scored_detections(deblender, scenes)

    rows, ece = reliability(scores, true)
    print(f'model {args.model}; {len(scenes)} scenes of {args.data}; '
          f'{n_true} true sources, {len(scores)} detections with score '
          f'>= {min(BINS)}')
    print('\n| score bin | detections | mean score | fraction true |')
    print('|---|---|---|---|')
    for low, high, n, mean, fraction in rows:
        print(f'| {low:.2f}-{high:.2f} | {n} | {mean:.3f} | '
              f'{fraction:.3f} |')
    print(f'\nexpected calibration error: {ece:.3f}')

    print('\n| threshold | precision | recall | F1 |')
    print('|---|---|---|---|')
    best = None
    for threshold in THRESHOLDS:
        kept = scores >= threshold
        precision = true[kept].mean() if kept.any() else np.nan
        recall = true[kept].sum() / max(n_true, 1)
        f1 = (2 * precision * recall / (precision + recall)
              if kept.any() and precision + recall > 0 else 0.0)
        print(f'| {threshold:.2f} | {precision:.3f} | {recall:.3f} | '
              f'{f1:.3f} |')
        if precision >= args.min_precision and (best is None
                                                or f1 > best[1]):
            best = (threshold, f1)
    if best is None:
        print(f'\nno threshold reaches a precision of {args.min_precision}')
    else:
        print(f'\nbest threshold with precision >= {args.min_precision}: '
              f'{best[0]:.2f} (F1 {best[1]:.3f})')


if __name__ == '__main__':
    main()
