"""Small helpers shared across galseg: safe file output, mask boxes."""

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ['atomic_output', 'check_writable', 'mask_bbox', 'masks_to_boxes',
           'relative_paths', 'relative_command']


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


def mask_bbox(mask):
    """
    The bounding box of the `True` pixels of a 2-D mask.

    Parameters
    ----------
    mask : array_like of bool, shape (ny, nx)

    Returns
    -------
    bbox : tuple of int or `None`
        ``(iymin, ixmin, iymax, ixmax)``, the maxima exclusive (the
        slices of `scipy.ndimage.find_objects`); `None` for an empty
        mask.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.utils import mask_bbox
    >>> mask = np.zeros((5, 6), dtype=bool)
    >>> mask[1:3, 2:5] = True
    >>> mask_bbox(mask)
    (1, 2, 3, 5)
    """
    from scipy import ndimage

    found = ndimage.find_objects(np.asarray(mask, dtype=bool).view(np.int8))
    if not found:
        return None
    rows, cols = found[0]
    return rows.start, cols.start, rows.stop, cols.stop


def masks_to_boxes(masks):
    """
    Tight bounding boxes of boolean masks.

    Parameters
    ----------
    masks : `~numpy.ndarray` of bool, shape (n, ny, nx)

    Returns
    -------
    boxes : `~numpy.ndarray` of float32, shape (n, 4)
        ``(ymin, xmin, ymax, xmax)`` in pixel-edge coordinates (a mask
        covering rows ``r0..r1`` has ``ymin=r0``, ``ymax=r1+1``); all
        zero for an empty mask.
    """
    masks = np.asarray(masks, dtype=bool)
    boxes = np.zeros((len(masks), 4), np.float32)
    for index, mask in enumerate(masks):
        bbox = mask_bbox(mask)
        if bbox is not None:
            boxes[index] = bbox
    return boxes


def relative_paths(value, base):
    """
    ``value`` (nested dicts, lists and strings) with every absolute path
    written relative to ``base`` (for model cards: paths that hold on
    another machine).
    """
    if isinstance(value, dict):
        return {key: relative_paths(item, base)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_paths(item, base) for item in value]
    if isinstance(value, str) and os.path.isabs(value):
        return os.path.relpath(value, base)
    return value


def relative_command(command, base):
    """A shell command line with its absolute paths written relative to
    ``base``; a string that is not a command line is kept as given."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:  # not a shell command line: keep it as given
        return command
    return shlex.join(relative_paths(words, base))
