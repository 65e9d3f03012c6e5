"""The stand-in build's rule: a full-profile training size never escapes course_utils.capped."""

import json

import nbformat
import pytest

from coursekit.capping import escapes_in_cell, main
from coursekit.execute import TIMED_OUT, execute_one, timeout_report


def names(source):
    return [(e.name, e.value) for e in escapes_in_cell(source)]


def test_every_chapter_caps_its_full_profile_training_sizes(capsys):
    assert main([]) == 0, capsys.readouterr().out


def test_an_else_branch_of_the_quick_profile_is_full_profile_code():
    source = (
        'if PROFILE == "quick":\n'
        "    n_train, iterations, batch_size = 1200, 150, 8\n"
        "else:\n"
        "    n_train, iterations, batch_size = 20000, 3000, 16\n"
    )
    assert names(source) == [("n_train", 20000), ("iterations", 3000), ("batch_size", 16)]


@pytest.mark.parametrize(
    "source",
    [
        'epochs = 3 if PROFILE == "quick" else 30\n',
        'epochs = 30 if course_utils.profile() == "full" else 3\n',
        'epochs = {"quick": 3, "full": 30}[PROFILE]\n',
        'if PROFILE != "quick":\n    train(model, epochs=30)\n',
        'if "full" == profile():\n    epochs = 30\n',
    ],
)
def test_each_way_of_writing_a_full_profile_branch_is_read(source):
    assert names(source) == [("epochs", 30)]


def test_capped_sizes_exempt_lines_and_architecture_widths_pass():
    source = (
        'if PROFILE == "full":\n'
        "    n_train, epochs = course_utils.capped(10000, 64), capped(10, 1)\n"
        "    steps = 500  # not capped: each step takes a millisecond\n"
        "    widths, hidden = (64, 128, 256), 4096\n"
    )
    assert names(source) == []


def test_image_sides_count_unless_a_list_is_cut_to_a_capped_length_or_marked():
    source = (
        'if PROFILE == "full":\n'
        "    sizes = [32, 128, 512, 2048][: course_utils.capped(4, 2)]\n"
        "    SIDE = 224  # not capped: the stand-in images have this resolution\n"
        "    size = 96\n"
    )
    assert names(source) == [("size", 96)]


def test_a_lookup_key_is_no_size_but_a_slice_is():
    source = (
        'n_test = len(loaders[16 if PROFILE == "quick" else 96])\n'
        'n_images = len(X[: 300 if PROFILE == "quick" else 10_000])\n'
    )
    assert names(source) == [("n_images", 10_000)]


def test_quick_profile_sizes_and_code_outside_branches_are_free():
    assert names('n_train = 20000\nif PROFILE == "quick":\n    epochs = 300\n') == []


def test_a_page_with_an_uncapped_setting_fails_and_names_its_line(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n# A page\n\n"
        "```{code-cell} ipython3\nPROFILE = 'full'\n```\n\n"
        '```{code-cell} ipython3\nif PROFILE == "full":\n    iterations = 3000\n```\n',
        encoding="utf-8",
    )
    assert main([str(page)]) == 1
    out = capsys.readouterr().out
    assert "page.md:19: cell 1: `iterations = 3000`" in out
    assert "iterations = 3000 is not capped" in out


def test_a_timed_out_cell_is_named_with_its_uncapped_setting():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("PROFILE = 'full'", execution_count=1),
        nbformat.v4.new_code_cell(
            'if PROFILE == "full":\n    n_train = 20000\n    train(n_train)', execution_count=2
        ),
        nbformat.v4.new_code_cell("print('never reached')"),
    ]
    report = timeout_report(notebook)
    assert report.startswith('code cell 1 (`if PROFILE == "full":`) timed out')
    assert "n_train = 20000" in report


@pytest.mark.slow
def test_a_real_timeout_is_reported_by_the_pre_execution(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import time\nPROFILE = 'full'\n"
            'if PROFILE == "full":\n    epochs = 50\n    time.sleep(60)'
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    page = tmp_path / "page.md"
    _, executed_json, _, error = execute_one(str(page), json.dumps(notebook), 3, False)
    assert error is not None and TIMED_OUT in error
    report = timeout_report(nbformat.reads(executed_json, as_version=4))
    assert report.startswith("code cell 0 (`import time`) timed out") and "epochs = 50" in report


@pytest.mark.parametrize(
    "source",
    [
        'n_train, epochs = (8000, 3) if PROFILE == "quick" else (50000, 30)\n',
        'n_train, epochs = [8000, 3] if PROFILE == "quick" else [50000, 30]\n',
        'n_train, epochs = {"quick": (8000, 3), "full": (50000, 30)}[PROFILE]\n',
        '[n_train, epochs] = (8000, 3) if PROFILE == "quick" else (50000, 30)\n',
        'if PROFILE == "full":\n    (n_train, (epochs, lr)) = (50000, (30, 0.1))\n',
    ],
)
def test_a_tuple_of_sizes_is_read_from_each_sequence_its_value_can_be(source):
    """A fresh reviewer's finding (issue 29): a tuple target with an if-expression or a
    looked-up value was never paired, so backprop_init.md and channels.md escaped."""
    assert names(source) == [("n_train", 50000), ("epochs", 30)]


def test_a_string_key_of_a_dict_literal_names_its_value():
    assert names('if PROFILE == "full":\n    LAYER = {"batch": 32, "size": 56}\n') == [
        ("batch", 32),
        ("size", 56),
    ]
