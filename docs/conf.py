# Sphinx configuration for the galseg documentation.
#
# Build (warnings are errors; no network needed):
#
#     sphinx-build -W -b html docs docs/_build/html
#
# or ``tox -e build_docs``.  Set GALSEG_DOCS_INTERSPHINX=1 to link to the
# Python, NumPy, Astropy, photutils ... documentation through intersphinx;
# that needs the network, so it is off by default.

import datetime
import importlib.util
import os

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
from sphinx_astropy.conf.v2 import extensions, intersphinx_mapping

import galseg

# -- Project information -----------------------------------------------------

project = 'galseg'
author = 'galseg developers'
copyright = f'{datetime.date.today().year}, {author}'
version = galseg.__version__.split('+')[0]
release = galseg.__version__

# -- General configuration ---------------------------------------------------

# sphinx-astropy's list, less what is not installed (sphinx-copybutton is
# optional), plus the extensions galseg's pages rely on.
_WANTED = [
    'sphinx_automodapi.automodapi',
    'sphinx_automodapi.smart_resolver',
    'numpydoc',
    'pytest_doctestplus.sphinx.doctestplus',
    'sphinx.ext.intersphinx',
    'matplotlib.sphinxext.plot_directive',
]
extensions = [name for name in dict.fromkeys(extensions + _WANTED)
              if importlib.util.find_spec(name.split('.')[0]) is not None]

exclude_patterns = ['_build', '**.ipynb_checkpoints']

# The API pages are generated into docs/api/ by automodapi (gitignored).
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
numpydoc_show_class_members = False
# MaskRCNN overrides keras.Model methods; Keras docstrings are Markdown,
# not reST, so do not inherit them.
autodoc_inherit_docstrings = False

# Unresolved references are plain text unless intersphinx is on; with it
# on, also check them all (``nitpicky``).
_INTERSPHINX = os.environ.get('GALSEG_DOCS_INTERSPHINX', '') not in ('', '0')
if _INTERSPHINX:
    intersphinx_mapping.update({
        'photutils': ('https://photutils.readthedocs.io/en/stable/', None),
        'galsim': ('https://galsim-developers.github.io/GalSim/_build/html/',
                   None),
        'keras': ('https://keras.io/', None),
        'dask': ('https://docs.dask.org/en/stable/', None),
        'distributed': ('https://distributed.dask.org/en/stable/', None),
    })
    nitpicky = True
else:
    intersphinx_mapping = {}

# Types named in docstrings that no inventory documents.
nitpick_ignore = [
    ('py:class', 'optional'),
    ('py:class', 'array-like'),
    ('py:class', 'tensor'),
]

# The pages' code is doctested by pytest (--doctest-rst); Sphinx only
# renders it.  Plots made by ``.. plot::`` are drawn at build time.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [('png', 100)]

# -- Options for HTML output -------------------------------------------------

html_title = f'galseg v{release}'
html_theme_options = {
    'collapse_navigation': True,
    'icon_links': [],
    'navigation_depth': 2,
    'show_nav_level': 2,
    'use_edit_page_button': False,
}
html_last_updated_fmt = None
htmlhelp_basename = 'galsegdoc'
