"""Held-out evaluation of recorded weights, on the trusted side (see course_utils.heldout).

- ``masked_files()``: files a graded kernel's sandbox sees replaced: scikit-image's face images
  with the held-out ones blanked, so no notebook can train on (or read) what it is graded on.
- ``check_heldout``: the checker's rule for a ``heldout`` record. The student's weights (arrays,
  loaded without pickle) are written to a temporary ``.npz`` and evaluated by a fresh Python
  process that runs only the course's own code (``python -m coursekit.grading.heldout``): the
  architecture is rebuilt from ``course_utils``, the weights loaded, the held-out images drawn
  with a seed chosen now (``secrets``). The part passes when the accuracy is at least the
  reference's bound.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

EVALUATION_TIMEOUT = 300


class HeldOutError(Exception):
    pass


def _private_folder() -> Path:
    """A folder for the masked copy that only this user can write (others may read it).

    One per user (a grader without root cannot write root's); a folder of that name that
    another user made first is not trusted: then a fresh one is made.
    """
    folder = Path(tempfile.gettempdir()) / f"course-heldout-{os.getuid()}"
    try:
        folder.mkdir(mode=0o755)
    except FileExistsError:
        info = folder.lstat()
        if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
            folder = Path(tempfile.mkdtemp(prefix="course-heldout-"))
    folder.chmod(0o755)
    return folder


def masked_files() -> list[tuple[str, str]]:
    """``(path in the sandbox, replacement on the host)`` for every file a kernel must not read."""
    try:
        from course_utils.transfer import lfw_path

        original = lfw_path()
    except ImportError:
        return []
    if not original.is_file():
        return []
    folder = _private_folder()
    replacement = folder / f"lfw_subset-public-{original.stat().st_size}.npy"
    if not replacement.is_file():
        from course_utils.heldout import held_out_indices

        images = np.load(original, allow_pickle=False).copy()
        images[held_out_indices().numpy()] = 0.0
        partial = folder / f".{os.getpid()}-{replacement.name}"
        np.save(partial, images, allow_pickle=False)
        os.chmod(partial, 0o644)
        os.replace(partial, replacement)
    return [(str(original), str(replacement))]


def evaluate(task: str, arrays: dict[str, np.ndarray], seed: int) -> float:
    """The held-out accuracy of ``arrays`` (state_dict name -> array), in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="course-heldout-") as folder:
        weights = Path(folder) / "weights.npz"
        with open(weights, "wb") as handle:
            np.savez(handle, **{f"w{i}": a for i, a in enumerate(arrays.values())})
        (Path(folder) / "names.json").write_text(json.dumps(list(arrays)))
        env = {k: v for k, v in os.environ.items() if k not in ("COURSE_RECORD",)}
        env["CUDA_VISIBLE_DEVICES"] = ""
        done = subprocess.run(
            [sys.executable, "-m", "coursekit.grading.heldout", task, folder, str(seed)],
            capture_output=True,
            text=True,
            env=env,
            timeout=EVALUATION_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise HeldOutError(
                done.stderr.strip().splitlines()[-1]
                if done.stderr.strip()
                else "the evaluation failed"
            )
        return float(json.loads(done.stdout.strip().splitlines()[-1])["accuracy"])


def check_heldout(student, expected, params) -> None:
    """The checker's rule (raises ``checker.Mismatch`` with a fixed reason)."""
    from .checker import Mismatch

    kind, raw = student
    if kind != "dict" or not raw or not all(k == "tensor" for k, _ in raw.values()):
        raise Mismatch("is not a model's weights")
    arrays = {name: value["array"] for name, (_, value) in raw.items()}
    try:
        accuracy = evaluate(str(params.get("task")), arrays, secrets.randbits(31))
    except (HeldOutError, subprocess.TimeoutExpired, ValueError):
        raise Mismatch(
            "could not be evaluated on the held-out images (not the exercise's architecture?)"
        ) from None
    if not accuracy >= float(expected[1]):
        raise Mismatch(
            f"reaches {accuracy:.1%} on the held-out images, below the "
            f"required {float(expected[1]):.0%}"
        )


def _main(task: str, folder: str, seed: str) -> None:
    from course_utils.heldout import accuracy

    names = json.loads((Path(folder) / "names.json").read_text())
    data = np.load(Path(folder) / "weights.npz", allow_pickle=False)
    state = {name: data[f"w{i}"] for i, name in enumerate(names)}
    print(json.dumps({"accuracy": accuracy(task, state, int(seed))}))


if __name__ == "__main__":
    _main(*sys.argv[1:4])
