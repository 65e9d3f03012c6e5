"""Shared code of the course on convolutional neural networks.

Chapters, exercises and tests import this one package. The names below are loaded lazily so that
the ``course`` command starts without importing PyTorch.

>>> import course_utils
>>> course_utils.get_device()          # doctest: +SKIP
device(type='cpu')
"""

import importlib
import os
import sys

if sys.version_info < (3, 10):  # noqa: UP036 - a friendly message on an old interpreter
    raise ImportError(
        f"course_utils needs Python 3.10 or newer, but this is Python "
        f"{sys.version_info.major}.{sys.version_info.minor}: create the virtual environment "
        "with a newer python3 (make book does this for you)."
    )

# The one source of the version: course_utils/pyproject.toml reads it, releases pin it.
__version__ = "0.3.0"

_LAZY = {
    "get_device": "course_utils.runtime",
    "seed_everything": "course_utils.runtime",
    "profile": "course_utils.runtime",
    "data_dir": "course_utils.runtime",
    "describe_runtime": "course_utils.runtime",
    "ConfigurationError": "course_utils.runtime",
    "standin": "course_utils.runtime",
    "capped": "course_utils.runtime",
}

__all__ = sorted(_LAZY)

if os.environ.get("COURSE_STANDIN", "").strip().lower() in ("1", "yes", "true"):
    # Every page imports this package, so every page of a stand-in build says so at its top.
    print(
        "Stand-in run (COURSE_STANDIN=1): the data sets and pretrained weights are generated "
        "stand-ins (few samples, random weights) and training is capped, so no number on "
        "this page is a result of the course."
    )


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
