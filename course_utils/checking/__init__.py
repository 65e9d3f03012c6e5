"""The exercise helpers: what test cells import, and what the grader reads. No chapter imports it.

* ``rules``: the one rulebook, NumPy only: whether a value passes a check of each kind, with
  the one tolerance table (``course_utils.tolerances``). The checks in a student's kernel,
  ``course check`` and the grader's checker all decide with it.
* ``checks``: the ``check_*`` helpers test cells call (re-exported by ``course_utils.testing``,
  the documented authoring API); in a graded run they record values instead of asserting.
* ``bans``: each part's library ban, stated once, and the in-kernel watch of it.
* ``heldout``: training parts graded on data the student's notebook cannot reach.
* ``cases``: hidden cases of inverse problems (the answer made the input), drawn outside the
  student's kernel and handed in as inputs alone.

The book's execution cache does not hash this folder (``coursekit.preflight``): editing a ban or
a check re-executes no chapter.
"""
