"""Training parts graded on held-out data that the student's notebook cannot reach.

A training part records the *weights* it trained (``record_trained``), not an accuracy the
student's kernel computed. The grader rebuilds the exercise's fixed architecture outside every
student process, loads the recorded weights (plain arrays) and measures the accuracy on data
drawn at grading time, with a seed the notebook cannot know, from images the graded kernel
cannot read (its sandbox shows them blanked, see ``HELD_OUT``). The task's description lives
here, once, for the test cells and for the grader.

Task ``faces16``: scikit-image's 200 face / non-face images at 16x16. The 80 images of the test
split of ``transfer.faces(size=16, test_size=80, seed=0)`` are held out; notebooks train and
try their models on the other 120 (``public_faces``).

Where the student designs the architecture, weights alone cannot be rebuilt outside: such a part
records the trained model *exported* with ``torch.export`` (``record_exported``), a program of
tensor operations with its weights. The grader draws the held-out inputs with a secret seed,
runs the program on the images alone in a fresh sandboxed process (``run_exported``: the labels
never go there) and scores its outputs itself (``score``). Tasks for exported models:

- ``digits8``: scikit-learn's 8x8 digits, (N, 1, 8, 8) in [0, 1] -> (N, 10) logits. 30 images of
  each class are held out (``held_out_digit_indices``) and blanked in every graded kernel;
  notebooks use the other 1,497 (``public_digits``). The grader scores the accuracy on 200 of
  the 300, chosen and ordered by the secret seed (``held_out_digits``).
- ``micrographs48``: ``micrographs(100, size=48, seed=secret, dose=...)`` from
  ``course_utils.micrographs``, raw images (N, 1, 48, 48) -> (N, 1, 48, 48) logits (a pixel is
  particle where its logit is above 0); the score is the mean over images of the IoU
  (``mean_iou``). The exported program includes whatever normalisation the notebook applies.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

from course_utils.datasets import (
    DIGITS_EVALUATED,
    DIGITS_HELD_OUT_PER_CLASS,
    digits_path,
    held_out_digit_indices,
    held_out_digits,
    public_digits,
)
from course_utils.faces import held_out_faces, held_out_indices, public_faces

from . import checks, rules

__all__ = [
    "DIGITS_EVALUATED",
    "DIGITS_HELD_OUT_PER_CLASS",
    "digits_path",
    "held_out_digit_indices",
    "held_out_digits",
    "public_digits",
    "held_out_faces",
    "held_out_indices",
    "public_faces",
]

TASKS = ("faces16",)
EXPORTED_TASKS = ("digits8", "micrographs48")
MICROGRAPHS_EVALUATED = 100
MICROGRAPH_SIZE = 48


def rebuild(task: str, state: dict):
    """The task's architecture with the recorded ``state`` (name -> array) loaded, in eval mode."""
    if task != "faces16":
        raise ValueError(f"unknown held-out task {task!r}")
    from course_utils.transfer import SmallConvNet

    widths = tuple(int(state[f"features.{i}.0.weight"].shape[0]) for i in (0, 1, 2))
    model = SmallConvNet(num_classes=int(state["fc.weight"].shape[0]), widths=widths)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
    return model.eval()


MAX_WIDTH = 256  # channels of a recorded SmallConvNet's stage, at most
FACES_CLASSES = 2


def check_state_shapes(task: str, shapes: dict) -> None:
    """``ValueError`` unless ``shapes`` (state_dict name -> shape) are exactly those of the
    task's architecture: ``SmallConvNet`` with 2 classes and stage widths of 1 to ``MAX_WIDTH``,
    worked out on the meta device (nothing is allocated, whatever the shapes ask for)."""
    if task != "faces16":
        raise ValueError(f"unknown held-out task {task!r}")
    from course_utils.transfer import SmallConvNet

    try:
        widths = tuple(int(shapes[f"features.{i}.0.weight"][0]) for i in (0, 1, 2))
    except (KeyError, IndexError, TypeError, ValueError):
        raise ValueError("the weights are not of the task's architecture") from None
    if not all(1 <= width <= MAX_WIDTH for width in widths):
        raise ValueError(f"a stage width is outside 1 to {MAX_WIDTH}")
    with torch.device("meta"):
        model = SmallConvNet(num_classes=FACES_CLASSES, widths=widths)
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    if expected != {name: tuple(int(n) for n in shape) for name, shape in shapes.items()}:
        raise ValueError("the weights are not of the task's architecture")


def run_trained(folder: str) -> None:
    """The sandbox's side of a ``record_trained`` part: the task's architecture rebuilt with
    ``weights.npz`` (checked against it first) on ``images.npy`` -> ``outputs.npy`` (float32
    logits). The labels never come here: the grader scores the outputs."""
    torch.set_num_threads(1)
    here = Path(folder)
    task = json.loads((here / "task.json").read_text())["task"]
    names = json.loads((here / "names.json").read_text())
    with np.load(here / "weights.npz", allow_pickle=False) as data:
        shapes = {name: data[f"w{i}"].shape for i, name in enumerate(names)}
        check_state_shapes(task, shapes)
        state = {name: data[f"w{i}"] for i, name in enumerate(names)}
    model = rebuild(task, state)
    images = torch.from_numpy(np.load(here / "images.npy", allow_pickle=False))
    with torch.no_grad():
        outputs = model(images)
    array = outputs.detach().to("cpu", torch.float32).numpy()
    np.save(here / "outputs.npy", array, allow_pickle=False)


def accuracy(task: str, state: dict, seed: int) -> float:
    """The accuracy of the recorded weights on the held-out data drawn with ``seed``."""
    model = rebuild(task, state)
    X, y = held_out_faces(seed)
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def record_trained(model, task: str, at_least: float, name: str = "the held-out accuracy"):
    """Record ``model``'s weights for the grader's held-out evaluation (at least ``at_least``).

    Outside grading (``course check``, a plain run) nothing is recorded: the held-out images are
    the grader's. In the reference run the solution's weights are evaluated like a student's.
    """
    if task not in TASKS:
        raise ValueError(f"unknown held-out task {task!r}")
    mode = checks.recording_mode()
    if mode is None:
        return
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    if mode == "graded":
        checks.send_record("heldout", name, state)
    else:
        checks.send_record("heldout", name, state, expected=float(at_least), task=task)


# -- models whose architecture is the student's: exported programs -------------------------
def held_out_micrographs(seed: int, dose: float = 100):
    """The grader's side: ``(images (100, 1, 48, 48) float32, masks (100, 48, 48) bool)``."""
    from course_utils.micrographs import micrographs

    data = micrographs(MICROGRAPHS_EVALUATED, size=MICROGRAPH_SIZE, seed=seed, dose=dose)
    return data.images, data.masks.bool()


def held_out_data(task: str, seed: int, **options):
    """``(inputs, truth)`` of an exported-model task, drawn with ``seed`` (trusted side only)."""
    if task == "digits8":
        return held_out_digits(seed)
    if task == "micrographs48":
        dose = float(options.get("dose", 100))
        if not 1 <= dose <= 10_000:
            raise ValueError(f"a dose of {dose} is outside 1 to 10,000")
        return held_out_micrographs(seed, dose)
    raise ValueError(f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})")


def input_shape(task: str) -> tuple[int, ...]:
    """The shape of the batch the grader feeds an exported model of ``task``."""
    if task == "digits8":
        return (DIGITS_EVALUATED, 1, 8, 8)
    if task == "micrographs48":
        return (MICROGRAPHS_EVALUATED, 1, MICROGRAPH_SIZE, MICROGRAPH_SIZE)
    raise ValueError(f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})")


def output_shape(task: str) -> tuple[int, ...]:
    """The shape the grader requires of the exported model's output."""
    n = input_shape(task)[0]
    return (n, 10) if task == "digits8" else (n, 1, MICROGRAPH_SIZE, MICROGRAPH_SIZE)


def export_model(model, task: str) -> bytes:
    """``model`` (a copy, on the CPU, in evaluation mode) exported with ``torch.export`` for the
    task's batch shape, as the bytes ``torch.export.save`` writes. Raises what export raises."""
    return export_for_shape(model, input_shape(task))


def export_for_shape(model, shape: tuple[int, ...]) -> bytes:
    """``model`` (a copy, on the CPU, in evaluation mode) exported with ``torch.export`` for one
    input batch of ``shape``, as the bytes ``torch.export.save`` writes. Raises what export
    raises."""
    import contextlib
    import copy
    import logging

    module = copy.deepcopy(model).to("cpu").eval()
    example = torch.zeros(tuple(int(n) for n in shape))
    # a failed export prints the traced graph to stderr (nbgrader would fail the cell for it)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.export.export(module, (example,))
    finally:
        logging.disable(previous)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def stored_numbers(program) -> int:
    """How many numbers an exported program holds, for a design limit (``max_parameters``):
    the larger of the numbers it *stores* and the numbers its computation *uses as weights*,
    plus the numbers *written* in its operations.

    - stored: its parameters, buffers and tensor constants (weights hidden in a buffer or a
      constant count too);
    - used as weights (``weights_used``): every tensor that the computation on the input
      takes and that does not follow the input: a parameter, one derived from parameters
      (``w.t()``), a table the graph makes itself (``torch.arange(...).sin()``, ``x * 0 + 1``
      expanded, ``torch.randn`` in ``forward``), counted once where it meets the input;
    - written: each literal number in an operation's arguments (``x * 0.5``, sizes, strides).

    Raises ``UnsafeProgram`` where the program's input has no fixed shape (the course's export
    fixes it).
    """
    return max(numbers_stored(program), weights_used(program)) + _literal_numbers(program.graph)


def numbers_stored(program) -> int:
    """The numbers an exported program stores: its parameters, buffers and tensor constants
    (a design's exact count, ``record_architecture``; a design limit counts more,
    ``stored_numbers``)."""
    tensors = list(program.state_dict.values()) + list(getattr(program, "constants", {}).values())
    return int(sum(t.numel() for t in tensors if isinstance(t, torch.Tensor)))


def _literal_numbers(graph) -> int:
    """How many numbers (ints and floats, not booleans) the graph's operations take as literal
    arguments, however nested in lists."""

    def numbers(argument) -> int:
        if isinstance(argument, bool) or argument is None:
            return 0
        if isinstance(argument, (int, float, complex)):
            return 1
        if isinstance(argument, (list, tuple)):
            return sum(numbers(a) for a in argument)
        if isinstance(argument, dict):
            return sum(numbers(a) for a in argument.values())
        return 0

    return sum(
        numbers(node.args) + numbers(node.kwargs)
        for node in graph.nodes
        if node.op == "call_function"
    )


def _same(first, second) -> bool:
    """Whether two values of a node are identical (tensors bit for bit, NaN equal to NaN)."""
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        if first.shape != second.shape or first.dtype != second.dtype:
            return False
        if torch.equal(first, second):
            return True
        if not (first.is_floating_point() or first.is_complex()) or not first.isnan().any():
            return False
        return torch.equal(first.isnan(), second.isnan()) and torch.equal(
            first.nan_to_num(0.0, 0.0, 0.0), second.nan_to_num(0.0, 0.0, 0.0)
        )
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) == len(second) and all(map(_same, first, second))
    return type(first) is type(second) and first == second


def _numbers_in(value, batch: int | None) -> int:
    """The numbers a weight tensor holds; one sample's worth where its first dimension is the
    batch and every sample's slice is the same (``torch.zeros_like(x)``)."""
    if isinstance(value, (list, tuple)):
        return sum(_numbers_in(v, batch) for v in value)
    if not isinstance(value, torch.Tensor):
        return 0
    if batch and value.dim() >= 1 and value.shape[0] == batch and value.numel():
        if _same(value, value[:1].expand_as(value)):
            return value.numel() // batch
    return value.numel()


def weights_used(program) -> int:
    """The numbers that the program's computation on its input takes from elsewhere than the
    input, each tensor counted once (see ``stored_numbers``).

    The graph runs three times on random inputs: twice on one input, once on another, each run
    with the same seed for the random operations it makes. A node *follows the input* where
    its value is the same for the same input and differs for another. Every other tensor (a
    parameter, a table made in the graph, noise) is a weight where a node that follows the
    input, or the output, takes it. Runs only the program's ATen operations
    (``checked_program``); each value is freed once every node that takes it has run.
    """
    from torch.fx.node import map_arg

    values = {**program.state_dict, **getattr(program, "constants", {})}
    specs = {spec.arg.name: spec for spec in program.graph_signature.input_specs}
    generator = torch.Generator().manual_seed(0)
    env: dict = {}  # node -> its value on input a, on a again, on input b
    follows: dict = {}
    batch = None
    counted = 0
    pending = {node: len(node.users) for node in program.graph.nodes}

    def weight_at(node) -> int:
        """The numbers of ``node`` if it is a weight that a following node takes."""
        if follows[node] or not any(u.op == "output" or follows.get(u) for u in node.users):
            return 0
        return _numbers_in(env[node][0], batch)

    outer_stream = torch.get_rng_state()
    try:
        streams = [torch.manual_seed(0).get_state()] * 3
        with torch.no_grad():
            for node in program.graph.nodes:
                if node.op == "placeholder":
                    spec = specs.get(node.name)
                    if spec is not None and spec.kind.name == "USER_INPUT":
                        example = node.meta.get("val")
                        shape = tuple(getattr(example, "shape", None) or ())
                        if not shape or not all(type(s) is int for s in shape):
                            raise UnsafeProgram("its input has no fixed shape")
                        a, b = (torch.rand(shape, generator=generator) for _ in range(2))
                        env[node], follows[node] = (a, a, b), True
                        batch = batch or shape[0]
                    else:
                        tensor = values.get(getattr(spec, "target", None))
                        copies = tuple(
                            tensor.clone() if isinstance(tensor, torch.Tensor) else tensor
                            for _ in range(3)
                        )  # an operation in place changes one run's copy, not the program's
                        env[node], follows[node] = copies, False
                    continue
                if node.op == "call_function":
                    runs = []
                    for run in range(3):  # each run draws from its own random stream, same seed
                        torch.set_rng_state(streams[run])
                        runs.append(
                            node.target(
                                *map_arg(node.args, lambda n, run=run: env[n][run]),
                                **map_arg(node.kwargs, lambda n, run=run: env[n][run]),
                            )
                        )
                        streams[run] = torch.get_rng_state()
                    env[node] = runs
                    follows[node] = _same(runs[0], runs[1]) and not _same(runs[0], runs[2])
                elif node.op != "output":
                    raise UnsafeProgram("it holds nodes other than ATen operations")
                for used in node.all_input_nodes:
                    pending[used] -= 1
                    if pending[used] == 0:  # every node that takes it has run: count, then free
                        counted += weight_at(used)
                        env[used] = None
    finally:
        torch.set_rng_state(outer_stream)
    return counted


def _first_line(error: Exception) -> str:
    """``Type: first line of the message`` (at most 300 characters) of an export's failure."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"


def record_exported(
    model, task: str, at_least: float, name: str, max_parameters: int | None = None, **options
) -> None:
    """Record ``model`` exported for the grader, who scores it on held-out data (``at_least``).

    ``max_parameters``: a design limit on the numbers the model stores (parameters, buffers,
    constants), counted by the grader from the exported program, outside the student's kernel
    (``stored_numbers``); it is the reference's, stripped from graded kernels like ``at_least``.
    ``options``: the task's (``micrographs48``: ``dose``). Everywhere, also under ``course
    check``, a model that ``torch.export`` cannot export fails here with one sentence that names
    the export error; in a graded run that failure is recorded and the part earns nothing.
    """
    if task not in EXPORTED_TASKS:
        raise ValueError(
            f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})"
        )
    mode = checks.recording_mode()
    try:
        program = np.frombuffer(export_model(model, task), dtype=np.uint8)
    except Exception as error:  # noqa: BLE001 - any failure to export is the same refusal
        if mode == "graded":
            checks.send_record("exported", name, "export failed")
            return
        raise AssertionError(
            f"torch.export could not export your model ({_first_line(error)}); the "
            "grader scores only exported models: keep forward to torch operations and modules, "
            "with no branch on a tensor's values and no NumPy"
        ) from None
    if mode == "graded":
        checks.send_record("exported", name, program)
        return
    if max_parameters is not None:
        count = stored_numbers(torch.export.load(io.BytesIO(program.tobytes())))
        if count > max_parameters:
            raise AssertionError(
                f"{name}: the exported model stores {count:,} numbers (parameters, buffers and "
                f"constants), more than the {max_parameters:,} the design allows"
            )
    if mode == "reference":
        limit = {} if max_parameters is None else {"max_parameters": int(max_parameters)}
        checks.send_record(
            "exported", name, program, expected=float(at_least), task=task, options=options, **limit
        )


# -- facts about a model, read from its exported program (never from the student's kernel) ---
ARCHITECTURE_FACTS = {
    "stored_numbers": "the numbers it stores (parameters, buffers and constants)",
    "operations": "its operations (the ATen convolutions and the operations the design counts)",
    "output_shape": "the shape of its output",
    "zeroed_numbers": "the numbers stored under the parts the test switches off",
    "follows_input": "whether its output changes with its input while those parts are switched off",
}
PROBE_SEED = 0  # the inputs a student's own kernel probes with; the grader draws its own
MAX_PROBE_NUMBERS = 2**22  # numbers in one probe input, at most (16 MiB of float32)


def _packet(target) -> str:
    """An ATen operator's name without its overload (``aten.conv2d.padding`` -> ``conv2d``)."""
    packet = getattr(target, "_overloadpacket", None)
    return getattr(packet, "__name__", None) or str(target)


def operation_counts(program) -> dict[str, int]:
    """How often each ATen operator (by name, overloads together) is called in ``program``'s
    graph: ``{"conv2d": 11, "conv_transpose2d": 2, "relu": 10, ...}``. Read from the graph of
    operations itself, not from the module names or stack metadata the model's author wrote."""
    counts: dict[str, int] = {}
    for node in program.graph.nodes:
        if node.op == "call_function":
            name = _packet(node.target)
            counts[name] = counts.get(name, 0) + 1
    return counts


def _is_convolution(operation: str) -> bool:
    return "conv" in operation


def probe_inputs(shape, seed: int = PROBE_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Two inputs of ``shape`` (N, C, ...), uniform in [0, 1), drawn one after the other with
    ``seed``. The grader draws them with a seed of its own; a student's kernel with
    ``PROBE_SEED``."""
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2 or min(shape) < 1 or int(np.prod(shape)) > MAX_PROBE_NUMBERS:
        raise ValueError(f"{shape} is not a batch shape the grader probes (N, C, ...)")
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)


def architecture_facts(program, first, second=None, zeroed=()) -> dict:
    """Facts about the model an exported ``program`` holds, computed from the program itself:

    - ``stored_numbers``: the numbers it stores (``numbers_stored``: parameters, buffers and
      constants, exactly);
    - ``operations``: how often it calls each ATen operator (``operation_counts``);
    - ``output_shape``: the shape of its output on ``first`` (a tensor of the exported shape);
    - with ``zeroed`` (name prefixes of parameters, ``("enc2.", "bottom.")``):
      ``zeroed_numbers``, the numbers of the parameters so named, and ``follows_input``,
      whether the output on ``second`` (another input, ``probe_inputs``) differs from the
      output on ``first`` once those parameters are set to zero: a path from the input to the
      output that bypasses them (a U-Net's skip connection with its deep path switched off).

    The grader calls this in its sandbox on inputs it drew itself; ``record_architecture``
    calls it in the student's kernel on ``probe_inputs(shape)``, so ``course check`` shows the
    verdict grading gives. Raises ``TypeError`` when the model returns no tensor.
    """
    module = program.module()
    with torch.no_grad():
        output = module(first)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the model returned a {type(output).__name__}, not a tensor")
    facts = {
        "stored_numbers": numbers_stored(program),
        "operations": operation_counts(program),
        "output_shape": [int(n) for n in output.shape],
    }
    if zeroed:
        prefixes = tuple(str(prefix) for prefix in zeroed)
        count = 0
        with torch.no_grad():
            for name, parameter in module.named_parameters():
                if name.startswith(prefixes):
                    parameter.zero_()
                    count += parameter.numel()
            change = (module(first) - module(second)).abs().max()
        facts["zeroed_numbers"] = int(count)
        facts["follows_input"] = bool(change > 0)
    return facts


def architecture_differences(facts: dict, expected: dict) -> list[str]:
    """The facts (names of ``ARCHITECTURE_FACTS``) in which ``facts`` differ from ``expected``.

    The one rule, for the student's kernel and for the grader: every fact ``expected`` names
    must be equal; for ``operations``, every operator it names must be called as often, and
    every convolution (an operator whose name holds ``conv``) must be one it names; where the
    test switches parts off (``zeroed``), they must hold some parameters.
    """
    differences = []
    for name, wanted in expected.items():
        got = facts.get(name)
        if name == "operations":
            got = got if isinstance(got, dict) else {}
            named = set(wanted) | {op for op in got if _is_convolution(op)}
            same = all(int(got.get(op, 0)) == int(wanted.get(op, 0)) for op in named)
        elif name == "output_shape":
            same = isinstance(got, (list, tuple)) and [int(n) for n in got] == list(wanted)
        else:
            same = type(got) is type(wanted) and got == wanted
        if not same:
            differences.append(name)
    if "zeroed_numbers" in facts and not facts["zeroed_numbers"]:
        if "zeroed_numbers" not in differences:  # the parts to switch off are not there
            differences.append("zeroed_numbers")
    return differences


def _expected_facts(expected: dict, zeroed) -> dict:
    """``expected`` checked and made plain JSON: ints, a list of ints, a dict of ints, a bool."""
    unknown = sorted(set(expected) - set(ARCHITECTURE_FACTS))
    if unknown:
        raise ValueError(
            f"unknown architecture facts {unknown} (known: {list(ARCHITECTURE_FACTS)})"
        )
    if ("zeroed_numbers" in expected or "follows_input" in expected) and not zeroed:
        raise ValueError("zeroed_numbers and follows_input need zeroed=(prefixes, ...)")
    plain: dict = {}
    for name, value in expected.items():
        if name == "operations":
            plain[name] = {str(op): int(n) for op, n in dict(value).items()}
        elif name == "output_shape":
            plain[name] = [int(n) for n in value]
        elif name == "follows_input":
            plain[name] = bool(value)
        else:
            plain[name] = int(value)
    return plain


def program_facts(program: bytes, shape, zeroed=(), seed: int = PROBE_SEED) -> dict:
    """``architecture_facts`` of the bytes ``torch.export.save`` wrote, checked first
    (``checked_program``: an archive that holds Python is refused with ``UnsafeProgram``) and
    probed with ``probe_inputs(shape, seed)``."""
    loaded = torch.export.load(io.BytesIO(checked_program(program)))
    first, second = probe_inputs(shape, seed)
    return architecture_facts(loaded, first, second, zeroed)


def describe_facts(names) -> str:
    """The facts ``names`` in words, for a verdict (fixed text: no value of the student's)."""
    return "; ".join(ARCHITECTURE_FACTS.get(name, "a fact") for name in names)


def record_architecture(model, input_shape, name: str, expected: dict, zeroed=()) -> None:
    """Check facts about ``model``'s architecture, computed from its exported program.

    ``model`` is exported like ``record_exported`` does (a copy, on the CPU, in evaluation
    mode), for one batch of ``input_shape``. ``expected``: the facts the design has, any of
    ``ARCHITECTURE_FACTS`` (``{"stored_numbers": 5_000, "operations": {"conv2d": 11,
    "conv_transpose2d": 2}, "output_shape": (2, 1, 32, 32)}``); ``zeroed``: name prefixes of
    parameters the test switches off to probe a path (``("enc2.", "bottom.")``).

    In a graded run only the program's bytes leave the kernel: the grader computes the facts
    from the program in its sandbox, on inputs it draws itself, and compares them with the
    reference run's (``expected`` is stripped from graded kernels like every expected value).
    Elsewhere (``course check``, a plain run, the reference run) the same facts are computed
    here, with the same rule (``architecture_differences``), and a difference fails with one
    sentence. A model that ``torch.export`` cannot export fails as in ``record_exported``.
    """
    mode = checks.recording_mode()
    shape = tuple(int(n) for n in input_shape)
    plain = None if mode == "graded" else _expected_facts(expected, zeroed)
    try:
        program = export_for_shape(model, shape)
    except Exception as error:  # noqa: BLE001 - any failure to export is the same refusal
        if mode == "graded":
            checks.send_record("architecture", name, "export failed")
            return
        raise AssertionError(
            f"{name}: torch.export could not export your model ({_first_line(error)}); "
            "the grader reads a model's architecture from its exported program: keep "
            "forward to torch operations and modules, with no branch on a tensor's values"
        ) from None
    array = np.frombuffer(program, dtype=np.uint8)
    if mode == "graded":
        checks.send_record("architecture", name, array)
        return
    facts = program_facts(program, shape, zeroed)
    differences = architecture_differences(facts, plain)
    if differences:
        shown = "; ".join(
            f"{ARCHITECTURE_FACTS[fact]}: {_shown(facts.get(fact), plain.get(fact), fact)}"
            for fact in differences
        )
        raise AssertionError(f"{name}: the exported model differs from the design in {shown}")
    if mode == "reference":
        checks.send_record(
            "architecture",
            name,
            array,
            facts=plain,
            input_shape=list(shape),
            zeroed=[str(prefix) for prefix in zeroed],
        )


def _shown(got, wanted, fact: str) -> str:
    """A fact's value against the design's, for the student's own kernel."""
    if wanted is None:  # zeroed_numbers that the test does not state: some are needed
        return f"{got} where the design has some"
    if fact == "operations" and isinstance(got, dict):
        named = sorted(set(wanted) | {op for op in got if _is_convolution(op)})
        got = {op: got.get(op, 0) for op in named}
        wanted = {op: wanted.get(op, 0) for op in named}
    return f"{got} where the design has {wanted}"


def run_architecture(folder: str) -> None:
    """The sandbox's side of ``record_architecture`` checks: in every numbered subfolder of
    ``folder``, ``program.pt2`` (checked again here) probed with ``probe.npy`` (the grader's
    two inputs, stacked) and ``request.json`` (the ``zeroed`` prefixes) -> ``facts.json``. One
    process for all the checks of a test cell; a program that fails writes no facts."""
    torch.set_num_threads(1)
    jobs = sorted(
        (p for p in Path(folder).iterdir() if p.name.isdigit() and (p / "probe.npy").is_file()),
        key=lambda p: int(p.name),
    )
    for here in jobs:
        try:
            request = json.loads((here / "request.json").read_text())
            probe = torch.from_numpy(np.load(here / "probe.npy", allow_pickle=False))
            checked = checked_program((here / "program.pt2").read_bytes())
            program = torch.export.load(io.BytesIO(checked))
            zeroed = tuple(request.get("zeroed") or ())
            facts = architecture_facts(program, probe[0], probe[1], zeroed)
        except Exception as error:  # noqa: BLE001 - one failing program spoils only its check
            (here / "error.txt").write_text(type(error).__name__)
            continue
        (here / "facts.json").write_text(json.dumps(facts))


# -- what an exported program may hold: tensors and ATen operations, no Python ---------------
MAX_ARCHIVE_MEMBERS = 256
MAX_ARCHIVE_BYTES = 256 * 2**20  # uncompressed, all members together
_ARCHIVE_FILES = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
    r"|data/sample_inputs/model\.pt)"
)
_SAMPLE_INPUTS = "data/sample_inputs/model.pt"
_NODE_TARGETS = ("torch.ops.aten.",)  # and exactly these:
_NODE_FUNCTIONS = ("_operator.getitem",)
_VERIFIERS = ("ATEN", "TRAINING")
MAX_ARCHIVE_JSON_DEPTH = 64  # torch.export's own graph JSON nests about 10 deep


class UnsafeProgram(ValueError):
    """An exported program that holds more than tensors and ATen operations."""


def _archive_json(members: dict[str, bytes], name: str):
    """Member ``name`` parsed as JSON, refused (``UnsafeProgram``) where it nests deeper than
    ``MAX_ARCHIVE_JSON_DEPTH`` (measured before parsing, so nothing recurses that deep)."""
    try:
        return rules.loads(members[name], MAX_ARCHIVE_JSON_DEPTH)
    except rules.TooDeep as error:
        raise UnsafeProgram(f"its {name} {error}") from None
    except ValueError:
        raise UnsafeProgram(f"its {name} is not JSON") from None


def _archive_config(members: dict[str, bytes], name: str, prefix: str) -> dict:
    """A payload config (weights or constants) whose every entry is raw tensor bytes."""
    if name not in members:
        raise UnsafeProgram(f"its {name} is missing or not a payload config")
    parsed = _archive_json(members, name)
    try:
        config = parsed["config"]
    except (KeyError, ValueError, TypeError):
        raise UnsafeProgram(f"its {name} is missing or not a payload config") from None
    if not isinstance(config, dict):
        raise UnsafeProgram(f"its {name} is not a payload config")
    for entry in config.values():
        if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
            raise UnsafeProgram("it holds pickled weights or constants (Python objects)")
        path = entry.get("path_name")
        if not isinstance(path, str) or not re.fullmatch(prefix + r"\d+", path):
            raise UnsafeProgram("it holds custom or opaque objects, not tensors")
    return config


def _graph_targets(graph: dict) -> set[str]:
    """Every node target of a serialized graph, nested graphs (higher-order ops) included;
    ``UnsafeProgram`` where it is not shaped as torch.export writes a graph."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes", []), list):
        raise UnsafeProgram("its graph is not a graph of operations")
    targets = set()
    for node in graph.get("nodes", []):
        if not isinstance(node, dict) or not isinstance(node.get("inputs", []), list):
            raise UnsafeProgram("its graph is not a graph of operations")
        targets.add(str(node.get("target")))
        for argument in node.get("inputs", []):
            arg = argument.get("arg") if isinstance(argument, dict) else None
            nested = arg.get("as_graph") if isinstance(arg, dict) else None
            if isinstance(nested, dict):
                targets |= _graph_targets(nested.get("graph", {})) | {"(a nested graph)"}
    return targets


def checked_program(program: bytes) -> bytes:
    """``program`` (the bytes ``torch.export.save`` writes) rebuilt from what was checked, so
    that loading it runs no Python; ``UnsafeProgram`` (one sentence) where it holds more.

    An archive of ``torch.export`` may carry Python: weights and constants marked
    ``use_pickle`` (``torch.load(..., weights_only=False)``), custom and opaque objects
    (unpickled), sample inputs (unpickled, falling back to ``weights_only=False``), guard code
    (``exec``) and higher-order or custom operators. Accepted is only: raw tensor payloads,
    a graph whose every node is an ATen operator (or ``getitem`` of its tuple result), no guard
    code, no custom objects. The sample inputs are dropped (the loader reads none). The result
    is a fresh zip of the checked members only, so no reader can see another member than this
    check saw (duplicate names, trailing data).
    """
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(program))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UnsafeProgram("it is not a torch.export archive") from None
    names = [info.filename for info in infos]
    roots = {name.split("/", 1)[0] for name in names}
    if len(infos) > MAX_ARCHIVE_MEMBERS or len(set(names)) != len(names) or len(roots) != 1:
        raise UnsafeProgram("it is not a torch.export archive (members repeated or misplaced)")
    if sum(info.file_size for info in infos) > MAX_ARCHIVE_BYTES:
        raise UnsafeProgram(f"it unpacks to more than {MAX_ARCHIVE_BYTES // 2**20} MiB")
    (root,) = roots
    members: dict[str, bytes] = {}
    for info in infos:
        relative = info.filename[len(root) + 1 :]
        if not _ARCHIVE_FILES.fullmatch(relative):
            raise UnsafeProgram(
                "it holds a member that is not a tensor payload or the graph "
                "(a pickle, extra files or compiled code?)"
            )
        try:
            members[relative] = archive.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
            raise UnsafeProgram("it is not a readable torch.export archive") from None
    weights = _archive_config(members, "data/weights/model_weights_config.json", "weight_")
    constants = _archive_config(members, "data/constants/model_constants_config.json", "tensor_")
    if "models/model.json" not in members:
        raise UnsafeProgram("it holds no graph of operations")
    model = _archive_json(members, "models/model.json")
    try:
        graph_module = model["graph_module"]
        graph = graph_module["graph"]
    except (KeyError, ValueError, TypeError):
        raise UnsafeProgram("it holds no graph of operations") from None
    if not isinstance(graph, dict):
        raise UnsafeProgram("it holds no graph of operations")
    if model.get("guards_code"):
        raise UnsafeProgram("it holds guard code (Python run when it is loaded)")
    if graph.get("custom_obj_values"):
        raise UnsafeProgram("it holds custom objects, not tensors")
    if not set(model.get("verifiers") or []) <= set(_VERIFIERS):
        raise UnsafeProgram("it asks for a verifier of another dialect than ATen")
    other = sorted(
        t
        for t in _graph_targets(graph)
        if not t.startswith(_NODE_TARGETS) and t not in _NODE_FUNCTIONS
    )
    if other:
        raise UnsafeProgram(
            f"it holds operations other than ATen operators ({', '.join(other[:3])})"
        )
    files = {e["path_name"] for e in weights.values()} | {
        e["path_name"] for e in constants.values()
    }
    stored = {n.rsplit("/", 1)[1] for n in members if n.startswith("data/") and "_" in n}
    if not files <= stored:
        raise UnsafeProgram("its payload config names files it does not hold")
    members[_SAMPLE_INPUTS] = b""  # read as no sample inputs
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as rebuilt:
        for relative, data in members.items():
            rebuilt.writestr(f"{root}/{relative}", data)
    return buffer.getvalue()


COUNT_REQUESTED = "count-numbers"  # an empty file: the grader checks a design limit


def run_exported(folder: str) -> None:
    """The sandbox's side: ``program.pt2`` on ``images.npy`` -> ``outputs.npy`` (float32), and
    where the grader asks for them (``COUNT_REQUESTED``), the numbers the program holds ->
    ``stored.txt`` (for a design limit, ``max_parameters``: ``stored_numbers``).

    Runs in a fresh process in the grader's sandbox; the folder holds only the program and the
    images, never the labels or masks.
    """
    torch.set_num_threads(1)
    here = Path(folder)
    images = torch.from_numpy(np.load(here / "images.npy", allow_pickle=False))
    checked = checked_program((here / "program.pt2").read_bytes())  # again, where it runs
    program = torch.export.load(io.BytesIO(checked))
    with torch.no_grad():
        outputs = program.module()(images)
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(f"the model returned a {type(outputs).__name__}, not a tensor")
    array = outputs.detach().to("cpu", torch.float32).numpy()
    np.save(here / "outputs.npy", array, allow_pickle=False)
    if (here / COUNT_REQUESTED).is_file():  # a design limit to check: count (runs the graph)
        (here / "stored.txt").write_text(f"{stored_numbers(program)}\n")


def mean_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over images of the IoU of boolean masks (N, H, W); two empty masks count 1."""
    scores = []
    for p, t in zip(np.asarray(predicted, bool), np.asarray(truth, bool), strict=True):
        union = np.logical_or(p, t).sum()
        scores.append(1.0 if union == 0 else np.logical_and(p, t).sum() / union)
    return float(np.mean(scores))


def score(task: str, outputs: np.ndarray, truth) -> float:
    """The task's score of checked ``outputs`` (see ``output_shape``) against ``truth``."""
    truth = np.asarray(truth)
    if task == "digits8":
        return float(np.mean(outputs.argmax(axis=1) == truth))
    if task == "micrographs48":
        return mean_iou(outputs[:, 0] > 0, truth)
    raise ValueError(f"unknown exported-model task {task!r}")


if __name__ == "__main__":
    if (Path(sys.argv[1]) / "weights.npz").is_file():
        run_trained(sys.argv[1])
    elif (Path(sys.argv[1]) / "architecture").is_file():
        run_architecture(sys.argv[1])
    else:
        run_exported(sys.argv[1])
