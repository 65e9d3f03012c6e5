"""nbgrader configuration: plain `nbgrader` commands work from the repository root.

solutions/ is nbgrader's source folder (the one place an exercise is edited) and exercises/ its
release folder (committed). Everything grading writes lives under .grading/ (git-ignored).
The `course` command (coursekit/cli.py) reads this same file and adds a sandbox, parallel
grading, `course check` for students and `course validate` for CI.
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = ".grading/submitted"
c.CourseDirectory.autograded_directory = ".grading/autograded"
c.CourseDirectory.feedback_directory = ".grading/feedback"
c.CourseDirectory.db_url = "sqlite:///.grading/gradebook.db"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# nbgrader opens the gradebook before it creates any folder: on a fresh clone .grading/ must
# exist first, or every plain nbgrader command fails with "error accessing the nbgrader database".
os.makedirs(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".grading"), exist_ok=True)
# nbgrader creates the gradebook with the `alembic` tool installed next to it: found even when
# nbgrader is called as .venv/bin/nbgrader without activating the virtual environment.
_tools = os.path.dirname(sys.executable)
if _tools not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _tools + os.pathsep + os.environ.get("PATH", "")

# Released notebooks carry no outputs and no hidden tests.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearOutput.enabled = True

# Per-cell execution limit; the slowest graded cell (a short CPU training run) needs < 2 minutes.
# `course autograde --timeout` overrides it; the whole submission is bounded separately (900 s).
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True

# nbgrader gives zero to a test cell that writes anything to stderr. Kernels inherit this
# process's environment, so harmless library warnings are silenced for every grading kernel
# (plain nbgrader too); `course` sets the same in its sandboxed kernels. No MPLBACKEND here:
# JupyterLab's nbgrader extensions load this file into the notebook server too, and a backend
# set there would reach every kernel it starts, so chapter notebooks would draw nothing.
os.environ.setdefault("PYTHONWARNINGS", "ignore")

# `nbgrader zip_collect ASSIGNMENT` takes LMS downloads from
# .grading/downloaded/ASSIGNMENT/archive/ and, unless a named_regexp is configured, recognises
# the Canvas, Moodle and Blackboard layouts (coursekit.grading.intake; `course collect` does the
# same and names every file it skips).
c.ZipCollectApp.downloaded_directory = ".grading/downloaded"

# Feedback must not show hidden tests to students: nbgrader's default feedback renders the
# autograded notebook, hidden tests included. Trim tracebacks of hidden tests (they quote the
# failing line), then remove the hidden regions, then add grades and styles.
try:
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    from coursekit.grading.nbgrader_plugins import TrimHiddenTracebacks

    c.GenerateFeedback.preprocessors = [
        TrimHiddenTracebacks,
        ClearHiddenTests,
        GetGrades,
        CSSHTMLHeaderPreprocessor,
    ]
    c.ClearHiddenTests.enabled = True

    from coursekit.grading.intake import LmsCollectorPlugin

    c.ZipCollectApp.collector_plugin = LmsCollectorPlugin
except ImportError:  # coursekit not importable: nbgrader still works, feedback unsafe
    pass
