"""Held-out evaluation of recorded weights, on the trusted side (see course_utils.checking.heldout).

- ``masked_files()``: files a graded kernel's sandbox sees replaced: scikit-image's face images
  and scikit-learn's digits with the held-out ones blanked, so no notebook can train on (or
  read) what it is graded on.
- ``check_heldout``: the checker's rule for a ``heldout`` record. The student's weights (arrays,
  loaded without pickle) are first checked, by shape alone, against the exercise's architecture
  (``check_state_shapes``, on the meta device: nothing is allocated, so shapes that ask for a
  600-million-class layer cost nothing). Then they and the held-out *images* (drawn here with
  the submission's seed, ``Draw``) go to a fresh process in the sandbox that runs only the
  course's own code (``python -m course_utils.checking.heldout``, under the limits below): the
  architecture is rebuilt, the weights loaded and the logits written; the labels stay here,
  where the accuracy is computed. The part passes when it is at least the reference's bound.
- ``check_exported``: the rule for an ``exported`` record, a model of the student's own design
  exported with ``torch.export``. An exported archive can carry Python (pickled weights,
  constants and sample inputs, guard code, custom objects, higher-order operators), so here,
  before anything loads it, ``course_utils.checking.heldout.checked_program`` refuses every
  archive that holds more than raw tensors and a graph of ATen operators, and rebuilds the
  archive from the checked members (the sample inputs dropped). Then, in the trusted process,
  the held-out inputs and their labels or masks are drawn with the submission's seed; the
  program and the *inputs only* go to a fresh process in the sandbox (``run_program``: as a
  user of its own, under a timeout, a memory limit and, as root, a cgroup), which writes the
  program's outputs to a ``.npy``. That file is read here without pickle, its shape, dtype and
  finiteness checked, and the accuracy or IoU computed here
  (``course_utils.checking.heldout.score``). Where the grader runs without a sandbox
  (``--no-sandbox``, trusted notebooks only), the process is a plain one.
- ``Draw``: the seeds. A regrade must not change a grade, and a notebook must not know what it
  is graded on: the seed of a held-out check is HMAC-SHA256 of ``assignment/student/check``
  under the course's secret key (``course_key``: 32 random bytes made once with ``secrets`` in
  ``.grading/heldout.key``, mode 0600, on the grader's machine only; no sandbox binds
  ``.grading/``), truncated to 31 bits. The same submission graded twice is judged on the same
  images; another student, or another course, on others.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXPORTED_TIMEOUT = 120  # seconds to load and run an exported program on one held-out batch
EXPORTED_MEMORY = 3 * 2**30
MAX_PROGRAM_BYTES = 64 * 2**20


KEY_FILE = Path(".grading") / "heldout.key"  # under the course's root
KEY_BYTES = 32


class HeldOutError(Exception):
    pass


def course_key(root: Path) -> bytes:
    """The course's secret key for held-out draws: read from ``root/.grading/heldout.key``, or
    made there once (``secrets``, mode 0600; a grader that races this one keeps the first)."""
    path = Path(root) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.parent / f".{path.name}.{os.getpid()}"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, secrets.token_bytes(KEY_BYTES))
        finally:
            os.close(descriptor)
        try:
            os.link(partial, path)  # never replaces a key another grader made meanwhile
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    if path.is_symlink() or not path.is_file():
        raise HeldOutError(f"{path} is not a plain file: remove it, and a new key is made")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise HeldOutError(
            f"{path} is not a key of {KEY_BYTES} bytes: remove it, and a new key is made "
            "(held-out draws change once)"
        )
    return key


@dataclass(frozen=True)
class Draw:
    """Who is graded: the seed of each held-out check follows from it and the course's key."""

    key: bytes
    assignment: str
    student: str

    def seed(self, check: str) -> int:
        """A 31-bit seed for ``check`` (its test's grade_id and name) of this submission."""
        message = f"{self.assignment}/{self.student}/{check}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") & (2**31 - 1)


def _seed(seed: int | None) -> int:
    """``seed``, or, for a direct call without a ``Draw``, a fresh secret one."""
    return secrets.randbits(31) if seed is None else int(seed)


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
    return _masked_faces() + _masked_digits()


def _masked_digits() -> list[tuple[str, str]]:
    """scikit-learn's ``digits.csv.gz`` with the held-out images' pixels set to 0 (labels kept,
    so ``public_digits`` splits the same way inside and outside the sandbox)."""
    import gzip

    try:
        from course_utils.checking.heldout import digits_path

        original = digits_path()
    except ImportError:
        return []
    if not original.is_file():
        return []
    import hashlib

    from course_utils.checking.heldout import held_out_digit_indices

    held = held_out_digit_indices().tolist()
    tag = hashlib.sha256(repr(held).encode()).hexdigest()[:12]
    folder = _private_folder()
    replacement = folder / f"digits-public-{original.stat().st_size}-{tag}.csv.gz"
    if not replacement.is_file():
        rows = gzip.decompress(original.read_bytes()).decode("ascii").splitlines()
        for index in held:
            fields = rows[index].split(",")
            rows[index] = ",".join(["0"] * (len(fields) - 1) + [fields[-1]])
        partial = folder / f".{os.getpid()}-{replacement.name}"
        partial.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode("ascii"), mtime=0))
        os.chmod(partial, 0o644)
        os.replace(partial, replacement)
    return [(str(original), str(replacement))]


def _masked_faces() -> list[tuple[str, str]]:
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
        from course_utils.checking.heldout import held_out_indices

        images = np.load(original, allow_pickle=False).copy()
        images[held_out_indices().numpy()] = 0.0
        partial = folder / f".{os.getpid()}-{replacement.name}"
        np.save(partial, images, allow_pickle=False)
        os.chmod(partial, 0o644)
        os.replace(partial, replacement)
    return [(str(original), str(replacement))]


def evaluate(task: str, arrays: dict[str, np.ndarray], seed: int, sandbox: bool = True) -> float:
    """The held-out accuracy of ``arrays`` (state_dict name -> array).

    The shapes are checked against the task's architecture here, before anything is allocated;
    the weights and the held-out *images* go to a fresh process in the sandbox (the same limits
    as an exported program's), which rebuilds the model and writes its logits; the labels stay
    here, where the accuracy is computed.
    """
    from course_utils.checking.heldout import FACES_CLASSES, check_state_shapes, held_out_faces

    check_state_shapes(task, {name: array.shape for name, array in arrays.items()})
    images, labels = held_out_faces(seed)
    with tempfile.TemporaryDirectory(prefix="course-heldout-") as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        with open(folder / "weights.npz", "wb") as handle:
            np.savez(handle, **{f"w{i}": a for i, a in enumerate(arrays.values())})
        (folder / "names.json").write_text(json.dumps(list(arrays)))
        (folder / "task.json").write_text(json.dumps({"task": task}))
        np.save(folder / "images.npy", images.numpy().astype(np.float32), allow_pickle=False)
        done = run_program(folder, sandbox)
        if done.returncode != 0:
            raise HeldOutError("the weights did not run on the held-out images")
        outputs = _checked_outputs(folder / "outputs.npy", (len(labels), FACES_CLASSES))
    return float(np.mean(outputs.argmax(axis=1) == labels.numpy()))


def check_heldout(student, expected, params, sandbox: bool = True, seed: int | None = None) -> None:
    """The checker's rule (raises ``checker.Mismatch`` with a fixed reason); ``seed``: the
    submission's (``Draw.seed``); ``sandbox``: whether the evaluation runs in the sandbox."""
    from .checker import Mismatch

    kind, raw = student
    if kind != "dict" or not raw or not all(k == "tensor" for k, _ in raw.values()):
        raise Mismatch("is not a model's weights")
    arrays = {name: value["array"] for name, (_, value) in raw.items()}
    try:
        accuracy = evaluate(str(params.get("task")), arrays, _seed(seed), sandbox=sandbox)
    except (HeldOutError, subprocess.TimeoutExpired, ValueError):
        raise Mismatch(
            "could not be evaluated on the held-out images (not the exercise's architecture?)"
        ) from None
    if not accuracy >= float(expected[1]):
        raise Mismatch(
            f"reaches {accuracy:.1%} on the held-out images, below the "
            f"required {float(expected[1]):.0%}"
        )


def _run_logged(command: list[str], folder: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` under the timeout with its stdout and stderr in a file beside
    ``folder`` (bounded by the file size limit, not by this process's memory); the result's
    ``stdout`` is the last 64 KiB of both."""
    with open(folder.parent / f"{folder.name}.log", "w+b") as log:
        done = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=EXPORTED_TIMEOUT,
            check=False,
            **kwargs,
        )
        log.seek(max(0, log.tell() - 2**16))
        text = log.read().decode("utf-8", "replace")
    return subprocess.CompletedProcess(command, done.returncode, text, "")


def run_program(
    folder: Path, sandbox: bool, argv: list[str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m course_utils.checking.heldout FOLDER`` (or ``argv``, for tests) in a fresh
    process with ``folder`` as its only writable place, in the sandbox unless ``sandbox`` is
    False."""
    from .execute import teaching_library_dir

    env = {
        "HOME": str(folder),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "MPLCONFIGDIR": str(folder / ".matplotlib"),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": str(Path(teaching_library_dir()).parent),
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
    }
    argv = argv or [sys.executable, "-m", "course_utils.checking.heldout", str(folder)]
    if not sandbox:
        return _run_logged(argv, folder, env=env, cwd=folder)
    from .sandbox import (
        NOBODY_UID,
        KernelCgroup,
        Limits,
        allocate_uid,
        bwrap_command,
        prepare_scratch,
        unprivileged,
    )

    limits = Limits(memory_bytes=EXPORTED_MEMORY, submission_timeout=EXPORTED_TIMEOUT)
    uid, lock, group = NOBODY_UID, None, None
    try:
        if unprivileged():
            uid = os.getuid()
        else:
            uid, lock = allocate_uid()
            group = KernelCgroup(f"course-{os.getpid()}-heldout-{uid}", limits)
        prepare_scratch(folder, uid)
        files = group.files if group else None
        command = bwrap_command(folder, limits, env, argv, uid, files, masked=masked_files())
        return _run_logged(command, folder)
    finally:
        if group is not None:
            group.remove()
        if lock is not None:
            os.close(lock)


def _checked_outputs(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The program's outputs, read without pickle; ``HeldOutError`` unless float, finite and
    of ``shape``."""
    expected_bytes = 4 * int(np.prod(shape))
    if not path.is_file() or path.is_symlink():
        raise HeldOutError("the program wrote no outputs")
    if path.stat().st_size > expected_bytes + 4096:
        raise HeldOutError("the program wrote more than its outputs")
    try:
        outputs = np.load(path, allow_pickle=False)
    except Exception:  # noqa: BLE001 - any unreadable file is the same refusal
        raise HeldOutError("the program's outputs do not load") from None
    if not isinstance(outputs, np.ndarray) or outputs.dtype != np.float32:
        raise HeldOutError("the program's outputs are not float32")
    if outputs.shape != tuple(shape):
        raise HeldOutError("the program's outputs have the wrong shape")
    if not np.all(np.isfinite(outputs)):
        raise HeldOutError("the program's outputs are not all finite")
    return outputs


class TooLarge(Exception):
    """An exported program that stores more numbers than its design limit."""

    def __init__(self, stored: int, limit: int):
        super().__init__(f"{stored} > {limit}")
        self.stored, self.limit = stored, limit


def _stored_numbers(path: Path) -> int:
    """The count ``run_exported`` wrote (``HeldOutError`` unless one plain number)."""
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 32:
        raise HeldOutError("the program's size was not reported")
    text = path.read_text().strip()
    if not text.isdigit():
        raise HeldOutError("the program's size was not reported")
    return int(text)


def evaluate_exported(
    task: str,
    program: bytes,
    seed: int,
    sandbox: bool = True,
    max_parameters: int | None = None,
    **options,
):
    """The score of an exported ``program`` on the held-out data of ``task`` drawn with ``seed``.

    The inputs go to the program's process; the labels or masks stay in this one. With
    ``max_parameters``, a program holding more numbers (``stored_numbers``, counted from the
    program itself, in the same sandboxed process) raises ``TooLarge``.
    """
    from course_utils.checking.heldout import (
        COUNT_REQUESTED,
        held_out_data,
        output_shape,
        score,
    )

    inputs, truth = held_out_data(task, seed, **options)
    with tempfile.TemporaryDirectory(prefix="course-exported-") as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        (folder / "program.pt2").write_bytes(program)
        np.save(folder / "images.npy", inputs.numpy().astype(np.float32), allow_pickle=False)
        if max_parameters is not None:
            (folder / COUNT_REQUESTED).write_text("")
        del inputs
        done = run_program(folder, sandbox)
        if done.returncode != 0:
            raise HeldOutError("the program did not run on the held-out images")
        outputs = _checked_outputs(folder / "outputs.npy", output_shape(task))
        if max_parameters is not None:
            stored = _stored_numbers(folder / "stored.txt")
            if stored > max_parameters:
                raise TooLarge(stored, max_parameters)
    return score(task, outputs, truth.numpy())


def check_exported(
    student, expected, params, sandbox: bool = True, seed: int | None = None
) -> None:
    """The checker's rule for an ``exported`` record (raises ``checker.Mismatch``); ``seed``:
    the submission's (``Draw.seed``)."""
    from .checker import Mismatch

    program = student_program(student)
    task, bound = str(params.get("task")), float(expected[1])
    limit = params.get("max_parameters")
    try:
        value = evaluate_exported(
            task,
            program,
            _seed(seed),
            sandbox=sandbox,
            max_parameters=None if limit is None else int(limit),
            **dict(params.get("options") or {}),
        )
    except TooLarge as error:
        raise Mismatch(
            f"is of a model that stores {error.stored:,} numbers, more than the "
            f"{error.limit:,} its design allows (counted from the exported program)"
        ) from None
    except (HeldOutError, subprocess.TimeoutExpired):
        raise Mismatch(
            "could not be evaluated on the held-out data (the exported program failed to "
            "run, or its outputs were not finite numbers of the right shape)"
        ) from None
    what = "an accuracy" if task == "digits8" else "a mean IoU"
    if not value >= bound:
        raise Mismatch(f"reaches {what} of {value:.3f} on the held-out data, below {bound:g}")


# -- facts about a model's architecture, computed from its exported program -----------------
MAX_FACTS_BYTES = 64 * 2**10


def _checked_facts(path: Path) -> dict:
    """The facts ``run_architecture`` wrote, read as plain JSON and checked for their types
    (``HeldOutError`` otherwise)."""
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_FACTS_BYTES:
        raise HeldOutError("the program's facts were not written")
    try:
        facts = json.loads(path.read_text())
    except ValueError:
        raise HeldOutError("the program's facts do not read") from None

    def whole(value) -> bool:
        return type(value) is int and value >= 0

    operations = facts.get("operations") if isinstance(facts, dict) else None
    shape = facts.get("output_shape") if isinstance(facts, dict) else None
    if not (
        isinstance(operations, dict)
        and all(isinstance(k, str) and whole(v) for k, v in operations.items())
        and isinstance(shape, list)
        and all(whole(n) for n in shape)
        and whole(facts.get("stored_numbers"))
        and whole(facts.get("zeroed_numbers", 0))
        and type(facts.get("follows_input", False)) is bool
    ):
        raise HeldOutError("the program's facts are not of the expected kinds")
    return facts


def evaluate_architectures(jobs: list, sandbox: bool = True) -> list:
    """The facts (``course_utils.checking.heldout.architecture_facts``) of checked exported
    programs, ``jobs`` of ``(program, input_shape, zeroed, seed)``, computed in one fresh
    sandboxed process: each program on two inputs of ``input_shape`` drawn here with its
    ``seed`` (``probe_inputs``); ``zeroed``: the name prefixes of the parameters set to zero
    before the outputs on the two are compared. One entry per job: its facts, or the
    ``HeldOutError`` that says why there are none."""
    from course_utils.checking.heldout import probe_inputs

    results: list = []
    with tempfile.TemporaryDirectory(prefix="course-architecture-") as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        (folder / "architecture").write_text("facts of exported programs\n")
        for index, (program, input_shape, zeroed, seed) in enumerate(jobs):
            job = folder / str(index)
            job.mkdir()
            first, second = probe_inputs(input_shape, seed)
            (job / "program.pt2").write_bytes(program)
            probe = np.stack([first.numpy(), second.numpy()]).astype(np.float32)
            np.save(job / "probe.npy", probe, allow_pickle=False)
            (job / "request.json").write_text(json.dumps({"zeroed": [str(z) for z in zeroed]}))
        try:
            run_program(folder, sandbox)
        except subprocess.TimeoutExpired:
            pass  # what was written before the time ran out still counts
        for index in range(len(jobs)):
            try:
                results.append(_checked_facts(folder / str(index) / "facts.json"))
            except HeldOutError as error:
                results.append(error)
    return results


def student_program(student) -> bytes:
    """The checked program of an ``exported`` or ``architecture`` record: refused (with
    ``checker.Mismatch``) unless it is an archive of tensors and ATen operations only."""
    from course_utils.checking.heldout import UnsafeProgram, checked_program

    from .checker import Mismatch

    kind, raw = student
    if (kind, raw) == ("str", "export failed"):
        raise Mismatch(
            "is of a model that torch.export could not export (course check names the error)"
        )
    if kind != "array" or raw.dtype != np.uint8 or raw.ndim != 1 or not 0 < raw.size:
        raise Mismatch("is not an exported model")
    if raw.size > MAX_PROGRAM_BYTES:
        raise Mismatch(f"is an exported model larger than {MAX_PROGRAM_BYTES // 2**20} MiB")
    try:
        return checked_program(raw.tobytes())
    except UnsafeProgram as error:
        raise Mismatch(
            f"is an exported model that the grader does not load: {error} (an exported model "
            "may hold only tensors and ATen operations)"
        ) from None


def architecture_job(student, params, seed: int | None) -> tuple:
    """``(program, input_shape, zeroed, seed)`` for ``evaluate_architectures`` (raises
    ``checker.Mismatch`` for a record that holds no loadable program)."""
    return (
        student_program(student),
        tuple(params.get("input_shape") or ()),
        tuple(params.get("zeroed") or ()),
        _seed(seed),
    )


def check_architecture(
    student, expected, params, sandbox: bool = True, seed: int | None = None, facts=None
) -> None:
    """The checker's rule for an ``architecture`` record (raises ``checker.Mismatch``): the
    student's exported program is checked (``checked_program``), its facts are computed outside
    the student's kernel (``evaluate_architectures``, or ``facts``: what a batch of the test
    cell's checks computed already) and compared, with the one rule
    (``architecture_differences``), with the facts of the reference run's record."""
    from course_utils.checking.heldout import architecture_differences, describe_facts

    from .checker import Mismatch

    job = architecture_job(student, params, seed)
    wanted = dict(params.get("facts") or {})
    if not wanted:
        raise Mismatch("has no facts of the design to compare with (an error of the exercise)")
    if facts is None:
        try:
            (facts,) = evaluate_architectures([job], sandbox)
        except ValueError:  # an input shape the grader does not probe
            facts = HeldOutError("no probe")
    if isinstance(facts, Exception):
        raise Mismatch(
            "could not be read from the exported program (it failed to run on an input of "
            "the test's shape, or returned no tensor)"
        )
    differences = architecture_differences(facts, wanted)
    if differences:
        raise Mismatch(
            "is of a model whose exported program differs from the design in "
            f"{describe_facts(differences)} (computed by the grader from the program)"
        )
