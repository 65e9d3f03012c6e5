"""Every data set of the course under one name (the chapters and exercises import from here).

The code lives by concept in two modules, re-exported here unchanged:

* :mod:`course_utils.datasets`: the classification data (``digits``, ``fashion_mnist``,
  ``classification_loaders``), its download and caching, ``to_uint8``, and the digits' split
  into the public images and the held-out ones that grading scores a trained network on;
* :mod:`course_utils.micrographs`: the microscope simulator (``micrographs``, ``Micrographs``).
"""

from course_utils.datasets import (
    DataUnavailableError,
    classification_loaders,
    digits,
    digits_path,
    fashion_mnist,
    held_out_digit_indices,
    held_out_digits,
    public_digits,
    to_uint8,
)
from course_utils.micrographs import MICROGRAPH_SHAPES, Micrographs, micrographs

__all__ = [
    "MICROGRAPH_SHAPES",
    "DataUnavailableError",
    "Micrographs",
    "classification_loaders",
    "digits",
    "digits_path",
    "fashion_mnist",
    "held_out_digit_indices",
    "held_out_digits",
    "micrographs",
    "public_digits",
    "to_uint8",
]
