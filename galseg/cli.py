"""
The ``galseg`` command line.

Each subcommand lives in its own module, which provides a one-line
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args)``; modules
import heavy dependencies (TensorFlow, GalSim) only inside ``run``, so
``galseg --help`` stays fast.
"""

import argparse
import importlib
import os
import shlex
import sys

__all__ = ['main', 'build_parser', 'CommandError', 'UsageError']

#: subcommand name -> module implementing it
SUBCOMMANDS = {
    'simulate': 'galseg.simulate.cli',
    'train': 'galseg.train.cli_train',
    'evaluate': 'galseg.evaluation.cli_evaluate',
    'calibrate': 'galseg.cli_calibrate',
    'deblend': 'galseg.deblend_cli',
    'demo': 'galseg.demo',
}


class CommandError(Exception):
    """An error to report to the user as one line, without a traceback."""


class UsageError(CommandError):
    """Options that do not go together: reported as one line, exit code 2
    (as argparse's own usage errors)."""


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
    parser.add_argument('--verbose', action='store_true',
                        help="show TensorFlow's log messages")
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
            formatter_class=_DefaultsHelpFormatter)
        sub.add_argument('--verbose', action='store_true',
                         default=argparse.SUPPRESS,
                         help="show TensorFlow's log messages")
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """
    Show an option's default where it has one: not for flags (False) nor
    for options whose default comes from elsewhere (None: a configuration
    file, or the model), which say so in their help.
    """

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


#: subcommands that run the network (and so import TensorFlow)
_NETWORK_COMMANDS = ('deblend', 'train', 'evaluate', 'calibrate', 'demo')


def _quiet_tensorflow(argv):
    """
    Keep TensorFlow's start-up and graph-optimiser logs off stderr.

    ``TF_CPP_MIN_LOG_LEVEL`` silences the logs of a running TensorFlow,
    but the lines its libraries print while they load (CUDA probing)
    ignore it: TensorFlow is imported once here, with the process's
    stderr sent to the null device meanwhile.
    """
    import logging

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    logging.getLogger('tensorflow').setLevel(logging.ERROR)
    logging.getLogger('absl').setLevel(logging.ERROR)
    if not set(argv) & set(_NETWORK_COMMANDS) or 'tensorflow' in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                pass  # reported where it is needed
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--verbose' not in argv:
        _quiet_tensorflow(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    # the command line as run, for the records of train and calibrate
    args.command_line = shlex.join(['galseg', *argv])
    if getattr(args, 'run', None) is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except UsageError as exc:
        print(f'galseg {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except (CommandError, ValueError, TypeError, FileExistsError,
            FileNotFoundError) as exc:
        print(f'galseg {args.command}: error: {exc}', file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # an optional dependency
        print(f'galseg {args.command}: error: {exc.msg}; install it with '
              f'pip install {exc.name}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
