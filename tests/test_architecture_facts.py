"""Facts about a model read from its exported program, never from the student's kernel.

``record_architecture`` (course_utils/checking/heldout.py) exports the model; the grader
(``coursekit/grading/heldout.py``) computes the facts from the program in one fresh process per
test cell, on inputs it draws, and compares them with the reference run's by the one rule
(``architecture_differences``) that the student's kernel applies too. Here: the facts of small
U-Nets with and without a skip connection, what each recording mode sends, the checker's
verdicts (plain subprocess; the sandboxed path is graded end to end in
``test_grading_attacks.py``), the stripping of the expected facts from graded kernels, and the
conventions rule that refuses model facts counted in the kernel.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from test_conventions import _notebook
from torch import nn
from torch.nn import functional as F

from course_utils.checking import heldout
from coursekit.grading import heldout as grading_heldout
from coursekit.grading.checker import Mismatch, judge_cell
from coursekit.grading.conventions import lint_notebook
from coursekit.grading.rewrite import strip_expected


class _Block(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class _UNet(nn.Module):
    """A U-Net of depth 1 with (``skip``) or without its skip connection; the same numbers and
    convolutions either way (without it, the decoder sees the upsampled path twice)."""

    def __init__(self, b=2, skip=True):
        super().__init__()
        self.skip = skip
        self.enc1, self.enc2 = _Block(1, b), _Block(b, 2 * b)
        self.up = nn.ConvTranspose2d(2 * b, b, 2, stride=2)
        self.dec = _Block(2 * b, b)

    def forward(self, x):
        e1 = self.enc1(x)
        u = self.up(self.enc2(F.max_pool2d(e1, 2)))
        return self.dec(torch.cat([e1 if self.skip else u, u], dim=1))


SHAPE = (2, 1, 8, 8)
DESIGN = {
    "stored_numbers": sum(p.numel() for p in _UNet().parameters()),
    "operations": {"conv2d": 6, "conv_transpose2d": 1},
    "output_shape": (2, 2, 8, 8),
    "follows_input": True,
}
ZEROED = ("enc2.",)


def _facts(model, zeroed=ZEROED, seed=0):
    return heldout.program_facts(heldout.export_for_shape(model, SHAPE), SHAPE, zeroed, seed)


def test_the_facts_come_from_the_program_its_operations_and_a_probe_with_parts_zeroed():
    torch.manual_seed(0)
    facts = _facts(_UNet())
    assert facts["stored_numbers"] == DESIGN["stored_numbers"]
    assert facts["operations"]["conv2d"] == 6 and facts["operations"]["conv_transpose2d"] == 1
    assert facts["output_shape"] == [2, 2, 8, 8]
    assert facts["zeroed_numbers"] == sum(p.numel() for p in _UNet().enc2.parameters())
    assert facts["follows_input"] is True
    assert heldout.architecture_differences(facts, DESIGN) == []
    without = _facts(_UNet(skip=False))
    assert heldout.architecture_differences(without, DESIGN) == ["follows_input"]
    # a part the test switches off that the model does not have is a difference in itself
    renamed = _facts(_UNet(), zeroed=("encoder2.",))
    assert "zeroed_numbers" in heldout.architecture_differences(renamed, DESIGN)


def test_operations_count_every_convolution_and_only_the_named_other_operations():
    facts = {"operations": {"conv2d": 6, "conv_transpose2d": 1, "relu": 6, "cat": 1}}
    assert heldout.architecture_differences(facts, {"operations": {"conv2d": 6}}) == [
        "operations"
    ]  # an unnamed transposed convolution counts against the design
    named = {"operations": {"conv2d": 6, "conv_transpose2d": 1}}
    assert heldout.architecture_differences(facts, named) == []
    assert heldout.architecture_differences(facts, {"operations": {"cat": 2}}) == ["operations"]


def test_the_probe_inputs_are_two_draws_of_the_seed():
    first, second = heldout.probe_inputs((2, 3, 4, 5), seed=7)
    assert first.shape == second.shape == (2, 3, 4, 5) and not torch.equal(first, second)
    assert torch.equal(heldout.probe_inputs((2, 3, 4, 5), seed=7)[0], first)
    assert not torch.equal(heldout.probe_inputs((2, 3, 4, 5), seed=8)[0], first)
    with pytest.raises(ValueError, match="not a batch shape"):
        heldout.probe_inputs((2**12, 1, 2**12, 2**12))


def test_record_architecture_fails_in_the_students_kernel_with_the_graders_verdict(monkeypatch):
    monkeypatch.delenv("COURSE_RECORD", raising=False)
    torch.manual_seed(0)
    heldout.record_architecture(_UNet(), SHAPE, "the U-Net", DESIGN, zeroed=ZEROED)
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=r"^the U-Net: .* whether its output changes"):
        heldout.record_architecture(_UNet(skip=False), SHAPE, "the U-Net", DESIGN, zeroed=ZEROED)
    with pytest.raises(AssertionError, match="the numbers it stores"):
        heldout.record_architecture(_UNet(b=3), SHAPE, "the U-Net", {"stored_numbers": 5})
    with pytest.raises(ValueError, match="unknown architecture facts"):
        heldout.record_architecture(_UNet(), SHAPE, "the U-Net", {"parameters": 5})


def test_a_graded_kernel_sends_only_the_program_and_the_reference_its_facts(monkeypatch):
    from course_utils.checking import checks

    recorded = []
    monkeypatch.setattr(checks, "_publish", recorded.append)
    monkeypatch.setenv("COURSE_RECORD", "graded")
    torch.manual_seed(0)
    heldout.record_architecture(_UNet(), SHAPE, "the U-Net", None, zeroed=ZEROED)
    [graded] = recorded
    assert set(graded) == {"kind", "actual"} and graded["kind"] == "architecture"
    assert set(graded["actual"]) == {"array"}  # the program's bytes, nothing the kernel counted
    recorded.clear()
    monkeypatch.setenv("COURSE_RECORD", "reference")
    torch.manual_seed(0)
    heldout.record_architecture(_UNet(), SHAPE, "the U-Net", DESIGN, zeroed=ZEROED)
    [reference] = recorded
    assert reference["params"]["facts"] == {**DESIGN, "output_shape": [2, 2, 8, 8]}
    assert reference["params"]["input_shape"] == [2, 1, 8, 8]
    assert reference["params"]["zeroed"] == ["enc2."]


def test_graded_kernels_get_no_expected_facts():
    [source] = strip_expected(
        [
            "def _design(b):\n    return {'stored_numbers': 9 * b}\n"
            "record_architecture(_net, (1, 1, 4, 4), 'the net', _design(2), zeroed=('a.',))\n"
        ]
    )
    assert "_design" not in source and "9 * b" not in source
    assert "record_architecture(_net, (1, 1, 4, 4), 'the net', None, zeroed=('a.',))" in source


def _program(model):
    return ("array", np.frombuffer(heldout.export_for_shape(model, SHAPE), dtype=np.uint8))


def _with_pickle(program) -> np.ndarray:
    """``program`` with a pickle member added (what a loader would unpickle)."""
    source = zipfile.ZipFile(io.BytesIO(program[1].tobytes()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as rebuilt:
        root = source.namelist()[0].split("/", 1)[0]
        for name in source.namelist():
            rebuilt.writestr(name, source.read(name))
        rebuilt.writestr(f"{root}/data.pkl", b"cos\nsystem\n.")
    return ("array", np.frombuffer(buffer.getvalue(), dtype=np.uint8))


def test_the_checker_reads_the_facts_outside_in_one_process_per_cell(monkeypatch):
    """One test cell with five architecture checks: the honest model passes, the one without
    skip connection fails the probe, a forged record of numbers and an archive that carries a
    pickle are refused before anything runs; the facts of the cell come from one process."""
    from coursekit.grading.records import Records

    params = {"facts": heldout._expected_facts(DESIGN, ZEROED), "input_shape": list(SHAPE)}
    params["zeroed"] = list(ZEROED)
    torch.manual_seed(0)
    honest = _program(_UNet())
    students = {
        "honest": honest,
        "no skip": _program(_UNet(skip=False)),
        "forged": ("dict", {"stored_numbers": ("int", DESIGN["stored_numbers"])}),
        "pickle": _with_pickle(honest),
        "failed export": ("str", "export failed"),
    }
    runs = []
    real = grading_heldout.evaluate_architectures

    def counted(jobs, sandbox=True):
        runs.append(len(jobs))
        return real(jobs, sandbox)

    monkeypatch.setattr(grading_heldout, "evaluate_architectures", counted)
    reasons = {}
    for name, student in students.items():
        try:
            grading_heldout.check_architecture(student, None, params, sandbox=False, seed=3)
            reasons[name] = "passed"
        except Mismatch as error:
            reasons[name] = str(error)
    assert reasons["honest"] == "passed"
    assert "whether its output changes with its input" in reasons["no skip"]
    assert reasons["forged"] == "is not an exported model"
    assert "does not load" in reasons["pickle"] and "a pickle" in reasons["pickle"]
    assert "could not export" in reasons["failed export"]
    assert runs == [1, 1]  # the refused records never reach a process
    # judge_cell computes the facts of a cell's checks together
    runs.clear()
    from course_utils.checking.checks import encode

    records = Records({}, {})
    reference = [
        {"kind": "architecture", "name": n, "expected": encode(None), "params": params, "line": 1}
        for n in ("a", "b")
    ]
    student = [
        {"kind": "architecture", "actual": {"py": "export failed", "type": "str"}},
        {"kind": "architecture", "actual": {"py": "export failed", "type": "str"}},
    ]
    verdict = judge_cell("test_x", reference, records, set(), student, records, {"ran": True})
    assert not verdict.passed and runs == []
    assert "could not export" in verdict.message


# -- the conventions rule: no model fact counted in the kernel beyond the self-reported cap ---
NET = ("net", "class Net(nn.Module):\n    pass\n", None)
HELPERS = (
    "helpers",
    "def n_params(module):\n    return sum(p.numel() for p in module.parameters())\n",
    None,
)


@pytest.mark.parametrize(
    "test",
    [
        "_net = Net()\ncheck_equal(sum(p.numel() for p in _net.parameters()), 5, 'n')\n",
        "_kinds = [type(m) for m in Net().modules()]\n"
        "check_equal(_kinds.count(nn.Conv2d), 2, 'k')\n",
        "_net = Net().eval()\ncheck_equal(n_params(_net), 5, 'n')\n",
        "def _count(net):\n    _n = len(list(net.children()))\n    return _n\n"
        "for _b in (1, 2):\n    _net = Net()\n    _c = len(list(_net.named_modules()))\n"
        "    check_that(_c, 'at_least', 2, 'c')\n",
    ],
)
def test_a_model_fact_counted_in_the_kernel_is_refused_beyond_the_self_reported_cap(test):
    problems = lint_notebook(_notebook(HELPERS, NET, ("test_net", test, 3)))
    assert len(problems) == 1 and "record_architecture" in problems[0], problems
    # within the cap (1 point, 25 % of the part) it is a self-reported check, allowed
    nb = _notebook(HELPERS, NET, ("test_net", "check_equal(1, 1, 'x')", 3), ("test_net_n", test, 1))
    assert lint_notebook(nb) == []


@pytest.mark.parametrize(
    "test",
    [
        # a model the test built, changed by the student's function: that function's output
        "_model = torchvision.models.resnet18()\nNet(_model)\n"
        "check_equal(len([p for p in _model.parameters() if p.requires_grad]), 2, 'n')\n",
        # the count is the expected value, computed independently
        "check_equal(Net(3), sum(p.numel() for p in nn.Conv2d(1, 1, 3).parameters()), 'n')\n",
        # the facts read from the exported model
        "record_architecture(Net(), (1, 1, 4, 4), 'the net', {'stored_numbers': 5})\n",
    ],
)
def test_counts_of_the_tests_own_models_and_exported_facts_are_not_refused(test):
    assert lint_notebook(_notebook(HELPERS, NET, ("test_net", test, 3))) == []
