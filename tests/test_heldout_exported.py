"""Held-out grading of exported models (course_utils/checking/heldout.py, grading/heldout.py).

Fast: the digits8 split and its mask, the scores against scikit-learn, the checks of a
program's outputs, what ``record_exported`` records, and the checker's verdicts on small
exported models (plain subprocess). Slow: the same evaluation in the sandbox, and what the
program's process can see there.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checking import heldout
from coursekit.grading import heldout as grading_heldout
from coursekit.grading.checker import Mismatch
from coursekit.grading.sandbox import sandbox_available


class _Linear(nn.Module):
    """A 64 -> 10 linear classifier of (N, 1, 8, 8) digits."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def trained_linear():
    """A linear classifier trained on the public digits (about 95 % on held-out ones)."""
    torch.manual_seed(0)
    X, y, _, _ = heldout.public_digits(seed=0)
    model = _Linear()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model.eval()


def _exported(model, task="digits8"):
    return ("array", np.frombuffer(heldout.export_model(model, task), dtype=np.uint8))


def test_the_held_out_digits_are_30_of_each_class_and_not_among_the_public_ones():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    held = heldout.held_out_digit_indices().numpy()
    assert len(set(held.tolist())) == 300
    assert np.bincount(bunch.target[held], minlength=10).tolist() == [30] * 10
    X_train, y_train, X_test, y_test = heldout.public_digits(seed=0)
    assert (len(X_train), len(X_test)) == (1123, 374)
    assert X_train.shape[1:] == (1, 8, 8) and X_train.dtype == torch.float32
    public = torch.cat([X_train, X_test]).flatten(1).numpy() * 16
    rest = np.delete(bunch.data, held, 0)
    # the public images are exactly the 1,497 others, each once
    assert sorted(map(tuple, public.round())) == sorted(map(tuple, rest))
    assert heldout.public_digits(seed=3)[0].shape == X_train.shape
    assert not torch.equal(heldout.public_digits(seed=3)[0], X_train)


def test_the_grader_draws_200_held_out_digits_that_depend_on_its_seed():
    from sklearn.datasets import load_digits

    X1, y1 = heldout.held_out_digits(1)
    X2, _ = heldout.held_out_digits(2)
    assert X1.shape == (200, 1, 8, 8) and y1.shape == (200,) and y1.dtype == torch.int64
    assert not torch.equal(X1, X2)
    held = load_digits().data[heldout.held_out_digit_indices().numpy()]
    assert all((row * 16 == held).all(1).any() for row in X1.flatten(1).numpy())


def test_every_sandbox_sees_the_digits_file_with_the_held_out_images_blanked():
    masks = dict(grading_heldout.masked_files())
    original = str(heldout.digits_path())
    assert original in masks
    full = np.loadtxt(gzip.open(original, "rt"), delimiter=",")
    masked = np.loadtxt(gzip.open(masks[original], "rt"), delimiter=",")
    held = heldout.held_out_digit_indices().numpy()
    assert full.shape == masked.shape == (1797, 65)
    assert np.all(masked[held, :64] == 0) and np.any(full[held, :64] != 0)
    assert np.array_equal(masked[:, 64], full[:, 64])
    assert np.array_equal(np.delete(masked, held, 0), np.delete(full, held, 0))


def test_the_scores_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, jaccard_score

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 50)
    assert heldout.score("digits8", logits, labels) == pytest.approx(
        accuracy_score(labels, logits.argmax(1))
    )
    outputs = rng.normal(size=(6, 1, 8, 8)).astype(np.float32)
    truth = rng.random((6, 8, 8)) < 0.3
    truth[0] = False
    outputs[0] = -1.0  # two empty masks count 1
    expected = [1.0] + [
        jaccard_score(t.ravel(), p.ravel())
        for p, t in zip(outputs[1:, 0] > 0, truth[1:], strict=True)
    ]
    assert heldout.score("micrographs48", outputs, truth) == pytest.approx(np.mean(expected))


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.zeros((200, 10), np.float16), "not float32"),
        (np.zeros((200, 9), np.float32), "wrong shape"),
        (np.full((200, 10), np.nan, np.float32), "not all finite"),
        (np.zeros((400, 10), np.float32), "more than its outputs"),
    ],
)
def test_outputs_of_the_wrong_kind_are_refused(tmp_path, array, reason):
    np.save(tmp_path / "outputs.npy", array)
    with pytest.raises(grading_heldout.HeldOutError, match=reason):
        grading_heldout._checked_outputs(tmp_path / "outputs.npy", (200, 10))


def test_pickled_or_missing_outputs_are_refused(tmp_path):
    with pytest.raises(grading_heldout.HeldOutError, match="no outputs"):
        grading_heldout._checked_outputs(tmp_path / "outputs.npy", (200, 10))
    np.save(tmp_path / "outputs.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(grading_heldout.HeldOutError, match="do not load"):
        grading_heldout._checked_outputs(tmp_path / "outputs.npy", (1,))
    (tmp_path / "target.npy").write_bytes(b"")
    (tmp_path / "link.npy").symlink_to(tmp_path / "target.npy")
    with pytest.raises(grading_heldout.HeldOutError, match="no outputs"):
        grading_heldout._checked_outputs(tmp_path / "link.npy", (1,))


def test_record_exported_names_the_export_error_and_records_the_failure(monkeypatch):
    from course_utils.checking import checks as testing

    class Branchy(_Linear):
        def forward(self, x):
            y = self.fc(x.flatten(1))
            return y if y.sum() > 0 else -y

    monkeypatch.delenv("COURSE_RECORD", raising=False)
    with pytest.raises(AssertionError, match=r"^torch.export could not export your model \("):
        heldout.record_exported(Branchy(), "digits8", 0.9, "the accuracy")
    recorded = []
    monkeypatch.setattr(testing, "_publish", recorded.append)
    monkeypatch.setenv("COURSE_RECORD", "graded")
    heldout.record_exported(Branchy(), "digits8", 0.9, "the accuracy")
    assert recorded == [{"kind": "exported", "actual": {"py": "export failed", "type": "str"}}]
    with pytest.raises(ValueError, match="unknown exported-model task"):
        heldout.record_exported(_Linear(), "digits9", 0.9, "the accuracy")


def test_record_exported_records_a_program_that_loads(monkeypatch):
    from course_utils.checking import checks as testing
    from coursekit.grading.records import _array_from

    recorded = []
    monkeypatch.setattr(testing, "_publish", recorded.append)
    monkeypatch.setenv("COURSE_RECORD", "reference")
    heldout.record_exported(nn.Conv2d(1, 1, 3, padding=1), "micrographs48", 0.6, "IoU", dose=300)
    [record] = recorded
    assert record["expected"] == {"py": 0.6, "type": "float"}
    assert record["params"] == {"task": "micrographs48", "options": {"dose": 300}}
    program = _array_from(record["actual"]["array"])
    assert program.dtype == np.uint8
    loaded = torch.export.load(io.BytesIO(program.tobytes()))
    assert tuple(loaded.module()(torch.zeros(100, 1, 48, 48)).shape) == (100, 1, 48, 48)


def test_the_checker_scores_an_exported_model_outside_and_refuses_what_is_not_one(
    trained_linear,
):
    params = {"task": "digits8", "options": {}}
    check = grading_heldout.check_exported
    check(_exported(trained_linear), ("float", 0.9), params, sandbox=False)
    with pytest.raises(Mismatch, match=r"reaches an accuracy of 0\.\d+ on the held-out data"):
        check(_exported(_Linear()), ("float", 0.9), params, sandbox=False)
    with pytest.raises(Mismatch, match="torch.export could not export"):
        check(("str", "export failed"), ("float", 0.9), params, sandbox=False)
    with pytest.raises(Mismatch, match="not an exported model"):
        check(("array", np.zeros(5, np.float32)), ("float", 0.9), params, sandbox=False)
    with pytest.raises(Mismatch, match="not a torch.export archive"):
        check(("array", np.frombuffer(b"not a zip", np.uint8)), ("float", 0.9), params, False)
    # outputs of the wrong shape (5 classes, not 10)
    wrong = _exported(nn.Sequential(nn.Flatten(), nn.Linear(64, 5)))
    with pytest.raises(Mismatch, match="could not be evaluated"):
        check(wrong, ("float", 0.9), params, sandbox=False)


def test_only_the_program_and_the_images_reach_the_program_process(trained_linear, monkeypatch):
    seen = {}
    real = grading_heldout.run_program

    def spy(folder, sandbox):
        seen["files"] = sorted(p.name for p in folder.iterdir())
        seen["images"] = np.load(folder / "images.npy", allow_pickle=False)
        return real(folder, sandbox)

    monkeypatch.setattr(grading_heldout, "run_program", spy)
    program = heldout.export_model(trained_linear, "digits8")
    value = grading_heldout.evaluate_exported("digits8", program, 7, sandbox=False)
    X, y = heldout.held_out_digits(7)
    assert seen["files"] == ["images.npy", "program.pt2"]
    assert np.array_equal(seen["images"], X.numpy())
    with torch.no_grad():
        assert value == pytest.approx(float((trained_linear(X).argmax(1) == y).float().mean()))


class _Arrays(dict):
    """The arrays of a ``records.Records``, as ``numpy.load`` of an ``.npz`` gives them."""

    @property
    def files(self):
        return list(self)


def _judge(program, draw, bound=1.0):
    """The checker's verdict on a recorded exported program (``checker.judge_cell``)."""
    from coursekit.grading.checker import judge_cell
    from coursekit.grading.records import Records

    reference = [
        {
            "kind": "exported",
            "name": "the held-out accuracy",
            "expected": {"py": bound, "type": "float"},
            "params": {"task": "digits8", "options": {}},
            "line": 2,
        }
    ]
    got = Records({}, _Arrays(a0=program[1]))
    record = [{"kind": "exported", "actual": {"array": {"npz": "a0"}}}]
    ran = {"ran": True, "error": False}
    return judge_cell("test_small_cnn", reference, got, set(), record, got, ran, False, draw)


def test_a_regrade_judges_on_the_same_images_and_other_students_on_others(trained_linear):
    """A bound of 1.0 fails every model: the message then shows the score it reached."""
    key = bytes(range(32))
    program = _exported(trained_linear)
    first = _judge(program, grading_heldout.Draw(key, "ex04_architectures", "ann"))
    again = _judge(program, grading_heldout.Draw(key, "ex04_architectures", "ann"))
    assert not first.passed and "reaches an accuracy of 0." in first.message
    assert again == first
    others = {
        _judge(program, grading_heldout.Draw(key, "ex04_architectures", s)).message
        for s in ("bob", "cy", "dee")
    }
    assert len(others | {first.message}) > 1  # other draws, other scores


def test_a_draw_depends_on_the_key_the_assignment_the_student_and_the_check():
    draw = grading_heldout.Draw(b"k" * 32, "ex04_architectures", "ann")
    seeds = {
        draw.seed("test_small_cnn/acc"),
        draw.seed("test_other/acc"),
        grading_heldout.Draw(b"k" * 32, "ex04_architectures", "bob").seed("test_small_cnn/acc"),
        grading_heldout.Draw(b"k" * 32, "ex06_segmentation", "ann").seed("test_small_cnn/acc"),
        grading_heldout.Draw(b"j" * 32, "ex04_architectures", "ann").seed("test_small_cnn/acc"),
    }
    assert len(seeds) == 5 and all(0 <= s < 2**31 for s in seeds)
    assert draw.seed("test_small_cnn/acc") == draw.seed("test_small_cnn/acc")


def test_the_course_key_is_made_once_private_and_then_reused(tmp_path):
    path = tmp_path / grading_heldout.KEY_FILE
    key = grading_heldout.course_key(tmp_path)
    assert path.read_bytes() == key and len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert grading_heldout.course_key(tmp_path) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["heldout.key"]
    assert grading_heldout.course_key(tmp_path / "other") != key
    path.write_bytes(b"short")
    with pytest.raises(grading_heldout.HeldOutError, match="not a key of 32 bytes"):
        grading_heldout.course_key(tmp_path)


SANDBOX = sandbox_available()


@pytest.mark.slow
@pytest.mark.skipif(SANDBOX is not None, reason=f"no sandbox here: {SANDBOX}")
def test_in_the_sandbox_the_program_is_scored_and_its_process_reaches_no_labels(
    trained_linear, tmp_path, monkeypatch
):
    params = {"task": "digits8", "options": {}}
    grading_heldout.check_exported(_exported(trained_linear), ("float", 0.9), params)
    # what code in the program's process could read: run a probe in its place
    probe = (
        "import gzip, json, os, sys\n"
        "import numpy as np\n"
        "from course_utils.checking.heldout import digits_path, held_out_digit_indices\n"
        "rows = np.loadtxt(gzip.open(digits_path(), 'rt'), delimiter=',')\n"
        "held = held_out_digit_indices().numpy()\n"
        "print(json.dumps({'files': sorted(os.listdir('.')),\n"
        "  'held_out_pixels': float(np.abs(rows[held, :64]).sum()),\n"
        "  'repo': os.path.exists(sys.argv[1]), 'key': os.path.exists(sys.argv[2]),\n"
        "  'uid': os.getuid()}))\n"
    )
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "program.pt2").write_bytes(heldout.export_model(trained_linear, "digits8"))
    np.save(folder / "images.npy", heldout.held_out_digits(3)[0].numpy())
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    repo = str(root / "solutions")
    # a course's key for the held-out draws, outside /tmp (which every sandbox replaces)
    (root / ".grading").mkdir(exist_ok=True)  # git-ignored, as nbgrader_config.py makes it
    course = Path(tempfile.mkdtemp(prefix="key-probe-", dir=root / ".grading"))
    try:
        grading_heldout.course_key(course)
        key = course / grading_heldout.KEY_FILE
        argv = [sys.executable, "-c", probe, repo, str(key)]
        done = grading_heldout.run_program(folder, True, argv=argv)
    finally:
        shutil.rmtree(course)
    assert done.returncode == 0, done.stdout[-500:]
    import json

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["files"] == ["images.npy", "program.pt2"]
    assert seen["held_out_pixels"] == 0.0
    assert seen["repo"] is False
    assert seen["key"] is False
    assert seen["uid"] != 0


@pytest.mark.slow
@pytest.mark.skipif(SANDBOX is not None, reason=f"no sandbox here: {SANDBOX}")
def test_a_program_that_outruns_its_time_or_memory_fails_plainly(tmp_path, monkeypatch):
    monkeypatch.setattr(grading_heldout, "EXPORTED_TIMEOUT", 3)
    folder = tmp_path / "run"
    folder.mkdir()
    with pytest.raises(subprocess.TimeoutExpired):
        grading_heldout.run_program(folder, True, argv=[sys.executable, "-c", "while 1: pass"])
    hog = "x = bytearray(4 * 2**30); print('allocated')"
    done = grading_heldout.run_program(folder, True, argv=[sys.executable, "-c", hog])
    assert done.returncode != 0 and "allocated" not in done.stdout


def test_a_design_limit_is_counted_from_the_exported_program_buffers_included(monkeypatch):
    """ex04's 50,000-number limit: counted outside from the exported artefact, so weights
    hidden in a buffer count, and the graded kernel's say is not asked."""

    class Hoarder(_Linear):
        def __init__(self):
            super().__init__()
            self.register_buffer("spare", torch.zeros(60_000))

    small = _Linear()
    program = torch.export.load(io.BytesIO(heldout.export_model(small, "digits8")))
    # its 650 parameters, and the one number written in its graph: flatten's start dimension
    assert heldout.stored_numbers(program) == sum(p.numel() for p in small.parameters()) + 1
    hoarder = torch.export.load(io.BytesIO(heldout.export_model(Hoarder(), "digits8")))
    assert heldout.stored_numbers(hoarder) > 60_000
    monkeypatch.delenv("COURSE_RECORD", raising=False)
    with pytest.raises(AssertionError, match="stores 6"):
        heldout.record_exported(Hoarder(), "digits8", 0.9, "the accuracy", max_parameters=50_000)
    heldout.record_exported(_Linear(), "digits8", 0.9, "the accuracy", max_parameters=50_000)


class _TableInTheGraph(nn.Module):
    """64,000 weights that ``forward`` makes itself (stored: only the 10,010 of the head)."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.head = nn.Linear(1000, 10)

    def table(self, x):
        if self.how == "arange":  # a fixed table of numbers
            return torch.arange(64_000, dtype=torch.float32).reshape(64, 1000).sin()
        if self.how == "from the input":  # the input times zero: formally from the input
            one = x.flatten()[:1] * 0 + 1
            return one.expand(64_000).cumsum(0).reshape(64, 1000).sin()
        return torch.randn(64, 1000)  # random features, fresh in every process

    def forward(self, x):
        return self.head(torch.relu(x.flatten(1) @ self.table(x)))


def _ex04_design():
    """The design of ex04's solution (14,701 numbers stored)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


@pytest.mark.parametrize("how", ["arange", "from the input", "randn"])
def test_weights_made_inside_the_graph_count_toward_the_design_limit(how, monkeypatch):
    """Red team (issue 28): weights computed in ``forward`` were not stored, so not counted,
    and a model over ex04's 50,000-number limit passed. They count where they meet the input,
    in the kernel (``course check``) and in the grader's count from the program."""
    hider = _TableInTheGraph(how)
    program = heldout.export_model(hider, "digits8")
    loaded = torch.export.load(io.BytesIO(program))
    assert sum(t.numel() for t in loaded.state_dict.values()) == 10_010  # what it stores
    assert heldout.stored_numbers(loaded) >= 64_000 + 10_010
    monkeypatch.delenv("COURSE_RECORD", raising=False)
    with pytest.raises(AssertionError, match="more than the 50,000"):
        heldout.record_exported(hider, "digits8", 0.0, "the accuracy", max_parameters=50_000)
    sandbox = how == "arange" and SANDBOX is None  # once as the grader runs it, sandboxed
    with pytest.raises(grading_heldout.TooLarge) as raised:
        grading_heldout.evaluate_exported(
            "digits8", program, 7, sandbox=sandbox, max_parameters=50_000
        )
    assert raised.value.stored >= 74_010


def test_an_honest_design_is_counted_as_it_stores_plus_the_numbers_its_graph_writes():
    """ex04's own design: its parameters and batch-norm statistics (14,701), and the 25
    sizes, strides and constants written in its operations; a parameter used through a view
    (``w.t()``) or ``torch.zeros_like(x)`` counts no more than it holds."""
    design = _ex04_design()
    program = torch.export.load(io.BytesIO(heldout.export_model(design, "digits8")))
    stored = sum(t.numel() for t in design.state_dict().values())
    assert stored == 14_701
    assert heldout.stored_numbers(program) == stored + 25

    class Transposed(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(10, 64))

        def forward(self, x):
            return x.flatten(1) @ self.w.t() + torch.zeros_like(x).flatten(1)[:, :10]

    program = torch.export.load(io.BytesIO(heldout.export_model(Transposed(), "digits8")))
    # 640 weights, one sample's 10 zeros, 5 literal numbers (flatten's dims, the slice)
    assert heldout.stored_numbers(program) == 640 + 10 + 5


# -- archives that would run Python when loaded: refused before anything loads them ---------
def _rewritten(program: bytes, change) -> bytes:
    """``program``'s archive with ``change(members)`` applied (members: name -> bytes)."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(program)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    change(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class _Payload:
    """A pickle that writes a file where it is unpickled (what a planted payload would do)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickled_weight(members, marker):
    import json
    import pickle

    config_name = "archive/data/weights/model_weights_config.json"
    config = json.loads(members[config_name])
    entry = next(iter(config["config"].values()))
    entry["use_pickle"] = True
    members[config_name] = json.dumps(config).encode()
    members["archive/data/weights/" + entry["path_name"]] = pickle.dumps(_Payload(marker))


def _edit_model(members, edit):
    import json

    model = json.loads(members["archive/models/model.json"])
    edit(model)
    members["archive/models/model.json"] = json.dumps(model).encode()


@pytest.mark.parametrize(
    "attack, reason",
    [
        ("pickled-weight", "pickled weights"),
        ("extra-pickle", "not a tensor payload"),
        ("guards-code", "guard code"),
        ("custom-op", "other than ATen"),
        ("custom-object", "custom or opaque objects"),
        ("duplicate", "repeated"),
    ],
)
def test_an_archive_that_carries_python_is_refused_before_it_is_loaded(
    trained_linear, tmp_path, attack, reason
):
    """torch.export.load unpickles weights marked ``use_pickle`` with ``weights_only=False``,
    execs guard code and unpickles custom objects: none of it reaches a loader."""
    import json

    marker = tmp_path / "ran"
    program = heldout.export_model(trained_linear, "digits8")

    def change(members):
        if attack == "pickled-weight":
            _pickled_weight(members, marker)
        elif attack == "extra-pickle":
            members["archive/data.pkl"] = b"\x80\x04N."
        elif attack == "guards-code":
            _edit_model(members, lambda m: m.update(guards_code=["open('x', 'w')"]))
        elif attack == "custom-op":
            _edit_model(
                members,
                lambda m: m["graph_module"]["graph"]["nodes"][0].update(
                    target="torch.ops.mylib.anything.default"
                ),
            )
        elif attack == "custom-object":
            name = "archive/data/constants/model_constants_config.json"
            members[name] = json.dumps(
                {"config": {"c": {"path_name": "custom_obj_0", "use_pickle": False}}}
            ).encode()

    planted = _rewritten(program, change)
    if attack == "duplicate":  # the same name twice: two readers could see different files
        import warnings
        import zipfile

        buffer = io.BytesIO(planted)
        with warnings.catch_warnings(), zipfile.ZipFile(buffer, "a") as archive:
            warnings.simplefilter("ignore")
            archive.writestr("archive/models/model.json", b"{}")
        planted = buffer.getvalue()
    with pytest.raises(heldout.UnsafeProgram, match=reason):
        heldout.checked_program(planted)
    params = {"task": "digits8", "options": {}}
    with pytest.raises(Mismatch, match="does not load"):
        grading_heldout.check_exported(
            ("array", np.frombuffer(planted, np.uint8)), ("float", 0.0), params, sandbox=False
        )
    assert not marker.exists()
    if attack == "pickled-weight":  # the planted program does run Python where it is loaded
        with contextlib.suppress(Exception):
            torch.export.load(io.BytesIO(planted))
        assert marker.exists()


def test_a_checked_program_loads_without_its_sample_inputs_and_gives_the_same_outputs(
    trained_linear,
):
    program = heldout.export_model(trained_linear, "digits8")
    checked = heldout.checked_program(program)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(checked)) as archive:
        assert archive.read("archive/data/sample_inputs/model.pt") == b""
    X, _ = heldout.held_out_digits(3)
    a = torch.export.load(io.BytesIO(program)).module()(X)
    b = torch.export.load(io.BytesIO(checked)).module()(X)
    assert torch.equal(a, b)


def test_trained_weights_are_checked_by_shape_before_anything_is_allocated():
    """Zero-byte arrays whose shapes ask for a 600-million-class layer are refused by shape;
    the evaluation never builds the layer (nothing of that size is allocated)."""
    from course_utils.transfer import SmallConvNet

    model = SmallConvNet(num_classes=2)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    heldout.check_state_shapes("faces16", shapes)  # the architecture itself passes
    huge = dict(shapes)
    huge["fc.weight"], huge["fc.bias"] = (600_000_000, 0), (600_000_000,)
    with pytest.raises(ValueError, match="not of the task's architecture"):
        heldout.check_state_shapes("faces16", huge)
    wide = {k: v for k, v in shapes.items()}
    wide["features.0.0.weight"] = (10**6, *shapes["features.0.0.weight"][1:])
    with pytest.raises(ValueError, match="width"):
        heldout.check_state_shapes("faces16", wide)
    state = {
        k: np.zeros(
            (600_000_000, 0) if k == "fc.weight" else (0,) if k == "fc.bias" else v.shape,
            np.float32,
        )
        for k, v in model.state_dict().items()
    }
    record = (
        "dict",
        {
            k: ("tensor", {"array": a, "dtype": "torch.float32", "device": "cpu"})
            for k, a in state.items()
        },
    )
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(Mismatch, match="could not be evaluated"):
        grading_heldout.check_heldout(record, ("float", 0.5), {"task": "faces16"}, sandbox=False)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 2**10  # KiB


def test_the_worker_gives_every_graded_kernel_the_held_out_masks(tmp_path, monkeypatch):
    """The sandbox knows no course file: the worker passes it what to blank (``masked``)."""
    import nbformat

    from coursekit.grading import sandbox, worker

    seen = {}

    class _Stop(Exception):
        pass

    def spy(*args, masked, **kwargs):
        seen["masked"] = list(masked)
        raise _Stop

    monkeypatch.setattr(sandbox, "sandboxed_kernel_manager", spy)
    monkeypatch.setattr(sandbox, "allocate_uid", lambda: (60123, os.open(os.devnull, os.O_RDONLY)))
    monkeypatch.setattr(sandbox, "prepare_scratch", lambda scratch, uid=0: None)
    source = tmp_path / "sanitized"
    source.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), source / "a.ipynb")
    job = {
        "sanitized": str(source),
        "executed": str(tmp_path / "executed"),
        "scratch": str(tmp_path / "scratch"),
        "sandbox": True,
        "limits": {},
        "env": {},
        "mode": "graded",
    }
    with pytest.raises(_Stop):
        worker.run_job(job)
    assert seen["masked"] == grading_heldout.masked_files()
    assert str(heldout.digits_path()) in dict(seen["masked"])
