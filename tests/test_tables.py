"""course_utils.tables: result tables, and values glued into a page's prose."""

from __future__ import annotations

import IPython.display
import pytest

from course_utils.tables import BOOK_BUILD_VARIABLE, glue, markdown_table


@pytest.fixture
def displayed(monkeypatch):
    """What IPython.display.display was called with (the glue functions import it lazily)."""
    calls = []
    monkeypatch.setattr(
        IPython.display, "display", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    return calls


def test_glue_in_a_book_build_emits_what_myst_nb_reads(monkeypatch, displayed):
    import myst_nb.ext.glue as myst_glue_module

    # myst-nb binds display at import time: route its calls to the same recorder.
    monkeypatch.setattr(myst_glue_module, "ipy_display", IPython.display.display)
    myst_glue = myst_glue_module.glue
    monkeypatch.setenv(BOOK_BUILD_VARIABLE, "1")
    assert glue("accuracy", 0.8765) is None  # a cell ending with glue displays nothing more
    myst_glue("accuracy", 0.8765, display=False)
    ours, theirs = displayed
    assert ours == theirs  # the same bundle, raw flag and scrapbook metadata as myst-nb's own
    (bundle,), options = ours
    assert bundle == {"application/papermill.record/text/plain": "0.8765"}
    assert options["metadata"]["scrapbook"]["name"] == "accuracy"


def test_glue_outside_a_book_build_shows_nothing(monkeypatch, displayed):
    """Jupyter and Colab cannot render the glue MIME type: a downloaded notebook stays clean."""
    monkeypatch.delenv(BOOK_BUILD_VARIABLE, raising=False)
    assert glue("order", "ResNet > VGG") is None
    assert displayed == []


def test_glue_turns_numpy_and_torch_scalars_into_numbers(monkeypatch, displayed):
    import numpy as np
    import torch

    monkeypatch.setenv(BOOK_BUILD_VARIABLE, "1")
    glue("a", np.float64(0.25))
    glue("b", torch.tensor(3))
    texts = [args[0]["application/papermill.record/text/plain"] for args, _ in displayed]
    assert texts[0] == "0.25" and texts[-1] == "3"


@pytest.mark.parametrize("name", ["", None, 3])
def test_glue_needs_a_name(name):
    with pytest.raises(ValueError, match="non-empty name"):
        glue(name, 1.0)


def test_markdown_table_refuses_ragged_rows():
    with pytest.raises(ValueError, match="one per header"):
        markdown_table([[1, 2]], ["a", "b", "c"])
    assert markdown_table([[0.5, None]], ["x", "y"]).data.splitlines()[-1] == "| 0.5 | — |"
