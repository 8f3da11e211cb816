"""
Figures of an evaluation: metrics against separation, and a gallery.

matplotlib is imported only when a figure is made; the figures are
built without pyplot (no global state, no display needed) and written
atomically as PNG files.
"""

import numpy as np

from ..utils import atomic_output

__all__ = ['label_image', 'plot_gallery', 'plot_separation_curves']

_BACKGROUND_COLOR = (0.0, 0.0, 0.0, 1.0)


def _save(figure, path, overwrite):
    if path is not None:
        with atomic_output(path, overwrite=overwrite) as tmp_path:
            # The temporary name has no .png suffix: give the format.
            figure.savefig(tmp_path, format='png', dpi=figure.dpi)


def plot_separation_curves(result, path=None, overwrite=False):
    """
    Plot the AP and the pair recovery of each method against separation.

    Parameters
    ----------
    result : `~galseg.evaluation.EvaluationResult`
        The evaluation.
    path : str or `~pathlib.Path`, optional
        The PNG file to write.
    overwrite : bool, optional
        Whether an existing ``path`` may be replaced.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        The figure: AP per bin of nearest-neighbour separation on the
        left, the fraction of close pairs with both sources recovered on
        the right, both against separation in units of the PSF FWHM.
        Points are at the bin centres; horizontal bars show the bins.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is `False`.
    """
    from matplotlib.figure import Figure

    bins = np.asarray(result.separation_bins, dtype=float)
    centres = 0.5 * (bins[:-1] + bins[1:])
    half_widths = 0.5 * np.diff(bins)
    figure = Figure(figsize=(10, 4), dpi=100, layout='constrained')
    ax_ap, ax_pairs = figure.subplots(1, 2, sharex=True)
    panels = ((ax_ap, result.ap_vs_separation,
               'AP (nearest neighbour in bin)'),
              (ax_pairs, result.pair_recovery, 'pairs with both recovered'))
    for ax, curves, ylabel in panels:
        for name, values in curves.items():
            ax.errorbar(centres, values, xerr=half_widths, marker='o',
                        capsize=2, label=name)
        ax.set_xlabel('separation [PSF FWHM]')
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(bins[0], bins[-1])
        ax.grid(alpha=0.3)
    ax_ap.legend(loc='lower right')
    ax_ap.set_title('mask AP (IoU 0.50:0.95)')
    ax_pairs.set_title('blend recovery (IoU >= 0.5)')
    _save(figure, path, overwrite)
    return figure


def label_image(masks):
    """
    Flatten instance masks into a label image for display.

    Parameters
    ----------
    masks : `~numpy.ndarray` of bool
        Instance masks of shape ``(n, ny, nx)``.

    Returns
    -------
    labels : `~numpy.ndarray` of int
        Of shape ``(ny, nx)``: 0 for the background, ``i + 1`` where mask
        ``i`` is set.  Where masks overlap the smallest one is shown (the
        later one for equal areas), so that small sources on top of
        large ones stay visible.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.evaluation.plots import label_image
    >>> masks = np.zeros((2, 1, 3), dtype=bool)
    >>> masks[0, 0, :2] = True
    >>> masks[1, 0, 1:] = True
    >>> label_image(masks)
    array([[1, 2, 2]])
    """
    masks = np.asarray(masks, dtype=bool)
    labels = np.zeros(masks.shape[1:], dtype=int)
    areas = masks.sum(axis=(1, 2))
    for i in np.argsort(-areas, kind='stable'):
        labels[masks[i]] = i + 1
    return labels


def _segmentation_cmap(n_labels, seed=0):
    from matplotlib.colors import ListedColormap
    from photutils.utils import make_random_cmap

    colors = make_random_cmap(n_colors=n_labels + 1, seed=seed).colors
    colors = np.array(colors)
    colors[0] = _BACKGROUND_COLOR
    return ListedColormap(colors)


def _show_labels(ax, masks, title):
    labels = label_image(masks)
    n_labels = len(masks)
    ax.imshow(labels, origin='lower', interpolation='nearest',
              cmap=_segmentation_cmap(n_labels), vmin=-0.5,
              vmax=n_labels + 0.5)
    ax.set_title(f'{title} ({n_labels})', fontsize=9)


def plot_gallery(examples, path=None, overwrite=False):
    """
    Show example scenes with the truth and each method's segmentation.

    Parameters
    ----------
    examples : list of dict
        One dict per scene with ``image`` (``(n_bands, ny, nx)`` or
        ``(ny, nx)``), ``truth`` (true masks, bool ``(m, ny, nx)``),
        ``predictions`` (a dict of masks by method name) and optionally
        ``index`` (shown in the title), e.g., the ``examples`` of an
        `~galseg.evaluation.EvaluationResult`.
    path : str or `~pathlib.Path`, optional
        The PNG file to write.
    overwrite : bool, optional
        Whether an existing ``path`` may be replaced.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        One row per scene: the image (sum of the bands, asinh stretch),
        the true footprints, then one panel per method.  The number of
        sources is given in each title.

    Raises
    ------
    ValueError
        If ``examples`` is empty.
    FileExistsError
        If ``path`` exists and ``overwrite`` is `False`.
    """
    from astropy.visualization import simple_norm
    from matplotlib.figure import Figure

    examples = list(examples)
    if not examples:
        msg = 'examples must contain at least one scene'
        raise ValueError(msg)
    methods = list(dict.fromkeys(name for example in examples
                                 for name in example['predictions']))
    n_cols = 2 + len(methods)
    figure = Figure(figsize=(2.2 * n_cols, 2.3 * len(examples)), dpi=100,
                    layout='constrained')
    axes = np.atleast_2d(figure.subplots(len(examples), n_cols,
                                         squeeze=False))
    for row, example in zip(axes, examples):
        image = np.asarray(example['image'], dtype=float)
        if image.ndim == 3:
            image = image.sum(axis=0)
        norm = simple_norm(image, 'asinh', percent=99.5)
        row[0].imshow(image, origin='lower', norm=norm, cmap='gray',
                      interpolation='nearest')
        title = 'image'
        if 'index' in example:
            title = f'scene {example["index"]}'
        row[0].set_title(title, fontsize=9)
        _show_labels(row[1], example['truth'], 'truth')
        for ax, name in zip(row[2:], methods):
            masks = example['predictions'].get(name)
            if masks is None:
                ax.set_title(f'{name} (not run)', fontsize=9)
            else:
                _show_labels(ax, masks, name)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    _save(figure, path, overwrite)
    return figure
