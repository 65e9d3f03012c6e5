"""The environment of a chapter kernel, the same wherever the book's pages execute.

Both places that run chapters in a build use it: ``coursekit.execute`` (the parallel
pre-execution) and ``coursekit.sphinx_ext`` (myst-nb, for any page the cache lacks).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
BOOK_BUILD_VARIABLE = "COURSE_BOOK_BUILD"


def chapter_kernel_environment(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Prepare ``environ`` (default ``os.environ``) for chapter kernels, which inherit it.

    - ``COURSE_BOOK_BUILD=1``: ``course_utils.tables.glue`` hands computed values to the page.
    - no ``MPLBACKEND`` other than the inline one: with ``Agg`` set, ipykernel keeps it instead
      of installing its inline backend, and no figure reaches the page.

    Returns the backend it removed, or None.
    """
    environ = os.environ if environ is None else environ
    environ[BOOK_BUILD_VARIABLE] = "1"
    backend = environ.get("MPLBACKEND")
    if backend and backend != INLINE_BACKEND:
        del environ["MPLBACKEND"]
        return backend
    return None
