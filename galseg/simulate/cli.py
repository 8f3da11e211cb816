"""The ``galseg simulate`` command: write a simulated dataset."""

__all__ = ['DESCRIPTION', 'add_arguments', 'run']

DESCRIPTION = 'Simulate blended galaxy scenes with truth (sharded HDF5).'


def add_arguments(parser):
    """
    Add the ``galseg simulate`` options to ``parser``.

    Parameters
    ----------
    parser : `argparse.ArgumentParser`
    """
    parser.add_argument('--n', type=int, required=True, metavar='N',
                        help='number of scenes')
    parser.add_argument('--seed', type=int, default=0, metavar='S',
                        help='dataset seed; scene i depends only on the '
                        'config, the seed and i')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='output directory (manifest.json + shards)')
    parser.add_argument('--workers', type=int, default=1, metavar='W',
                        help='worker processes (1: in this process)')
    parser.add_argument('--survey', default=None,
                        help='survey preset: lsst, hsc, des or euclid_vis '
                        '(default: from --config, else lsst)')
    parser.add_argument('--bands', default=None,
                        help='comma-separated bands, e.g. g,r,i (default: '
                        'from --config, else i)')
    parser.add_argument('--config', default=None, metavar='FILE',
                        help='JSON or TOML file of SimulationConfig fields')
    parser.add_argument('--scheduler', default=None, metavar='ADDRESS',
                        help='address of a dask.distributed scheduler to use '
                        'instead of local processes')
    parser.add_argument('--shard-size', type=int, default=None, metavar='K',
                        help='scenes per HDF5 shard (default: N/16, between '
                        '8 and 128)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a different dataset in DIR')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar')


def run(args):
    """
    Run ``galseg simulate``.

    Parameters
    ----------
    args : `argparse.Namespace`
        The parsed arguments.

    Returns
    -------
    status : int
        0 on success.
    """
    from .config import SimulationConfig, read_config_file
    from .dataset import simulate_dataset

    fields = read_config_file(args.config) if args.config else {}
    if args.survey is not None:
        fields['survey'] = args.survey
    if args.bands is not None:
        fields['bands'] = args.bands
    config = SimulationConfig.from_dict(fields)
    dataset = simulate_dataset(
        config, args.n, args.seed, args.out, workers=args.workers,
        scheduler=args.scheduler, overwrite=args.overwrite,
        progress=not args.quiet, shard_size=args.shard_size)
    print(f'wrote {len(dataset)} scenes to {dataset.path}')
    dataset.close()
    return 0
