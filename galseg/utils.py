"""Small helpers shared across galseg: safe file output."""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ['atomic_output', 'check_writable']


def check_writable(path, overwrite=False):
    """
    Raise if ``path`` exists and may not be overwritten.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The output file.
    overwrite : bool, optional
        Whether an existing file may be replaced.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is `False`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f'{path} already exists; use overwrite (--overwrite) to replace it'
        raise FileExistsError(msg)


@contextlib.contextmanager
def atomic_output(path, overwrite=False):
    """
    Write a file atomically: yield a temporary path, then rename it.

    The temporary file sits in the same directory as ``path``, so the
    final rename is atomic; if the block raises, the temporary file is
    removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The file to write.
    overwrite : bool, optional
        Whether an existing ``path`` may be replaced.

    Yields
    ------
    tmp_path : `~pathlib.Path`
        Where to write the content.
    """
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp',
                                    dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    # mkstemp makes the file private; give it the usual permissions
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
