"""A fresh Python like a Colab runtime's, for testing released notebooks where students run them.

``FreshPython(folder)`` makes a virtual environment that holds only the libraries a Colab runtime
has (``COLAB_LIBRARIES`` and what they need), and *not* the course: no ``course_utils``, no
checkout on its path. The big libraries are not downloaded or copied again: a ``.pth`` file
points at a folder of symbolic links to exactly those distributions in the test's own
environment (nothing else of it is visible). pip is pointed, by its own environment variables,
at a folder holding one wheel of ``course_utils`` built from the checkout and nowhere else
(``PIP_NO_INDEX``): the notebook's install cell installs ``cnn-course-utils==VERSION`` by name
from there, as it would from PyPI in Colab.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# What a Colab runtime has preinstalled (and the teaching library needs): torch, torchvision,
# NumPy, SciPy, matplotlib, scikit-image, scikit-learn, the kernel; timm and tqdm are there too.
COLAB_LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "matplotlib",
    "scikit-image",
    "scikit-learn",
    "ipykernel",
    "timm",
    "tqdm",
)
KERNEL = "fresh-colab-like"


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def closure(names=COLAB_LIBRARIES) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``names`` need, their dependencies included (no extras)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(name, "") for name in names]
    while todo:
        name, extra = todo.pop()
        name = _normal(name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional platform dependency this machine does not have
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, e) for e in ("", *requirement.extras)]
    assert "cnn-course-utils" not in found, "the course must not be among Colab's libraries"
    return list(found.values())


def top_level_entries(dist: importlib.metadata.Distribution) -> set[str]:
    """The names a distribution puts directly in site-packages (packages, modules, dist-info)."""
    entries = set()
    for file in dist.files or []:
        first = Path(str(file)).parts[0]
        if first not in ("..", "__pycache__") and not first.endswith(".pth"):
            entries.add(first)
    return entries


def library_folder(folder: Path) -> Path:
    """A folder of symbolic links to the Colab libraries of this environment, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in closure():
        site = Path(str(dist.locate_file("")))
        for entry in top_level_entries(dist):
            source = site / entry
            if source.exists() and not (folder / entry).exists():
                (folder / entry).symlink_to(source)
    return folder


def build_wheel(wheels: Path) -> Path:
    """A wheel of ``course_utils`` built from the checkout (a copy, so nothing is written there)."""
    source = wheels.parent / "course_utils_source" / "course_utils"
    shutil.copytree(
        ROOT / "course_utils",
        source,
        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(wheels)],
        check=True,
        capture_output=True,
    )
    (built,) = wheels.glob("cnn_course_utils-*.whl")
    return built


class FreshPython:
    """A Colab-like virtual environment in ``folder``, with a kernel spec named ``KERNEL``."""

    def __init__(self, folder: Path):
        started = time.monotonic()
        self.folder = Path(folder)
        self.venv = self.folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        self.python = self.venv / "bin" / "python"
        site = Path(
            subprocess.run(
                [str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        # the venv's own old setuptools would shadow the one torch needs (a runtime has one)
        for entry in ("setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth"):
            path = site / entry
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        for info in site.glob("setuptools-*.dist-info"):
            shutil.rmtree(info)
        # inside the environment's prefix, as Colab's /usr/local/lib/.../dist-packages is
        # inside /usr: the in-kernel ban watch trusts code under the prefix as the library's
        libraries = library_folder(self.venv / "colab-libraries")
        (site / "colab_libraries.pth").write_text(f"{libraries}\n", encoding="utf-8")
        self.wheels = self.folder / "wheels"
        self.wheel = build_wheel(self.wheels)
        self.jupyter_path = self.folder / "jupyter"
        spec = self.jupyter_path / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        str(self.python),
                        "-m",
                        "ipykernel_launcher",
                        "-f",
                        "{connection_file}",
                    ],
                    "display_name": "Colab-like Python",
                    "language": "python",
                }
            ),
            encoding="utf-8",
        )
        self.seconds = time.monotonic() - started

    def environment(self, home: Path) -> dict[str, str]:
        """The kernel's environment: pip sees only the course's wheel; no course variable, no
        checkout on the path, a home of its own (pip's and the course's caches go there)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COURSE_", "NBGRADER", "PIP_", "PYTHON", "VIRTUAL_ENV", "JPY_"))
        }
        env.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(home / ".cache"),
            PATH=f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
            PIP_NO_INDEX="1",
            PIP_FIND_LINKS=str(self.wheels),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PYTHONWARNINGS="ignore",
        )
        return env

    def run(self, python_code: str, home: Path) -> subprocess.CompletedProcess:
        """Run code with this environment's Python (for probes: what is importable)."""
        return subprocess.run(
            [str(self.python), "-c", python_code],
            env=self.environment(home),
            cwd=home,
            capture_output=True,
            text=True,
        )

    def execute(self, nb, folder: Path, timeout: int = 600, path_name: str | None = None):
        """Run a notebook top to bottom in a kernel of this environment, cwd ``folder`` (holding
        the notebook alone), errors allowed; the executed notebook comes back."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        specs = KernelSpecManager(kernel_dirs=[str(self.jupyter_path / "kernels")])
        manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
        client = NotebookClient(
            nb,
            km=manager,
            timeout=timeout,
            kernel_name=KERNEL,
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
        )
        home = folder.parent / f"{folder.name}-home"
        home.mkdir(exist_ok=True)
        env = self.environment(home)
        # JupyterLab and Notebook 7 (jupyter_server) name the notebook's path for its kernel
        env["JPY_SESSION_NAME"] = str(folder / path_name) if path_name else ""
        return client.execute(cwd=str(folder), env=env)
