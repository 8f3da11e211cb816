"""
Calibration of galseg's detection scores, as users get them: does a
score of 0.8 mean that 80% of such detections are real sources?

Runs ``MaskRCNNDeblender(model, score_threshold=LOW)`` (calibrated
scores when the model has a ``calibration.json``, see ``galseg
calibrate``) on the scenes of a simulated dataset, calls a detection
true when its centroid lies within one PSF FWHM (or the source's
half-light radius, if larger) of a true source not matched yet
(`galseg.calibration.detection_outcomes`), and prints the
reliability table (per score bin: detections, mean score, fraction
true) with the expected calibration error, then the detection-level
precision, recall and F1 of the whole deblender per score threshold
(`galseg.calibration.threshold_table`).  Run it on validation data to
choose, and on held-out data to check.

Run: ``python benchmarks/calibration.py --data DATASET [--model default]
[--n 200] [--skip N]``
"""

import argparse
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

LOW = 0.15


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='default')
    parser.add_argument('--data', required=True,
                        help='a dataset of galseg simulate')
    parser.add_argument('--n', type=int, default=200, help='scenes')
    parser.add_argument('--skip', type=int, default=0,
                        help='start after this many scenes (e.g. those '
                             'that galseg calibrate used)')
    args = parser.parse_args()

    from galseg import MaskRCNNDeblender
    from galseg.calibration import (detection_outcomes, reliability_table,
                                    threshold_table)
    from galseg.simulate import read_dataset

    dataset = read_dataset(args.data)
    scenes = [dataset[i] for i in range(args.skip,
                                        min(args.skip + args.n, len(dataset)))]
    deblender = MaskRCNNDeblender(args.model, score_threshold=LOW)
    scores, is_true, n_true = detection_outcomes(deblender, scenes)
    table = reliability_table(scores, is_true)
    kind = ('calibrated' if deblender.score_calibration is not None
            else 'network')
    print(f'model {args.model} ({kind} scores); {len(scenes)} scenes of '
          f'{args.data} from {args.skip}; {n_true} true sources, {len(scores)} detections '
          f'with score >= {LOW}')
    print('\n| score bin | detections | mean score | fraction true |')
    print('|---|---|---|---|')
    for row in table:
        print(f"| {row['low']:.2f}-{row['high']:.2f} | {row['n']} | "
              f"{row['mean_score']:.3f} | {row['fraction_true']:.3f} |")
    print(f"\nexpected calibration error: {table.meta['ece']:.3f}")

    thresholds = threshold_table(deblender, scenes)
    print(f'\nmin_snr {deblender.min_snr:g}')
    print('| threshold | detections | precision | recall | F1 |')
    print('|---|---|---|---|---|')
    for row in thresholds:
        print(f"| {row['threshold']:.2f} | {row['n_detections']} | "
              f"{row['precision']:.3f} | {row['recall']:.3f} | "
              f"{row['f1']:.3f} |")


if __name__ == '__main__':
    main()
