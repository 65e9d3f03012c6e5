"""Grading with nbgrader: what the ``course`` command does, one concept a module.

- ``course``    where a course's folders are, read from ``nbgrader_config.py``; runs nbgrader steps
- ``notebooks`` reading notebooks safely, graded cells, hidden-test and solution lines
- ``execute``   running a notebook in a fresh kernel with time and output limits; value records
- ``sandbox``   the kernel of an untrusted submission in bubblewrap, as a user of its own, with
                rlimits and a cgroup
- ``worker``    one job (graded, reference or feedback run) of one submission: JSON in, files out
- ``rewrite``   test cells without their expected values, for graded runs
- ``records``   value records as data: JSON + npz, never pickle
- ``guard``     the kernel-side check: a message for students, never a verdict
- ``intake``    LMS downloads into submitted/ (``course collect``), every folder accounted for
- ``normalize`` notebook files as editors write them, made into what nbgrader expects (at intake)
- ``check``     ``course check``: the visible tests of one notebook, for students
- ``autograde`` grading a class, phase by phase (intake here):
- ``reference`` the solution's clean reference run, cached per assignment
- ``execution`` worker jobs in parallel (the untrusted phase)
- ``checker``   each test's verdict from the records, outside every student process
- ``evaluate``  trained models' weights evaluated in a fresh process
- ``recording`` the verdicts into nbgrader's gradebook
- ``feedback``, ``feedback_run``  feedback: the student's own run plus the verdicts
- ``validate``  an assignment grades right: full marks, zero for the stub, in sync, no leaks
- ``report``    tables and the progress bar

Nothing here imports torch: the ``course`` command starts fast.
"""
