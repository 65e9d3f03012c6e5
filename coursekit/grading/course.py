"""Where a course lives: its folders, read from ``nbgrader_config.py``, and nbgrader's steps.

The course root is the folder holding ``nbgrader_config.py`` (the current one or a parent). Every
nbgrader step runs in-process with that configuration plus overrides, so ``course`` and plain
``nbgrader`` commands always agree on folders and options.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_NAME = "nbgrader_config.py"
ASSIGNMENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class GradingError(Exception):
    """A problem the user can fix, told in one sentence (the CLI prints it and exits 1)."""


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds ``nbgrader_config.py``."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise GradingError(
        f"no {CONFIG_NAME} found in {start} or its parents: run this from the course folder "
        "(or pass --root)"
    )


def _venv_tools_on_path() -> None:
    """nbgrader runs ``alembic`` to create a gradebook: find it next to this Python."""
    import sys

    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")


@dataclass
class Course:
    """A course folder and its nbgrader configuration (``overrides`` win over the file)."""

    root: Path
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        _venv_tools_on_path()
        self.root = Path(self.root).resolve()
        if not (self.root / CONFIG_NAME).is_file():
            raise GradingError(f"{self.root} has no {CONFIG_NAME}")

    # -- configuration ---------------------------------------------------------------------
    def config(self, **extra):
        """``nbgrader_config.py`` as a traitlets Config, then ``overrides``, then ``extra``."""
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        loader = PyFileConfigLoader(CONFIG_NAME, path=str(self.root))
        cfg = loader.load_config()
        cfg.CourseDirectory.root = str(self.root)
        for source in (self.overrides, extra):
            for dotted, value in source.items():
                section, name = dotted.rsplit(".", 1)
                cfg.merge(Config({section: {name: value}}))
        return cfg

    def setting(self, dotted: str, default=None):
        section, name = dotted.rsplit(".", 1)
        cfg = self.config()
        if section in cfg and name in cfg[section]:
            return cfg[section][name]
        return default

    def folder(self, name: str, default: str) -> Path:
        value = self.setting(f"CourseDirectory.{name}", default)
        return (self.root / value).resolve()

    @property
    def source_dir(self) -> Path:
        return self.folder("source_directory", "source")

    @property
    def release_dir(self) -> Path:
        return self.folder("release_directory", "release")

    @property
    def submitted_dir(self) -> Path:
        return self.folder("submitted_directory", "submitted")

    @property
    def autograded_dir(self) -> Path:
        return self.folder("autograded_directory", "autograded")

    @property
    def feedback_dir(self) -> Path:
        return self.folder("feedback_directory", "feedback")

    @property
    def db_url(self) -> str:
        url = self.setting("CourseDirectory.db_url", "sqlite:///gradebook.db")
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            url = prefix + str(self.root / url[len(prefix) :])
        return url

    @property
    def db_path(self) -> Path | None:
        url = self.db_url
        return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None

    @property
    def cell_timeout(self) -> int:
        return int(self.setting("Execute.timeout", 30) or 30)

    # -- assignments -----------------------------------------------------------------------
    def assignments(self) -> list[str]:
        """Assignments in the source folder: subfolders holding at least one notebook."""
        if not self.source_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.source_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb"))
        )

    def require_assignment(self, name: str) -> str:
        if not ASSIGNMENT_NAME.match(name) or name not in self.assignments():
            known = ", ".join(self.assignments()) or "none"
            raise GradingError(
                f"unknown assignment {name!r}: {self.source_dir} has no such folder with a "
                f"notebook (known: {known})"
            )
        return name

    def source_notebooks(self, assignment: str) -> list[Path]:
        return sorted((self.source_dir / assignment).glob("*.ipynb"))

    def released_notebooks(self, assignment: str) -> list[Path]:
        return sorted((self.release_dir / assignment).glob("*.ipynb"))

    def ensure_dirs(self) -> None:
        for path in (self.submitted_dir, self.autograded_dir, self.feedback_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.db_path is not None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)

    # -- nbgrader steps ----------------------------------------------------------------------
    def run_nbgrader(
        self, converter_name: str, assignment: str, student: str | None = None, **overrides
    ) -> str:
        """Run one nbgrader converter (``GenerateAssignment``, ``Autograde``, ...) in-process.

        Returns nbgrader's log; raises GradingError with its last error line when it fails.
        """
        from nbgrader import converters
        from nbgrader.coursedir import CourseDirectory

        self.ensure_dirs()
        cfg = self.config(**overrides)
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = assignment
        if student is not None:
            coursedir.student_id = student
        converter = getattr(converters, converter_name)(coursedir=coursedir, config=cfg)
        converter.force = True
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        converter.log.handlers = [handler]
        converter.log.setLevel(logging.INFO)
        converter.log.propagate = False
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                converter.start()
        except Exception as error:  # nbgrader raises NbGraderException with details in its log
            detail = _error_detail(stream.getvalue()) or str(error)
            message = f"nbgrader {converter_name} failed for {assignment}: {detail}"
            raise GradingError(message) from None
        finally:
            handler.close()
        return stream.getvalue()


_EXCEPTION_LINE = re.compile(
    r"^\s*(?:[\w.]+\.)?(?P<name>\w*(?:Error|Exception|Exit))\b:?(?P<text>.*)$"
)


def _error_detail(log: str) -> str:
    """The most telling line of nbgrader's log: the exception that ended its traceback (nbgrader's
    own last [ERROR] line only says "see the above traceback")."""
    lines = log.splitlines()
    exceptions = [m for m in map(_EXCEPTION_LINE.match, lines) if m and "[" not in m.group(0)]
    if exceptions:
        last = exceptions[-1]
        return f"{last.group('name')}:{last.group('text')}".rstrip(":")
    errors = [line for line in lines if "[ERROR]" in line]
    return errors[-1].replace("[ERROR] ", "") if errors else ""


def open_gradebook(course: Course):
    """nbgrader's Gradebook for this course (use as a context manager)."""
    from nbgrader.api import Gradebook

    return Gradebook(course.db_url, course.setting("CourseDirectory.course_id", "") or "")


def kernel_environment(extra: dict | None = None) -> dict[str, str]:
    """Environment for a grading kernel: harmless warnings off, no GUI backend.

    nbgrader gives zero to a test cell that writes anything to stderr, so a deprecation warning
    from a library must not reach it.
    """
    env = {
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TQDM_DISABLE": "1",
    }
    env.update(extra or {})
    return env


def passthrough_environment() -> dict[str, str]:
    """The COURSE_* and thread settings a grading kernel inherits from the grader."""
    names = (
        "COURSE_DEVICE",
        "COURSE_PROFILE",
        "COURSE_DATA",
        "OMP_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LANG",
        "LC_ALL",
        "TZ",
    )
    return {name: os.environ[name] for name in names if name in os.environ}
