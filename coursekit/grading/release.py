"""``course release``: exercises/ regenerated from solutions/ by nbgrader, and the sync check."""

from __future__ import annotations

import filecmp
from pathlib import Path

from .course import Course


def release(course: Course, assignment: str) -> list[Path]:
    """Regenerate ``exercises/ASSIGNMENT`` (and the gradebook's copy of its cells)."""
    course.run_nbgrader("GenerateAssignment", assignment)
    return sorted(p for p in (course.release_dir / assignment).rglob("*") if p.is_file())


def generate_into(course: Course, assignment: str, release_dir: Path, db_url: str) -> Path:
    """Generate the student version into ``release_dir`` with a separate gradebook."""
    course.run_nbgrader(
        "GenerateAssignment",
        assignment,
        **{"CourseDirectory.release_directory": str(release_dir), "CourseDirectory.db_url": db_url},
    )
    return Path(release_dir) / assignment


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
    }


def release_differences(generated: Path, committed: Path) -> list[str]:
    """Sentences naming each file that is missing, extra or different in ``committed``."""
    new, old = _files(generated), _files(committed)
    problems = [f"{committed / name} is missing" for name in sorted(set(new) - set(old))]
    problems += [
        f"{committed / name} is not generated from the source"
        for name in sorted(set(old) - set(new))
    ]
    problems += [
        f"{committed / name} differs from what nbgrader generates"
        for name in sorted(set(new) & set(old))
        if not filecmp.cmp(new[name], old[name], shallow=False)
    ]
    return problems
