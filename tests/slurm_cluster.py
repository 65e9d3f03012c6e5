"""A one-node Slurm cluster for the tests: ``scripts/slurm-test-cluster.sh``, idempotent.

The tests that use it fail (never skip) when the cluster cannot be started: a grader that was
never run through Slurm must not pass as one that was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-test-cluster.sh"
PARTITION = "grading"


def ensure_slurm_cluster() -> str:
    """Start the test cluster (or find it up); the partition to submit to."""
    # root starts system daemons; elsewhere (a CI runner) password-less sudo does
    sudo = ["sudo", "-n"] if os.geteuid() != 0 and shutil.which("sudo") else []
    done = subprocess.run([*sudo, "bash", str(SCRIPT)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(
            f"could not start the one-node Slurm test cluster: "
            f"{(done.stderr or done.stdout).strip()}"
        )
    state = subprocess.run(
        ["sinfo", "-h", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True
    )
    if state.returncode != 0 or not state.stdout.strip():
        pytest.fail(f"the Slurm test partition {PARTITION!r} does not answer: {state.stderr}")
    return PARTITION
