"""The course's infrastructure: the ``course`` command, the grader and the Sphinx extension.

This package serves instructors and maintainers. It imports the teaching library
(``course_utils``), never the other way round: a student's kernel, a chapter and a Colab install
need only ``course_utils``. See docs/ARCHITECTURE.md.
"""
