"""The executed notebook that the build leaves in ``jupyter_execute/`` keeps its outputs.

A one-page Sphinx project with myst-nb's execution cache and ``coursekit.sphinx_ext``, built
twice: the first build executes the page into the cache, the second reads it from the cache
(the case in which myst-nb 1.4 alone writes the notebook without outputs).
"""

from __future__ import annotations

import sys

import nbformat
import pytest

pytestmark = pytest.mark.slow

PAGE = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A page

```{code-cell} ipython3
import matplotlib.pyplot as plt

print("forty-two:", 6 * 7)
plt.plot([0, 1], [1, 0])
plt.title("a line")
```

The line falls.
"""

CONF = """\
extensions = ["myst_nb", "coursekit.sphinx_ext"]
nb_execution_mode = "cache"
nb_execution_cache_path = {cache!r}
exclude_patterns = ["_build"]
"""


def _build(source, out):
    from sphinx.cmd.build import build_main

    return build_main(["-q", "-b", "html", str(source), str(out)])


def test_cached_page_writes_its_executed_notebook_with_outputs(tmp_path, monkeypatch):
    source = tmp_path / "book"
    source.mkdir()
    (source / "index.md").write_text(PAGE, encoding="utf-8")
    (source / "conf.py").write_text(CONF.format(cache=str(tmp_path / "cache")), "utf-8")
    monkeypatch.setenv("PYTHONPATH", ":".join(sys.path))
    executed = tmp_path / "out" / "jupyter_execute" / "index.ipynb"
    for build in ("executes into the cache", "reads the cache"):
        out = tmp_path / "out" / "html"
        assert _build(source, out) == 0, f"the build that {build} failed"
        notebook = nbformat.read(executed, as_version=4)
        (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code"]
        kinds = [key for output in cell.outputs for key in output.get("data", {})]
        texts = "".join(output.get("text", "") for output in cell.outputs)
        assert "image/png" in kinds, f"after the build that {build}: no image in {kinds}"
        assert "forty-two: 42" in texts, f"after the build that {build}: no printed line"
        (source / "index.md").touch()  # the second build reads the page again
