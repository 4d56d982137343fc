"""The sandbox the student's code runs in: bubblewrap namespaces, a uid of its own, resource limits.

The student's kernel (student.py) is started with `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``) so that it

* sees a file system made only of read-only system folders (``/usr``, ``/etc``, Python and the
  course's environment), the course package ``coursekit/`` and its ``data/``, and an empty,
  private ``/tmp``: not the course folder (sources with hidden tests, the gradebook, other
  students' notebooks), not the repository's notebooks, not anyone's home;
* has no network, its own process, IPC and hostname namespaces, a new terminal session, and
  dies with the grader;
* runs as an unprivileged user id of its own (one per parallel job, when the grader runs as
  root) without capabilities, so it cannot signal, read or write what root or the TA own;
* lives under resource limits that it cannot raise: CPU seconds, address space, number of
  processes (a fork bomb stops there), size of any file it writes, open files.

:func:`isolation` finds the strongest mode this machine supports and checks that it works. When
none does, grading stops unless the TA passes ``--unsafe-no-sandbox``; that choice is written
into grades.csv for every submission it graded.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from ..config import ROOT, data_dir

UID_BASE = int(os.environ.get("COURSEKIT_SANDBOX_UID", "1900000000"))  # job k runs as UID_BASE + k

DEFAULT_LIMITS = {
    "cpu": 3600,               # CPU seconds for the whole notebook
    "memory": 8 * 2**30,       # bytes of address space
    "processes": 32,           # processes and threads of the sandbox's user (a fork bomb stops here)
    "file_size": 64 * 2**20,   # bytes in any one file it writes
    "open_files": 1024,
    "core": 0,
}


class SandboxUnavailable(RuntimeError):
    """No working isolation on this machine, and the TA did not allow grading without it."""


@dataclass
class Isolation:
    """How the students' kernels run (see :data:`MODES`), or ``mode="none"``."""
    mode: str
    bwrap: str | None = None
    description: str = ""
    size_option: bool = False     # bwrap can cap the size of /tmp (--size)
    disable_userns: bool = False  # bwrap can forbid nested user namespaces (--disable-userns)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


MODES = {
    # the grader is root: drop to the job's own uid, then an unprivileged bwrap in a user namespace
    # that cannot create further user namespaces
    "bwrap": "bwrap sandbox, uid {uid}+job, user namespace, no network, read-only system",
    # the grader is root but unprivileged user namespaces are off (or Python is not readable by
    # other users): bwrap as root, then the job's own uid without capabilities inside
    "bwrap-root": "bwrap sandbox, uid {uid}+job, no network, read-only system",
    # the grader is not root: bwrap in a user namespace, as the TA's own uid
    "bwrap-userns": "bwrap sandbox in a user namespace (the TA's uid), no network, read-only system",
}


class _Tree:
    """The bwrap arguments that build the sandbox's file system, read-only, parents first."""

    def __init__(self):
        self.args: list[str] = []
        self.bound: list[Path] = []   # real paths shown (their contents come along)
        self.made: set[str] = {"/", "/tmp"}   # folders and links created (/tmp: a tmpfs, mounted first)

    def _covered(self, path: Path) -> bool:
        return any(path == b or b in path.parents for b in self.bound)

    def _parents(self, path: Path) -> None:
        for parent in reversed(path.parents):
            if str(parent) not in self.made and not self._covered(parent):
                self.made.add(str(parent))
                self.args += ["--perms", "0755", "--dir", str(parent)]

    def system(self, top: str) -> None:
        p = Path(top)
        if p.is_symlink():
            self.made.add(top)
            self.args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            self.bound.append(p)
            self.args += ["--ro-bind", top, top]

    def expose(self, path: Path, depth: int = 0) -> None:
        """Show ``path`` read-only where it is, with the symbolic links that lead to it."""
        path = Path(os.path.abspath(path))
        real = path.resolve()
        if not self._covered(real):
            self._parents(real)
            self.bound.append(real)
            self.args += ["--ro-bind", str(real), str(real)]
        current = Path("/")
        for part in path.parts[1:]:
            current = current / part
            if self._covered(current) or str(current) in self.made:
                if current.is_symlink() and str(current) in self.made:
                    return
                continue
            if current.is_symlink():
                target = os.readlink(current)
                self._parents(current)
                self.made.add(str(current))
                self.args += ["--symlink", target, str(current)]
                if depth < 8:
                    self.expose(current.parent / target, depth + 1)
                return


def visible_paths(course_dir: Path | None = None) -> list[Path]:
    """What the student's kernel may read besides the system folders: Python, its packages, the course code."""
    forbidden = [ROOT.resolve()] + ([course_dir.resolve()] if course_dir else [])
    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent]
    for entry in sys.path:
        p = Path(entry or ".").absolute()
        if not p.exists() or p.resolve() in forbidden:
            continue
        if any(f == p.resolve() or f in p.resolve().parents or p.resolve() in f.parents for f in forbidden):
            continue  # never the repository root, the course folder or a folder above them
        paths.append(p)
    paths += [ROOT / "coursekit", data_dir(), cache_dir()]
    out, seen = [], set()
    for p in paths:
        if str(p) not in seen and p.exists():
            seen.add(str(p))
            out.append(p)
    return out


def cache_dir() -> Path:
    """The course's cache of generated data (MNIST-M), shared read-only with the student's kernel."""
    from ..data.mnist_m import cache_dir as mnist_m_cache
    path = mnist_m_cache()
    path.mkdir(parents=True, exist_ok=True)
    return path


def student_env(quick: bool, home: str = "/tmp") -> dict:
    """The environment of the student's kernel: nothing inherited but what a notebook needs."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "USER": "student", "LOGNAME": "student",
        "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "COURSEKIT_QUICK": "1" if quick else "0", "COURSEKIT_DEVICE": "cpu", "COURSEKIT_DATA": str(data_dir()),
        "COURSEKIT_CACHE": str(cache_dir()), "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/matplotlib",
        "IPYTHONDIR": f"{home}/ipython", "CUDA_VISIBLE_DEVICES": "",
    }
    return env


def wrap(iso: Isolation, command: list[str], slot: int = 0, course_dir: Path | None = None) -> list[str]:
    """The command line that runs ``command`` (a Python one) as the student, in the sandbox."""
    if iso.mode == "none":
        return command
    setpriv = [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={UID_BASE + slot}",
               f"--regid={UID_BASE + slot}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
               "--no-new-privs"]
    args = setpriv + ["--"] if iso.mode == "bwrap" else []
    args += [iso.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if iso.mode in ("bwrap", "bwrap-userns"):
        args += ["--unshare-user"] + (["--disable-userns"] if iso.disable_userns else [])
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777"]
    if iso.size_option:
        args += ["--size", str(512 * 2**20)]
    # the student's scratch space first, so that Python or the course may live under /tmp too
    # (a clone in /tmp/...): their read-only binds then go on top of it, not under it
    args += ["--tmpfs", "/tmp", "--chdir", "/tmp"]
    tree = _Tree()
    for top in ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"):
        tree.system(top)
    for path in visible_paths(course_dir):
        tree.expose(path)
    args += tree.args
    if iso.mode == "bwrap-root":  # root inside the namespaces: drop to the job's own uid, no capabilities
        args += ["--"] + setpriv
    return args + ["--", *command]


def _probe(iso: Isolation) -> str | None:
    """None if a sandboxed Python starts in this mode, else why not."""
    command = [sys.executable, "-c", "import os, sys; assert not os.path.exists(sys.argv[1]); print(os.getuid())",
               str(ROOT / "notebooks")]
    try:
        proc = subprocess.run(wrap(iso, command), env=student_env(True), capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if proc.returncode != 0:
        return (proc.stderr or proc.stdout).strip()[-300:] or f"exit status {proc.returncode}"
    if iso.mode in ("bwrap", "bwrap-root") and proc.stdout.strip() != str(UID_BASE):
        return f"runs as uid {proc.stdout.strip()}, not {UID_BASE}"
    return None


@lru_cache(maxsize=None)
def _detect() -> Isolation:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation("none", problems=["bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install "
                                           "bubblewrap)"])
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
    problems = []
    modes = ["bwrap", "bwrap-root"] if os.geteuid() == 0 and shutil.which("setpriv") else ["bwrap-userns"]
    for mode in modes:
        iso = Isolation(mode, bwrap, size_option="--size" in help_text,
                        disable_userns="--disable-userns" in help_text)
        why = _probe(iso)
        if why is None:
            iso.description = describe(iso)
            return iso
        problems.append(f"{mode}: {why}")
    return Isolation("none", problems=problems)


def describe(iso: Isolation) -> str:
    if iso.mode in MODES:
        return MODES[iso.mode].format(uid=UID_BASE)
    return "NONE: graded with --unsafe-no-sandbox (the student's code could read and write as the TA)"


def isolation(unsafe_no_sandbox: bool = False) -> Isolation:
    """The isolation grading will use; raises SandboxUnavailable if there is none and it is not allowed."""
    iso = _detect()
    if iso.mode != "none":
        return iso
    if not unsafe_no_sandbox:
        raise SandboxUnavailable(
            "cannot isolate the students' code on this machine: " + "; ".join(iso.problems)
            + ". Install bubblewrap (and allow user namespaces, or run as root), or grade without isolation "
              "at your own risk with --unsafe-no-sandbox (it is written into grades.csv).")
    return Isolation("none", description=describe(Isolation("none")), problems=iso.problems)


def student_command(request_fd: int, reply_fd: int, control_fd: int, limits: dict, max_output: int,
                    sandboxed: bool) -> list[str]:
    """The Python command line of the student's kernel (student.serve) on the given pipes."""
    return [sys.executable, "-m", "coursekit.grading.student", str(request_fd), str(reply_fd), str(control_fd),
            json.dumps(limits), str(max_output), "sandboxed" if sandboxed else "unconfined"]
