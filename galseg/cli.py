"""
The ``galseg`` command line.

Each subcommand lives in its own module, which provides a one-line
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args)``; modules
import heavy dependencies (TensorFlow, GalSim) only inside ``run``, so
``galseg --help`` stays fast.
"""

import argparse
import importlib
import sys

__all__ = ['main', 'build_parser']

#: subcommand name -> module implementing it
SUBCOMMANDS = {
    'simulate': 'galseg.simulate.cli',
    'train': 'galseg.train.cli_train',
    'evaluate': 'galseg.evaluation.cli_evaluate',
    'deblend': 'galseg.deblend_cli',
    'demo': 'galseg.demo',
}


class CommandError(Exception):
    """An error to report to the user as one line, without a traceback."""


def build_parser():
    """
    Build the ``galseg`` argument parser with every subcommand.

    Returns
    -------
    parser : `argparse.ArgumentParser`
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog='galseg',
        description='Deblend overlapping galaxies with Mask R-CNN.')
    parser.add_argument('--version', action='version',
                        version=f'galseg {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        sub = subparsers.add_parser(
            name, help=module.DESCRIPTION, description=module.DESCRIPTION,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None):
    """
    Run the ``galseg`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        The exit status: 0 on success, 1 on a reported error, 2 on a
        usage error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, 'run', None) is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (CommandError, ValueError, TypeError, FileExistsError,
            FileNotFoundError) as exc:
        print(f'galseg {args.command}: error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
