"""The authoring API of exercise test cells: ``from course_utils.testing import check_tensor``.

A thin re-export of ``course_utils.checking.checks`` (the checks, their records and their
one-line failures) so that test cells and the documentation keep one stable import::

    from course_utils.testing import check_tensor, check_close, random_tensor
    X = random_tensor(5, 7, seed=1)
    with watching_bans("ex01_convolution", "corr2d"):  # the part's library ban
        check_tensor(corr2d(X, K), reference, name="corr2d(X, K)")

What passes is decided by ``course_utils.checking.rules`` (the one rulebook, also the grader's);
see docs/authoring-exercises.md for which check to use when. ``hidden_cases`` hands a hidden test
the inputs of an inverse problem drawn outside the student's kernel (``checking.cases``).
"""

from course_utils.checking.bans import watching_bans
from course_utils.checking.cases import hidden_cases
from course_utils.checking.checks import (
    PREDICATES,
    RECORD_MIME,
    check_calls,
    check_close,
    check_equal,
    check_raises,
    check_tensor,
    check_that,
    check_type,
    encode,
    prediction,
    random_tensor,
    record,
    recording_mode,
    send_record,
)
from course_utils.tolerances import FLOAT32_TOLERANCE, tolerances

__all__ = [
    "FLOAT32_TOLERANCE",
    "PREDICATES",
    "RECORD_MIME",
    "check_calls",
    "check_close",
    "check_equal",
    "check_raises",
    "check_tensor",
    "check_that",
    "check_type",
    "encode",
    "hidden_cases",
    "prediction",
    "random_tensor",
    "record",
    "recording_mode",
    "send_record",
    "tolerances",
    "watching_bans",
]
