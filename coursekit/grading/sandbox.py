"""The kernel of an untrusted submission: bubblewrap, user ``nobody``, resource limits.

The sandbox's file system is built from nothing: the system (``/usr``, ``/etc``, ...), Python and
the virtual environment, the teaching library ``course_utils`` and the guard's one file are bound
read-only; ``/tmp`` is a private tmpfs;
the submission's scratch folder is the only writable place. The course folder (solutions,
hidden tests, the gradebook, other submissions) is simply not there. The network is unshared
(the kernel talks to the grader over Unix sockets in the scratch folder), so are PIDs and IPC.
Inside, ``setpriv`` drops to a user of its own (``allocate_uid``: one per running job on the
machine, so a fork bomb or a signal stays within one submission) with no capabilities and
``no_new_privs``, under rlimits: data segment (heap and private anonymous mappings; not the
address space, which torch and CUDA reserve far beyond what they use), file size, processes and
CPU time. Where the machine lets root create cgroups, each kernel also runs in a cgroup of its
own whose memory limit counts all its memory, shared and tmpfs pages included (cgroup v2
``memory.max``, or v1 ``memory.limit_in_bytes``), with ``pids.max`` and the same CPU weight as
every other kernel (``cpu.weight``, v1 ``cpu.shares``: busy children that call ``os.setsid``
stay inside their kernel's share); where it does not, only the rlimits hold, so shared mappings
and files in the private ``/tmp`` are bounded by the host alone. The sandbox knows no file of the
course: what a kernel must see blanked (held-out data) is the caller's ``masked`` argument.

Unprivileged mode (chosen automatically when the grader is not root, as on a cluster's compute
nodes): bubblewrap makes a user namespace (``--unshare-user``) besides the others, and drops
every capability with ``no_new_privs``; the file system view and the rlimits are the same as
above. What needs root is left out: the kernel keeps the worker's own user id (no ``setpriv``,
no sandbox user from ``allocate_uid``, no ``chown`` of the scratch folder), and it gets no
cgroup of its own. So there, a fork bomb's ``RLIMIT_NPROC`` counts every process of the
worker's user on the node, and shared mappings and tmpfs pages are bounded by what the
scheduler puts around the job (Slurm's job cgroup, a pod's limits), not per kernel; other jobs
of the same user stay out of reach because the kernel's PID namespace does not show them. Where
a site has user namespaces off, bubblewrap cannot run unprivileged: run the grader inside the
site's container runtime instead (e.g. Apptainer with the grading image).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .course import GradingError

NOBODY_UID = 65534
NOBODY_GID = 65534
SANDBOX_UID_BASE = 60000  # sandbox users: 60000 + k (no such user needs to exist)
SANDBOX_UIDS = 4000
UID_LOCKS = Path("/run/course-sandbox-uids")
GIB = 2**30
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Limits:
    """Resource limits of one submission's kernel."""

    memory_bytes: int = 4 * GIB
    cell_timeout: int = 180  # seconds per cell (nbgrader's Execute.timeout)
    submission_timeout: int = 900  # seconds for the whole submission, kernel start included
    max_output_bytes: int = 2 * 2**20  # per cell; more is cut (and the cut is noted)
    max_notebook_output_bytes: int = 16 * 2**20  # all cells of a notebook together
    max_file_bytes: int = 1 * GIB
    max_processes: int = 4096
    memory_limit: str = "auto"  # "as", "data" or "auto" (= "data")
    cpu_weight: int = 100  # each kernel's cgroup: an equal share of the CPU (cgroup v2 scale)
    cpus: float | None = None  # at most this many CPUs per kernel (cpu.max); None: no cap


def gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def unprivileged() -> bool:
    """True when the sandbox must do without root (bubblewrap in a user namespace)."""
    return os.geteuid() != 0


def sandbox_available() -> str | None:
    """None when bubblewrap (and setpriv, as root) can run a sandbox here, else why not."""
    if unprivileged():
        if shutil.which("bwrap") is None or shutil.which("prlimit") is None:
            return (
                "bwrap or prlimit is not installed: install Debian's bubblewrap and "
                "util-linux (or pass --no-sandbox for trusted notebooks only)"
            )
        import subprocess

        probe = subprocess.run(
            ["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            return (
                "bubblewrap cannot make a user namespace here (unprivileged user namespaces "
                f"are off: {probe.stderr.strip()[:120]}): run the grader as root or inside "
                "the site's container runtime, e.g. Apptainer with the grading image"
            )
        return None
    for tool in ("bwrap", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed: install Debian's bubblewrap and util-linux "
                "(make setup does this) or pass --no-sandbox for trusted notebooks only"
            )
    return None


def _trusted_roots() -> list[Path]:
    """Read-only paths the kernel needs: Python, the venv, course_utils and the guard's file.

    Of the infrastructure (``coursekit``) only ``guard.py``, which the grader loads into the
    kernel, is visible: a student's kernel never sees the grader's own code.
    """
    import course_utils

    roots = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(course_utils.__file__).resolve().parent,
        Path(__file__).resolve().parent / "guard.py",
    }
    real_python = Path(sys.executable).resolve()
    roots.add(real_python.parent.parent)
    data = os.environ.get("COURSE_DATA")
    if data and Path(data).is_dir():
        roots.add(Path(data).resolve())
    # a root under /usr is already bound with /usr
    return sorted(r for r in roots if not str(r).startswith("/usr/"))


def bwrap_command(
    scratch: Path,
    limits: Limits,
    env: dict[str, str],
    argv: list[str],
    uid: int = NOBODY_UID,
    cgroup_files: list[str] | None = None,
    *,
    masked: Sequence[tuple[str, str]],
) -> list[str]:
    """The full command that runs ``argv`` in the sandbox with ``scratch`` writable.

    ``masked``: ``(path in the sandbox, file on the host)`` pairs, each bound read-only over the
    path (the caller says what the kernel must see blanked, e.g. held-out data: the sandbox
    knows no course file itself; pass ``()`` for none). ``cgroup_files``: ``cgroup.procs`` files
    the command first moves itself into. Unprivileged (see the module's docstring), ``uid`` and
    ``cgroup_files`` are ignored: the kernel keeps the worker's user, in a user namespace, and
    joins no cgroup of its own.
    """
    bare = unprivileged()
    cmd = [
        "bwrap",
        *(["--unshare-user"] if bare else []),
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            cmd += ["--ro-bind", top, top]
    cmd += [
        "--ro-bind",
        "/etc",
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/var",
    ]
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
    for target, replacement in masked:  # e.g. held-out data, blanked
        cmd += ["--ro-bind", str(replacement), str(target)]
    cmd += [
        *parents(scratch),
        "--bind",
        str(scratch),
        str(scratch),
        "--chdir",
        str(scratch),
        "--clearenv",
    ]
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
    cmd += [
        "prlimit",
        f"--{kind}={limits.memory_bytes}",
        f"--fsize={limits.max_file_bytes}",
        f"--nproc={limits.max_processes}",
        f"--cpu={limits.submission_timeout + 60}",
        "--core=0",
        "--",
    ]
    if bare:  # bwrap already dropped every capability and set no_new_privs
        return cmd + list(argv)
    cmd += [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        *argv,
    ]
    if cgroup_files:
        join = "; ".join(f'echo $$ > "{path}"' for path in cgroup_files)
        cmd = ["/bin/sh", "-c", f'{join} && exec "$@"', "sh", *cmd]
    return cmd


def allocate_uid() -> tuple[int, int]:
    """A sandbox uid no other grading job on this machine holds: ``(uid, lock_fd)``.

    The uid is held by an exclusive ``flock`` on a file in a root-only folder (the kernels see
    a private ``/run``) for as long as ``lock_fd`` stays open, so concurrent ``course`` commands
    (an autograde and a validate, two courses) never share a user; the kernel dies with the
    worker, and the lock with it. Needs root (see ``unprivileged``: without it there is no
    sandbox user to take).
    """
    import fcntl

    if unprivileged():
        raise GradingError(
            "sandbox users need root; unprivileged, the kernel keeps the worker's own user"
        )

    UID_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UIDS):
        fd = os.open(UID_LOCKS / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return uid, fd
    raise GradingError(f"all {SANDBOX_UIDS} sandbox users are in use on this machine")


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for a v1 ``controller`` (None: the v2 unified path)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if controller is None and number == "0" and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    return None


class KernelCgroup:
    """A cgroup of one kernel's own: memory (shared and tmpfs pages counted), process count and
    CPU share.

    CPU: every process of the kernel, however many sessions it makes (``os.setsid`` gives a
    process a scheduler autogroup of its own, which is how busy children outweighed a
    classmate's kernel), is in the kernel's one cgroup, and the cgroups of kernels have equal
    weights (``cpu.weight``, v1 ``cpu.shares``; a process in a cgroup other than the root
    gets no autogroup), so two kernels split the CPU evenly whatever either does; ``Limits.cpus``
    also caps it (``cpu.max``, v1 ``cpu.cfs_quota_us``). A machine without the cpu controller
    keeps the memory and process limits and ``cpu_why`` says so.

    ``files`` are the ``cgroup.procs`` the kernel joins; empty where cgroups cannot be made here
    (then ``why`` says so and only the rlimits apply).
    """

    def __init__(self, name: str, limits: Limits):
        self.folders: list[Path] = []
        self.files: list[str] = []
        self.why = ""
        self.cpu_why = ""
        try:
            self._make(name, limits)
        except OSError as error:
            self.remove()
            self.files, self.why = [], f"no cgroup ({error.strerror or error})"

    def _make(self, name: str, limits: Limits) -> None:
        unified = CGROUP_ROOT / "cgroup.controllers"
        if unified.is_file():
            if not {"memory", "pids"} <= set(unified.read_text().split()):
                raise OSError(0, "cgroup v2 without the memory and pids controllers")
            base = CGROUP_ROOT / (_own_cgroup(None) or "/").lstrip("/")
            folder = base / name
            folder.mkdir()
            self.folders.append(folder)
            (folder / "memory.max").write_text(str(limits.memory_bytes))
            (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(limits.max_processes))
            self.files.append(str(folder / "cgroup.procs"))
            try:  # without a CPU share the memory and process limits still hold
                self._enable_cpu(base)
                (folder / "cpu.weight").write_text(str(limits.cpu_weight))
                if limits.cpus:
                    (folder / "cpu.max").write_text(f"{int(limits.cpus * 100_000)} 100000")
            except OSError as error:
                self.cpu_why = f"no cpu controller ({error.strerror or error})"
            return
        for controller, settings in (
            ("memory", {"memory.limit_in_bytes": limits.memory_bytes}),
            ("pids", {"pids.max": limits.max_processes}),
        ):
            root = CGROUP_ROOT / controller
            if not root.is_dir():
                raise OSError(0, f"no {controller} cgroup controller")
            folder = root / (_own_cgroup(controller) or "/").lstrip("/") / name
            folder.mkdir()
            self.folders.append(folder)
            for key, value in settings.items():
                (folder / key).write_text(str(value))
            swap = folder / "memory.memsw.limit_in_bytes"
            if controller == "memory" and swap.exists():
                swap.write_text(str(limits.memory_bytes))
            self.files.append(str(folder / "cgroup.procs"))
        try:  # without a CPU share the memory and process limits still hold
            self._make_v1_cpu(name, limits)
        except OSError as error:
            self.cpu_why = f"no cpu cgroup ({error.strerror or error})"

    @staticmethod
    def _enable_cpu(base: Path) -> None:
        """Let ``base``'s children have the cpu controller (v2: a parent enables it)."""
        if "cpu" not in (base / "cgroup.controllers").read_text().split():
            raise OSError(0, "the cpu controller is not available to this cgroup")
        control = base / "cgroup.subtree_control"
        if "cpu" not in control.read_text().split():
            control.write_text("+cpu")

    def _make_v1_cpu(self, name: str, limits: Limits) -> None:
        root = CGROUP_ROOT / "cpu"
        if not (root / "cpu.shares").is_file():
            self.cpu_why = "no cpu cgroup controller"
            return
        folder = root / (_own_cgroup("cpu") or "/").lstrip("/") / name
        folder.mkdir()
        self.folders.append(folder)
        self.files.append(str(folder / "cgroup.procs"))
        (folder / "cpu.shares").write_text(str(max(2, limits.cpu_weight * 1024 // 100)))
        if limits.cpus:
            (folder / "cpu.cfs_period_us").write_text("100000")
            (folder / "cpu.cfs_quota_us").write_text(str(int(limits.cpus * 100_000)))

    @staticmethod
    def sweep(worker_pid: int) -> None:
        """Remove every kernel cgroup a worker process made (after it ended or was killed)."""
        group = KernelCgroup.__new__(KernelCgroup)
        group.folders = []
        unified = CGROUP_ROOT / "cgroup.controllers"
        bases = (
            [CGROUP_ROOT / (_own_cgroup(None) or "/").lstrip("/")]
            if unified.is_file()
            else [
                CGROUP_ROOT / c / (_own_cgroup(c) or "/").lstrip("/")
                for c in ("memory", "pids", "cpu")
            ]
        )
        for base in bases:
            group.folders += sorted(base.glob(f"course-{worker_pid}-*")) if base.is_dir() else []
        group.remove()

    def remove(self) -> None:
        """Kill what is left in the cgroups and remove them."""
        import signal
        import time

        for folder in self.folders:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.05)
            try:
                folder.rmdir()
            except OSError:
                pass
        self.folders = []


def prepare_scratch(scratch: Path, uid: int = NOBODY_UID) -> None:
    """A folder owned by ``uid`` (inside the sandbox it is bound at the same path).

    Unprivileged, the folder stays the worker's (the kernel runs as the worker's user).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    for path in (scratch, *scratch.rglob("*")) if not unprivileged() else ():
        os.chown(path, uid, uid, follow_symlinks=False)
    scratch.chmod(0o700)


def sandboxed_kernel_manager(
    scratch: Path,
    limits: Limits,
    env: dict[str, str],
    uid: int = NOBODY_UID,
    cgroup: bool | None = None,
    *,
    masked: Sequence[tuple[str, str]],
):
    """An AsyncKernelManager class whose kernels start inside the sandbox of ``scratch``
    (``masked``: the files it sees replaced, see ``bwrap_command``).

    With ``cgroup`` (default: where one can be made), each kernel gets a ``KernelCgroup``;
    unprivileged, none is made (and ``uid`` is not used: see the module's docstring).
    """
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
                os.chown(self.connection_file, uid, uid)
            # SIGINT cannot cross into the sandbox's PID namespace: interrupt by message
            self.kernel_spec.interrupt_mode = "message"
            argv = [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                self.connection_file,
                *(extra_arguments or []),
            ]
            files = []
            if cgroup is not False and not unprivileged():
                self.course_cgroup = KernelCgroup(f"course-{os.getpid()}-{uid}", limits)
                files = self.course_cgroup.files
            return bwrap_command(scratch, limits, env, argv, uid, files, masked=masked)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            group = getattr(self, "course_cgroup", None)
            if group is not None:
                group.remove()

    return SandboxedKernelManager
