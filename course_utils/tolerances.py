"""How close two floating-point results must be to count as the same: one table for the course.

Chapters quote it (``tolerances(torch.float32, "cuda")``) when they compare a fast routine with
a slow one; the exercises' checks and the grader read the same table (``course_utils.checking``).
A result's tolerance depends on its dtype and on where it was computed: on a GPU, cuDNN may run
float32 convolutions in TF32 (10 bits of mantissa), so float32 results on CUDA or MPS get a
looser tolerance than on the CPU. Pure Python: no torch or NumPy needed to read the table.

>>> tolerances("torch.float64")
(1e-07, 1e-09)
"""

from __future__ import annotations

# (rtol, atol) by dtype name and device type; float32 depends on the device, others do not.
FLOAT32_TOLERANCE = {"cpu": (1e-4, 1e-5), "cuda": (2e-3, 2e-3), "mps": (2e-3, 2e-3)}
FLOAT64_TOLERANCE = (1e-7, 1e-9)
HALF_TOLERANCE = (1e-2, 1e-2)  # float16 and bfloat16 (8 or 11 bits of mantissa)
STRICT_DEVICE = "cpu"


def device_type(device) -> str:
    """``"cuda"`` for ``"cuda:1"`` or ``torch.device("cuda", 1)``; ``"cpu"`` for None."""
    if device is None:
        return STRICT_DEVICE
    return str(getattr(device, "type", device)).split(":")[0]


def tolerances(dtype, device=STRICT_DEVICE) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing results of ``dtype`` (a torch or NumPy dtype, or its name
    such as ``"torch.float32"`` or ``"float32"``) computed on ``device`` (default: the CPU)."""
    name = str(dtype).removeprefix("torch.")
    if name in ("float64", "double"):
        return FLOAT64_TOLERANCE
    if name in ("float16", "bfloat16", "half"):
        return HALF_TOLERANCE
    return FLOAT32_TOLERANCE.get(device_type(device), FLOAT32_TOLERANCE["cuda"])
