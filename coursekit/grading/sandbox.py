"""The kernel of an untrusted submission: bubblewrap, user ``nobody``, resource limits.

The sandbox's file system is built from nothing: the system (``/usr``, ``/etc``, ...), Python and
the virtual environment, the teaching library ``course_utils`` and the guard's one file are bound
read-only; ``/tmp`` is a private tmpfs;
the submission's scratch folder is the only writable place. The course folder (solutions,
hidden tests, the gradebook, other submissions) is simply not there. The network is unshared
(the kernel talks to the grader over Unix sockets in the scratch folder), so are PIDs and IPC.
Inside, ``setpriv`` drops to ``nobody`` with no capabilities and ``no_new_privs``, under
rlimits: data segment (heap and anonymous mappings; not the address space, which torch and
CUDA reserve far beyond what they use), file size, processes and CPU time.

Unprivileged mode (chosen automatically when the grader is not root, as on a cluster's compute
nodes): bubblewrap makes a user namespace (``--unshare-user``) and drops every capability, with
``no_new_privs``; the kernel keeps the grader's own user id (no ``setpriv``, no ``chown``), the
rest is the same. Where a site has user namespaces off, bubblewrap cannot run unprivileged: run
the grader inside the site's container runtime instead (e.g. Apptainer with the grading image).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .course import GradingError

NOBODY_UID = 65534
NOBODY_GID = 65534
GIB = 2**30


@dataclass
class Limits:
    """Resource limits of one submission's kernel."""

    memory_bytes: int = 4 * GIB
    cell_timeout: int = 180          # seconds per cell (nbgrader's Execute.timeout)
    submission_timeout: int = 900    # seconds for the whole submission, kernel start included
    max_output_bytes: int = 2 * 2**20  # per cell; more is cut (and the cut is noted)
    max_file_bytes: int = 1 * GIB
    max_processes: int = 4096
    memory_limit: str = "auto"       # "as", "data" or "auto" (= "data")


def gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def unprivileged() -> bool:
    """True when the sandbox must do without root (bubblewrap in a user namespace)."""
    return os.geteuid() != 0


def sandbox_available() -> str | None:
    """None when bubblewrap (and setpriv, as root) can run a sandbox here, else why not."""
    if unprivileged():
        if shutil.which("bwrap") is None or shutil.which("prlimit") is None:
            return ("bwrap or prlimit is not installed: install Debian's bubblewrap and "
                    "util-linux (or pass --no-sandbox for trusted notebooks only)")
        import subprocess

        probe = subprocess.run(["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            return ("bubblewrap cannot make a user namespace here (unprivileged user namespaces "
                    f"are off: {probe.stderr.strip()[:120]}): run the grader as root or inside "
                    "the site's container runtime, e.g. Apptainer with the grading image")
        return None
    for tool in ("bwrap", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed: install Debian's bubblewrap and util-linux "
                    "(make setup does this) or pass --no-sandbox for trusted notebooks only")
    return None


def _trusted_roots() -> list[Path]:
    """Read-only paths the kernel needs: Python, the venv, course_utils and the guard's file.

    Of the infrastructure (``coursekit``) only ``guard.py``, which the grader loads into the
    kernel, is visible: a student's kernel never sees the grader's own code.
    """
    import course_utils

    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(course_utils.__file__).resolve().parent,
             Path(__file__).resolve().parent / "guard.py"}
    real_python = Path(sys.executable).resolve()
    roots.add(real_python.parent.parent)
    data = os.environ.get("COURSE_DATA")
    if data and Path(data).is_dir():
        roots.add(Path(data).resolve())
    # a root under /usr is already bound with /usr
    return sorted(r for r in roots if not str(r).startswith("/usr/"))


def bwrap_command(scratch: Path, limits: Limits, env: dict[str, str], argv: list[str]) -> list[str]:
    """The full command that runs ``argv`` in the sandbox with ``scratch`` writable."""
    cmd = ["bwrap", *(["--unshare-user"] if unprivileged() else []),
           "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            cmd += ["--ro-bind", top, top]
    cmd += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/var"]
    gpus = gpu_devices()
    for device in gpus:
        cmd += ["--dev-bind", device, device]
    if gpus:  # the CUDA driver reads PCI topology from /sys
        cmd += ["--ro-bind", "/sys", "/sys"]
    made: set[Path] = set()

    def parents(path: Path) -> list[str]:
        # bwrap would create missing parents as 0700 root: nobody could not pass through
        args = []
        for parent in reversed(path.parents[:-1]):
            if parent not in made and str(parent) not in ("/usr", "/etc", "/tmp"):
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        return args

    for root in _trusted_roots():
        cmd += [*parents(root), "--ro-bind", str(root), str(root)]
    cmd += [*parents(scratch), "--bind", str(scratch), str(scratch), "--chdir", str(scratch),
            "--clearenv"]
    for key, value in sorted(env.items()):
        cmd += ["--setenv", key, value]
    kind = limits.memory_limit
    if kind == "auto":
        # RLIMIT_DATA, also on the CPU: a kernel that has imported torch, scipy and scikit-learn
        # already maps ~4.1 GB of address space (torch alone 3.3 GB, mostly reserved, not used),
        # so a 4 GiB RLIMIT_AS leaves no room to train even a tiny CNN ("could not create a
        # primitive"). RLIMIT_DATA counts the memory actually written and still refuses a 6 GiB
        # tensor; on a GPU, RLIMIT_AS would also stop CUDA from creating its context.
        kind = "data"
    cmd += ["prlimit", f"--{kind}={limits.memory_bytes}", f"--fsize={limits.max_file_bytes}",
            f"--nproc={limits.max_processes}", f"--cpu={limits.submission_timeout + 60}",
            "--core=0", "--"]
    if unprivileged():  # bwrap already dropped every capability and set no_new_privs
        return cmd + list(argv)
    cmd += ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--", *argv]
    return cmd


def prepare_scratch(scratch: Path) -> None:
    """A folder owned by nobody (inside the sandbox it is bound at the same path)."""
    scratch.mkdir(parents=True, exist_ok=True)
    for path in (scratch, *scratch.rglob("*")) if not unprivileged() else ():
        os.chown(path, NOBODY_UID, NOBODY_GID, follow_symlinks=False)
    scratch.chmod(0o700)


def sandboxed_kernel_manager(scratch: Path, limits: Limits, env: dict[str, str]):
    """An AsyncKernelManager class whose kernels start inside the sandbox of ``scratch``."""
    from jupyter_client.manager import AsyncKernelManager

    scratch = Path(scratch)

    class SandboxedKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.transport = "ipc"  # Unix sockets in the scratch folder: no network needed
            self.ip = str(scratch / "kernel")
            self.connection_file = str(scratch / "kernel.json")

        def format_kernel_cmd(self, extra_arguments=None):
            if not Path(self.connection_file).is_file():
                raise GradingError("the kernel connection file was not written")
            if not unprivileged():
                os.chown(self.connection_file, NOBODY_UID, NOBODY_GID)
            # SIGINT cannot cross into the sandbox's PID namespace: interrupt by message
            self.kernel_spec.interrupt_mode = "message"
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                    *(extra_arguments or [])]
            return bwrap_command(scratch, limits, env, argv)

    return SandboxedKernelManager
