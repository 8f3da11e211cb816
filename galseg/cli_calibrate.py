"""The ``galseg calibrate`` subcommand."""

import numpy as np

from .calibration import (CONTAINED_FRACTIONS, CORE_PROBABILITIES,
                          MAX_SPLIT_RATE)

DESCRIPTION = ("Calibrate a model's detection scores and choose its score "
               'threshold, least segment signal-to-noise ratio, '
               'contained fraction and core probability on simulated '
               "validation scenes (written to the model directory's "
               'calibration.json).')


def add_arguments(parser):
    parser.add_argument('--model', required=True, metavar='DIR',
                        help='model directory or training run')
    parser.add_argument('--data', required=True, metavar='DIR',
                        help='validation dataset from galseg simulate '
                             '(never used in training nor for testing)')
    parser.add_argument('--max-scenes', type=int, metavar='N',
                        help='use only the first N scenes')
    parser.add_argument('--min-precision', type=float, default=0.95,
                        metavar='P',
                        help='detection-level precision the threshold must '
                             'reach')
    _add_candidates(parser, '--contained-fractions', CONTAINED_FRACTIONS,
                    'contained fractions, in (0, 1]')
    _add_candidates(parser, '--core-probabilities', CORE_PROBABILITIES,
                    'core probabilities, in [0, 1]')
    parser.add_argument('--isolated', metavar='DIR',
                        help='validation dataset of isolated galaxies with '
                             'real structure (e.g. simulated from galseg/'
                             'models/recipe/isolated_simulation.json): only '
                             'settings splitting at most --max-split-rate '
                             'of them are chosen')
    parser.add_argument('--max-split-rate', type=float, metavar='R',
                        help='largest fraction of the --isolated galaxies a '
                             'setting may split into several sources '
                             f'(default: {MAX_SPLIT_RATE:g})')
    parser.add_argument('--overwrite', action='store_true',
                        help="replace the model's existing calibration")


def _add_candidates(parser, option, values, what):
    """An option of comma-separated candidate values (read by
    `_candidate_values`)."""
    parser.add_argument(option, metavar='X[,X...]',
                        default=','.join(f'{value:g}' for value in values),
                        help=f'candidate {what}, comma-separated')


def _print_reliability(title, table):
    print(f'\n{title} (expected calibration error '
          f"{table.meta['ece']:.3f})")
    print('| score bin | detections | mean score | fraction true |')
    print('|---|---|---|---|')
    for row in table:
        print(f"| {row['low']:.2f}-{row['high']:.2f} | {row['n']} | "
              f"{row['mean_score']:.3f} | {row['fraction_true']:.3f} |")


def _print_settings(result):
    """The table of candidate settings, as Markdown."""
    table = result.thresholds
    split = 'split_rate' in table.colnames
    print('\n| threshold | min_snr | contained_fraction | core_probability '
          '| detections | precision | recall | F1 | F1 error |'
          + (' isolated split |' if split else ''))
    print('|---|---|---|---|---|---|---|---|---|' + ('---|' if split else ''))
    for row in table:
        line = (f"| {row['threshold']:.2f} | {row['min_snr']:g} | "
                f"{row['contained_fraction']:g} | "
                f"{row['core_probability']:g} | "
                f"{row['n_detections']} | {row['precision']:.3f} | "
                f"{row['recall']:.3f} | {row['f1']:.3f} | "
                f"{row['f1_err']:.3f} |")
        if split:
            line += (' -- |' if np.isnan(row['split_rate'])
                     else f" {row['split_rate']:.3f} |")
        print(line)


def _candidate_values(text, option, low_open):
    """The candidate values, in [0, 1] (or (0, 1] with ``low_open``), of a
    comma-separated ``option``."""
    from .validation import check_fraction

    try:
        values = [float(part) for part in text.split(',')]
    except ValueError:
        msg = f'{option} must be comma-separated numbers, got {text!r}'
        raise ValueError(msg) from None
    return [check_fraction(option, value, low_open=low_open)
            for value in values]


def run(args):
    from pathlib import Path

    from .calibration import CALIBRATION_FILE, calibrate, write_calibration
    from .cli import UsageError
    from .models import model_directory
    from .simulate import read_dataset
    from .utils import relative_command, relative_paths
    from .validation import check_fraction, check_int

    try:
        check_fraction('--min-precision', args.min_precision, low_open=True)
        if args.max_scenes is not None:
            check_int('--max-scenes', args.max_scenes, minimum=1)
        fractions = _candidate_values(
            args.contained_fractions, '--contained-fractions', low_open=True)
        cores = _candidate_values(
            args.core_probabilities, '--core-probabilities', low_open=False)
        if args.max_split_rate is not None:
            if args.isolated is None:
                msg = '--max-split-rate needs --isolated'
                raise ValueError(msg)
            check_fraction('--max-split-rate', args.max_split_rate)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.model == 'default':
        msg = ('--model must be the path of a model directory or training '
               'run (calibrate writes into it), not "default"')
        raise UsageError(msg)
    directory = model_directory(args.model)
    if (directory / CALIBRATION_FILE).exists() and not args.overwrite:
        msg = (f'{directory / CALIBRATION_FILE} exists; pass --overwrite to '
               'replace it')
        raise UsageError(msg)
    dataset = read_dataset(args.data)
    n_scenes = len(dataset) if args.max_scenes is None else min(
        args.max_scenes, len(dataset))
    scenes = [dataset[i] for i in range(n_scenes)]
    isolated = None
    if args.isolated is not None:
        isolated_dataset = read_dataset(args.isolated)
        isolated = [isolated_dataset[i] for i in range(
            len(isolated_dataset) if args.max_scenes is None
            else min(args.max_scenes, len(isolated_dataset)))]
    result = calibrate(directory, scenes, min_precision=args.min_precision,
                       contained_fractions=fractions,
                       core_probabilities=cores, isolated=isolated,
                       max_split_rate=args.max_split_rate)

    _print_reliability('network scores', result.reliability_before)
    _print_reliability('calibrated scores', result.reliability_after)
    _print_settings(result)
    reached = ('' if result.reaches_min_precision else
               f' (no candidate reaches a precision of '
               f'{result.min_precision}: the most precise one)')
    if result.reaches_min_precision and not result.within_max_split_rate:
        reached += (' (every candidate precise enough splits more than '
                    f'{result.max_split_rate:.3f} of the isolated galaxies: '
                    'one of those splitting fewest)')
    provenance = {
        'paths': 'relative to the directory the command ran in',
        'command': relative_command(args.command_line, Path.cwd()),
        'data': relative_paths(str(Path(args.data)), Path.cwd()),
        'data_seed': dataset.seed,
        'n_scenes': n_scenes,
    }
    if isolated is not None:
        provenance.update(
            isolated=relative_paths(str(Path(args.isolated)), Path.cwd()),
            isolated_seed=isolated_dataset.seed, n_isolated=len(isolated))
    path = write_calibration(result, directory, overwrite=args.overwrite,
                             provenance=provenance)
    split = ''
    if result.max_split_rate is not None:
        split = (f", splitting {result.chosen['split_rate']:.3f} of the "
                 f'isolated galaxies (photutils '
                 f'{result.photutils_split_rate:.3f})')
    print(f'\nscore threshold {result.score_threshold:.2f}, min_snr '
          f'{result.min_snr:g}, contained_fraction '
          f'{result.contained_fraction:g}, core_probability '
          f'{result.core_probability:g}{split}{reached}; wrote {path}')
    return 0
