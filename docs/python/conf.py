"""Sphinx configuration of the hakmem Python package's API documentation.

Built from the installed package's docstrings and annotations:
    python -m sphinx -W --keep-going -b html docs/python OUT
(tests/python/test_docs.py does that in `make check`; the HTML is never
committed).
"""
import hakmem

project = "hakmem"
author = "The hakmem authors"
copyright = "2026, The hakmem authors"
release = version = hakmem.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
html_theme = "alabaster"
html_static_path: list = []
exclude_patterns = ["_build"]
