"""The one rule for installing the teaching library where a notebook runs.

A released exercise and a chapter's notebook both start with a cell that installs
``course_utils`` by distribution name and exact version, and only where it is missing or another
version: ``pip install cnn-course-utils==VERSION``. Installing by name lets pip's own settings
(``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_CONFIG_FILE``) point at PyPI, a mirror, an offline
lab's folder of wheels or a test's freshly built wheel; nothing in the notebook names a source.

The distribution is ``cnn-course-utils`` (``course-utils`` is too generic a name to hold on PyPI;
``coursekit`` is taken by another project), the import name stays ``course_utils``, and the
version is ``course_utils.__version__``, its one source (``course_utils/pyproject.toml`` reads it).
"""

from __future__ import annotations

DISTRIBUTION = "cnn-course-utils"
CELL_TAG = "course-setup"

INSTALL_CELL = """\
# Setup: installs the course's teaching library, {distribution} {version}, where it is missing
# (Colab, Binder, a fresh Jupyter or VS Code). pip's own settings choose where it comes from.
import importlib.metadata
import subprocess
import sys

try:
    _installed = importlib.metadata.version("{distribution}")
except importlib.metadata.PackageNotFoundError:
    _installed = None
if _installed != "{version}":
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "{distribution}=={version}"],
        check=True,
    )
"""


def library_version() -> str:
    """The version of ``course_utils`` in this checkout: what a release pins."""
    import course_utils

    return course_utils.__version__


def requirement(version: str | None = None) -> str:
    """``cnn-course-utils==VERSION``: the pip requirement a notebook installs."""
    return f"{DISTRIBUTION}=={version or library_version()}"


def install_cell_source(version: str | None = None) -> str:
    """The source of the first code cell of every released exercise and chapter notebook."""
    return INSTALL_CELL.format(distribution=DISTRIBUTION, version=version or library_version())
