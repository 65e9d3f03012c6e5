"""Trained models judged outside the student's process: ``python -m coursekit.grading.evaluate``.

A ``check_model`` record holds a model's weights as arrays. The checker starts this module in a
fresh process (no student code in it, nothing unpickled): it reads ``{"evaluation", "options",
"arrays": {name: path-in-npz}}`` as JSON on stdin plus the npz file named on the command line,
builds the instructor's architecture from ``course_utils.testing.EVALUATIONS`` with those
weights (``load_state_dict(strict=True)``: other names or shapes are refused), evaluates it and
prints ``{"score": float}`` or ``{"error": sentence}``. The teaching library is trusted code.
"""

from __future__ import annotations

import json
import sys


def evaluate(spec: dict, npz_path: str) -> dict:
    import numpy as np
    import torch

    from course_utils.testing import EVALUATIONS

    evaluation = spec.get("evaluation")
    if evaluation not in EVALUATIONS:
        return {"error": f"unknown evaluation {evaluation!r}"}
    score_of, build = EVALUATIONS[evaluation]
    arrays = np.load(npz_path, allow_pickle=False)
    state = {}
    for name, key in spec.get("arrays", {}).items():
        if key not in arrays.files:
            return {"error": "a missing array"}
        state[str(name)] = torch.from_numpy(np.array(arrays[key]))
    torch.manual_seed(0)
    try:
        model = build(state, **spec.get("options", {}))
    except Exception as error:  # noqa: BLE001 - wrong names or shapes: not the architecture
        return {"error": f"the weights do not fit the architecture ({type(error).__name__})"}
    return {"score": float(score_of(model))}


def main() -> int:
    spec = json.loads(sys.stdin.read())
    print(json.dumps(evaluate(spec, sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
