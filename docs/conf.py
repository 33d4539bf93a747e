"""Sphinx configuration for the relcycle documentation."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "relcycle"
author = "The relcycle developers"
copyright = "2026, The relcycle developers"
release = _version("relcycle")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_attr_annotations = True

# The docs build offline (CI has no network), so no intersphinx.
nitpicky = False

html_theme = "furo"
html_title = f"relcycle {release}"
html_static_path = ["_static"]
