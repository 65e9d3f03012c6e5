"""nbgrader configuration: plain `nbgrader` commands work from the repository root.

solutions/ is nbgrader's source folder (the one place an exercise is edited) and exercises/ its
release folder (committed). Everything grading writes lives under .grading/ (git-ignored).
"""

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

# Released notebooks carry no outputs and no hidden tests.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearOutput.enabled = True

# Per-cell execution limit; the slowest graded cell (a short CPU training run) needs < 2 minutes.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True

# Feedback must not show hidden tests to students.
c.ClearHiddenTests.enabled = True
