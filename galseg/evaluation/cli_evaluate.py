"""The ``galseg evaluate`` subcommand."""

DESCRIPTION = ('Evaluate a galseg model on simulated scenes with truth, '
               'next to photutils and SEP on the same images.')

_BASELINES = ('photutils', 'sep')


def add_arguments(parser):
    parser.add_argument('--model', default='default', metavar='RUN',
                        help='model directory or training run, or '
                             '"default" for the bundled model')
    parser.add_argument('--data', required=True, metavar='DIR',
                        help='dataset from galseg simulate (held out from '
                             'training)')
    parser.add_argument('--compare', default='photutils,sep',
                        metavar='METHODS',
                        help='comma-separated baselines to run on the same '
                             'images (photutils, sep), or "none"')
    parser.add_argument('--max-scenes', type=int, metavar='N',
                        help='evaluate only the first N scenes')
    parser.add_argument('--score-threshold', type=float, metavar='X',
                        help="the deblender's detection score threshold")
    parser.add_argument('--min-snr', type=float, metavar='X',
                        help="the deblender's least segment signal-to-noise "
                             'ratio')
    parser.add_argument('--plots', metavar='DIR',
                        help='write separation.png and gallery.png here')
    parser.add_argument('--table', metavar='FILE',
                        help='write the full table, every column (.ecsv, '
                             'or aligned text for other suffixes); the '
                             'comparison tables are printed')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing --table and --plots files')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar')


def _baselines(text):
    names = [] if text.strip().lower() == 'none' else [
        name.strip().lower() for name in text.split(',') if name.strip()]
    unknown = sorted(set(names) - set(_BASELINES))
    if unknown:
        msg = (f'--compare: unknown methods {unknown}; choose from '
               f'{list(_BASELINES)} or "none"')
        raise ValueError(msg)
    return names


def run(args):
    from ..deblender import MaskRCNNDeblender
    from ..simulate import read_dataset
    from ..utils import check_writable
    from .comparison import comparison_tables
    from .evaluate import (evaluate, galseg_predictor, photutils_predictor,
                           sep_predictor, write_evaluation)

    baselines = _baselines(args.compare)
    if args.table:
        check_writable(args.table, args.overwrite)
    dataset = read_dataset(args.data)
    options = {}
    if args.score_threshold is not None:
        options['score_threshold'] = args.score_threshold
    if args.min_snr is not None:
        options['min_snr'] = args.min_snr
    methods = {'galseg': galseg_predictor(
        MaskRCNNDeblender(model=args.model, **options))}
    if 'photutils' in baselines:
        methods['photutils'] = photutils_predictor()
    if 'sep' in baselines:
        methods['sep'] = sep_predictor()
    result = evaluate(dataset, methods, plots_dir=args.plots,
                      max_scenes=args.max_scenes, progress=not args.quiet,
                      overwrite=args.overwrite)
    print(comparison_tables(result))
    if args.table:
        write_evaluation(result, args.table, overwrite=args.overwrite)
    return 0
