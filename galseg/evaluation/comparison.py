"""
Tables that compare deblending methods: the one code path of the
quality benchmark, the comparison page of the documentation and
``galseg demo``.
"""

import io

import numpy as np

__all__ = ['comparison_tables']

#: The columns of the main table, with their headers.
SUMMARY_COLUMNS = {
    'AP50': 'AP50',
    'det_precision': 'precision',
    'det_recall': 'recall',
    'over_count': 'over-count',
    'under_count': 'under-count',
    'fragments': 'fragments',
    'spurious': 'spurious',
    'total_flux_error': 'flux err',
    'total_flux_error_blended': 'flux err (blended)',
    'segment_flux_error': 'segment flux err',
    'segment_flux_error_blended': 'segment flux err (blended)',
    'time_per_image': 'time/image (s)',
}


def _number(value):
    value = float(np.asarray(getattr(value, 'value', value)))
    return 'nan' if not np.isfinite(value) else f'{value:.3f}'


def _render(header, rows, fmt):
    if fmt == 'markdown':
        lines = ['| ' + ' | '.join(header) + ' |',
                 '|' + '---|' * len(header)]
        lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
        return '\n'.join(lines)
    from astropy.table import Table

    text = io.StringIO()
    Table(rows=rows, names=header, dtype=[str] * len(header)).write(
        text, format='ascii.rst')
    return text.getvalue().rstrip('\n')


def _common_flux_errors(result):
    """Median total-flux error on the sources that every method found."""
    errors = {method: summary['source_total_flux_errors']
              for method, summary in result.summaries.items()}
    if not errors or len({len(e) for e in errors.values()}) != 1:
        return None, {}
    common = np.logical_and.reduce([np.isfinite(e) for e in errors.values()])
    return int(common.sum()), {
        method: (float(np.median(e[common])) if common.any() else np.nan)
        for method, e in errors.items()}


def comparison_tables(result, fmt='markdown'):
    """
    Format an evaluation as the tables of the comparison page.

    Parameters
    ----------
    result : `~galseg.evaluation.EvaluationResult`
        The evaluation of several methods on the same scenes.
    fmt : {'markdown', 'rst'}, optional
        Markdown (for notes and terminals) or reStructuredText simple
        tables (for the documentation).

    Returns
    -------
    text : str
        Three tables: the detection, counting and flux metrics per
        method (see `~galseg.evaluation.metrics.EvaluationAccumulator`), the
        pair recovery by separation with matches by position and at
        IoU >= 0.5, and the total-flux error on the sources every
        method found.

    Raises
    ------
    ValueError
        If ``fmt`` is not one of the above.
    """
    if fmt not in ('markdown', 'rst'):
        msg = f"fmt must be 'markdown' or 'rst'; got {fmt!r}"
        raise ValueError(msg)
    table = result.table
    header = ['method', *SUMMARY_COLUMNS.values()]
    rows = [[str(row['method'])] + [_number(row[key])
                                    for key in SUMMARY_COLUMNS]
            for row in table]
    parts = [_render(header, rows, fmt)]

    bins = result.separation_bins
    labels = [f'{lo:g}-{hi:g}' for lo, hi in zip(bins[:-1], bins[1:])]
    n_pairs = result.summaries[result.methods[0]]['n_pairs']
    header = ['method', 'matched by', *labels]
    rows = [['(pairs)', '', *(str(int(n)) for n in n_pairs)]]
    for method, summary in result.summaries.items():
        rows.append([method, 'position',
                     *(_number(r) for r in summary['det_pair_recovery'])])
        rows.append([method, 'IoU >= 0.5',
                     *(_number(r) for r in summary['pair_recovery'])])
    parts.append(_render(header, rows, fmt))

    n_common, medians = _common_flux_errors(result)
    if n_common is not None:
        header = ['method', f'flux err, {n_common} sources all found']
        rows = [[method, _number(value)] for method, value in medians.items()]
        parts.append(_render(header, rows, fmt))
    return '\n\n'.join(parts) + '\n'
