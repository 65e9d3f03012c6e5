"""Where and how course code runs: the device, the profile, seeds and the data cache.

Every chapter, exercise and test takes these from here, so that one environment variable moves
the whole course from a laptop CPU to a GPU runner:

* ``COURSE_DEVICE``  = ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` (default: cuda, then mps, then cpu)
* ``COURSE_PROFILE`` = ``quick`` | ``full`` (default: ``full`` when CUDA is there, else ``quick``)
* ``COURSE_DATA``    = the folder that downloaded data sets and weights are cached in
  (default: ``~/.cache/cnn-course``)
* ``COURSE_STANDIN`` = ``1`` for a stand-in run: ``COURSE_DATA`` is a folder of generated
  stand-ins (``python -m coursekit.standin``: data sets in their real file formats but few
  samples, randomly initialised weights in place of pretrained ones) and ``capped`` shortens
  the full profile's training, so that the full profile's code can be checked on a CPU offline.
  Its numbers are never results: every page says so.
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

PROFILES = ("quick", "full")
#: The file that marks a ``COURSE_DATA`` folder as generated stand-ins, not downloads.
STANDIN_MARKER = "STANDIN"


class ConfigurationError(RuntimeError):
    """An environment variable asks for something this machine cannot do."""


def get_device() -> torch.device:
    """Return the device that course code should use.

    Honours ``COURSE_DEVICE``; otherwise picks CUDA, then Apple's MPS, then the CPU. Asking for
    a device that is not there is an error, never a silent fallback to the CPU.
    """
    requested = os.environ.get("COURSE_DEVICE", "").strip().lower()
    if not requested:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigurationError(
            f"COURSE_DEVICE={requested!r} is not a device name: use cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigurationError(
                f"COURSE_DEVICE={requested} but PyTorch sees no CUDA GPU here: "
                "unset COURSE_DEVICE or set COURSE_DEVICE=cpu."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigurationError(
                f"COURSE_DEVICE={requested} but only {torch.cuda.device_count()} CUDA "
                "device(s) exist: pick one of them."
            )
    elif device.type == "mps" and not _mps_available():
        raise ConfigurationError(
            "COURSE_DEVICE=mps but Apple's MPS backend is not available: "
            "unset COURSE_DEVICE or set COURSE_DEVICE=cpu."
        )
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigurationError(
            f"COURSE_DEVICE={requested!r} is not supported: use cpu, cuda, cuda:N or mps."
        )
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def profile() -> str:
    """Return ``"quick"`` (small data, CPU-friendly) or ``"full"`` (the real sizes, for a GPU).

    ``COURSE_PROFILE`` decides; without it, ``full`` when CUDA is available, else ``quick``.
    """
    value = os.environ.get("COURSE_PROFILE", "").strip().lower()
    if not value:
        return "full" if torch.cuda.is_available() else "quick"
    if value not in PROFILES:
        raise ConfigurationError(
            f"COURSE_PROFILE={value!r} is not a profile: set it to 'quick' or 'full' (or unset it)."
        )
    return value


def standin() -> bool:
    """True when ``COURSE_STANDIN=1``: this run uses generated stand-in data and weights."""
    value = os.environ.get("COURSE_STANDIN", "").strip().lower()
    if value in ("", "0", "no", "false"):
        return False
    if value in ("1", "yes", "true"):
        return True
    raise ConfigurationError(
        f"COURSE_STANDIN={value!r} is not a switch: set it to 1 for a run on stand-in data "
        "(or unset it)."
    )


def capped(value: int, stand_in: int) -> int:
    """``value``, or at most ``stand_in`` in a stand-in run (``COURSE_STANDIN=1``).

    For the full profile's costly sizes (epochs, training images, iterations): a stand-in run
    checks that the code runs end to end on a CPU, not what the training would reach.
    """
    return min(value, stand_in) if standin() else value


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU).

    Also asks cuDNN for deterministic algorithms, so that a GPU run repeats exactly; this costs
    a little speed, which the course gladly pays for results a student can reproduce.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the legacy global generator on purpose
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def data_dir() -> Path:
    """Return (and create) the folder where downloads are cached: ``$COURSE_DATA``.

    Defaults to ``$XDG_CACHE_HOME/cnn-course`` or ``~/.cache/cnn-course``. A folder of stand-ins
    (it holds ``STANDIN_MARKER``) is used only with ``COURSE_STANDIN=1``, and a stand-in run
    only uses such a folder: generated data never passes for downloaded data, nor the reverse.
    """
    configured = os.environ.get("COURSE_DATA", "").strip()
    if configured:
        path = Path(configured).expanduser()
    else:
        cache_home = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
        path = Path(cache_home) / "cnn-course"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the data folder {path} ({error.strerror}): "
            "point COURSE_DATA at a writable folder."
        ) from None
    is_standin_folder = (path / STANDIN_MARKER).is_file()
    if is_standin_folder and not standin():
        raise ConfigurationError(
            f"the data folder {path} holds generated stand-ins, not downloaded data: set "
            "COURSE_STANDIN=1 for a stand-in run, or point COURSE_DATA at the real cache."
        )
    if standin() and not is_standin_folder:
        raise ConfigurationError(
            f"COURSE_STANDIN=1 but the data folder {path} is not a stand-in folder: make one "
            "with python -m coursekit.standin FOLDER and point COURSE_DATA at it."
        )
    return path


def describe_runtime() -> dict[str, str]:
    """The facts a reader needs to compare their run with the book's: versions, device, profile."""
    device = get_device()
    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "profile": profile(),
        "threads": str(torch.get_num_threads()),
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    if standin():
        facts["data"] = "stand-in (generated data, random weights, capped training)"
    return facts
