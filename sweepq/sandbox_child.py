"""The sandbox's launcher: a process of its own that isolates itself, then runs the program.

`sweepq.sandbox` runs this file as `python -I -S sandbox_child.py CONFIG`; it is never
imported. It is a separate interpreter, not a `preexec_fn`, because the setup (unshare,
setrlimit, setuid) has to happen in the child and `preexec_fn` is unsafe in a
multi-threaded caller such as the worker. Standard library only, so `-S` keeps its start
fast.

What it does, in order:
1. new namespaces where the kernel allows them: network (only a downed loopback inside,
   so nothing can be reached, 127.0.0.1 included) and PID (when its first process dies,
   the kernel kills every other one, whatever session or group they moved to);
2. as root, with a mount namespace: a private tmpfs over each world-writable scratch
   place and over the run's directory, and a user id of its own (`UID_BASE` + this
   launcher's pid, unique among live launchers), owner of the work directory only; so
   `RLIMIT_NPROC` is enforced (the kernel exempts root) and counts only this run's
   processes, files elsewhere are not writable, and the caller's processes cannot be
   signalled;
3. forks the program's process (with a PID namespace, under a small init of its own):
   limits, the new user id, a parent-death signal, `execve`;
4. reports on fd `report`: one JSON line once set up, one with the program's wait status.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
UID_BASE = 2_000_000_000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
# World-writable places a program could otherwise write to: each gets a private tmpfs.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
TMPFS_SIZE = "size=64m"


def _namespaces(libc: ctypes.CDLL, want_net: bool) -> tuple[bool, bool, bool]:
    """(network isolated, PID namespace, mount namespace): the most the kernel grants.

    Root gets a mount namespace too (for the scratch tmpfs and the own user id); without
    root, a user namespace is what makes the others possible, and mounts are not tried."""
    if not hasattr(libc, "unshare"):  # not Linux: no namespaces at all
        return False, False, False
    root = os.geteuid() == 0
    user, mnt = (0, CLONE_NEWNS) if root else (CLONE_NEWUSER, 0)
    tries = [(True, True), (True, False), (False, True)] if want_net else [(False, True)]
    for net, pid in tries:
        flags = user | (CLONE_NEWNET if net else 0) | (CLONE_NEWPID if pid else 0)
        if mnt and libc.unshare(flags | mnt) == 0:
            return net, pid, True
        if libc.unshare(flags) == 0:
            return net, pid, False
    return False, False, False


def _mount(libc: ctypes.CDLL, src: str | None, target: str, fstype: str | None,
           flags: int, data: str | None = None) -> None:
    def enc(v: str | None) -> bytes | None:
        return None if v is None else v.encode()

    if libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _closed_ancestor(path: str) -> str | None:
    """The outermost ancestor of `path` that others cannot traverse (e.g. /root), if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if not os.stat(d).st_mode & 0o001:
            return d
    return None


def _private_mounts(libc: ctypes.CDLL, cfg: dict) -> None:
    """In the new mount namespace: tmpfs over every scratch place and over the run's own
    directory (a fresh, size-bounded copy of it), and the interpreter's prefix made
    reachable for the new user id without exposing the directory it sits in."""
    source = open(os.path.join(cfg["work"], "program.py"), "rb").read()
    prefix = cfg["prefix"]
    prefix_fd = os.open(prefix, os.O_PATH | os.O_DIRECTORY)
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing propagates to the host
    for d in SCRATCH:
        if os.path.isdir(d) and not os.path.islink(d):
            _mount(libc, "tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"{TMPFS_SIZE},mode=1777")
    closed = _closed_ancestor(prefix)
    if closed is not None:
        _mount(libc, "tmpfs", closed, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        os.makedirs(prefix, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{prefix_fd}", prefix, None, MS_BIND | MS_REC)
        _mount(libc, None, prefix, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    os.close(prefix_fd)
    base = os.path.dirname(cfg["work"])
    os.makedirs(base, exist_ok=True)
    _mount(libc, "tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, f"{TMPFS_SIZE},mode=0711")
    os.mkdir(cfg["work"], 0o700)
    with open(os.path.join(cfg["work"], "program.py"), "wb") as f:
        f.write(source)


def _die_with_parent(libc: ctypes.CDLL) -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere the group kill remains)."""
    if hasattr(libc, "prctl"):
        libc.prctl(PR_SET_PDEATHSIG, 9)


def _own_processes() -> int:
    """How many processes this real uid has now (RLIMIT_NPROC counts them all); 0 where
    there is no /proc, which only makes the limit stricter."""
    uid, n = os.getuid(), 0
    if not os.path.isdir("/proc"):
        return 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return n


def _limit(cfg: dict, uid: int | None) -> None:
    """Lower every limit; the soft CPU limit sends SIGXCPU, the hard one a second later KILL."""
    cpu = cfg["cpu_seconds"]
    nproc = cfg["processes"] if uid is not None else _own_processes() + cfg["processes"]
    for res, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (cfg["memory_bytes"],) * 2),
        (resource.RLIMIT_FSIZE, (cfg["file_bytes"],) * 2),
        (resource.RLIMIT_NPROC, (nproc,) * 2),
        (resource.RLIMIT_NOFILE, (cfg["open_files"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(res, value)


def _program(cfg: dict, uid: int | None, libc: ctypes.CDLL) -> None:
    """In the forked child: become the program. Returns only by raising."""
    os.chdir(cfg["work"])
    _limit(cfg, uid)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _die_with_parent(libc)  # after setuid, which clears it
    os.set_inheritable(cfg["report"], False)  # closed by execve; open for a setup error
    os.execve(cfg["python"], [cfg["python"], "-I", "-B", "program.py"], cfg["env"])


def _say(fd: int, message: dict) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _become_program(cfg: dict, uid: int | None, libc: ctypes.CDLL) -> None:
    try:
        _program(cfg, uid, libc)
    except BaseException as exc:  # a setup failure is the sandbox's, not the program's
        _say(cfg["report"], {"setup_error": f"{type(exc).__name__}: {exc}"})
    os._exit(127)


def _init(cfg: dict, uid: int | None, libc: ctypes.CDLL) -> None:
    """PID 1 of the new namespace: runs the program as PID 2 and reports how it ended.

    The program is not PID 1 itself because the kernel drops signals whose action is the
    default for a namespace's init (SIGXCPU of the CPU limit, SIGTERM, ...). When this
    process ends, the kernel kills every process left in the namespace."""
    _die_with_parent(libc)
    pid = os.fork()
    if pid == 0:
        _become_program(cfg, uid, libc)
    _, status = os.waitpid(pid, 0)
    _say(cfg["report"], {"status": status})
    os._exit(0)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    _die_with_parent(libc)  # a caller killed mid-run takes the run with it
    if os.getppid() != cfg["parent"]:  # it died before the line above
        sys.exit(1)
    net, pidns, mounts = _namespaces(libc, cfg["isolate_network"])
    uid = None
    if mounts:  # an own user id needs the interpreter made reachable, hence the mounts
        _private_mounts(libc, cfg)
        uid = UID_BASE + os.getpid()
        os.chown(cfg["work"], uid, uid)
        cfg["python"] = cfg["base_python"]
    pid = os.fork()
    if pid == 0:
        (_init if pidns else _become_program)(cfg, uid, libc)
    os.close(cfg["sentinel"])
    _say(cfg["report"], {"net": net, "pidns": pidns, "uid": uid, "init": pid})
    _, status = os.waitpid(pid, 0)
    if not pidns:
        _say(cfg["report"], {"status": status})


if __name__ == "__main__":
    main()
