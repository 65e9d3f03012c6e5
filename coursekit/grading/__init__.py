"""Grading with nbgrader: what the ``course`` command does, one concept a module.

- ``course``    where a course's folders are, read from ``nbgrader_config.py``; runs nbgrader steps
- ``notebooks`` reading notebooks safely, graded cells, hidden-test and solution lines
- ``execute``   running a notebook in a fresh kernel with time and output limits
- ``sandbox``   the kernel of an untrusted submission in bubblewrap, as ``nobody``, with rlimits
- ``guard``     the kernel-side check run before each test cell (monkeypatches that make tests lie)
- ``intake``    LMS downloads into submitted/ (``course collect``), every folder accounted for
- ``normalize`` notebook files as editors write them, made into what nbgrader expects
- ``check``     ``course check``: the visible tests of one notebook, for students
- ``autograde`` grading a class in parallel, each submission isolated
- ``validate``  an assignment grades right: full marks, zero for the stub, in sync, no leaks
- ``report``    tables and the progress bar

Nothing here imports torch: the ``course`` command starts fast.
"""
