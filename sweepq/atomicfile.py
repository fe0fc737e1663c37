"""Files written whole or not at all: a temporary file beside the target, renamed on success.

Every file sweepq writes (export, `report -o`) goes through `atomic_output`.
A failure half-way (a full disk, a database error while exporting, Ctrl-C)
removes the temporary file and leaves the previous file as it was. A target
that is not a regular file (`/dev/full`, a FIFO, `/dev/stdout`) cannot be
replaced by a rename: it is written in place, and a write error is still one
line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import SweepqError


@contextmanager
def atomic_output(path: str) -> Iterator[IO[str]]:
    """Yield a text handle for `path` (`-` is stdout); the file appears only when the block ends
    without an exception."""
    if path == "-":
        try:
            yield sys.stdout
            sys.stdout.flush()
        except OSError as exc:
            raise SweepqError(f"cannot write to standard output: {exc.strerror or exc}") \
                from None
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise SweepqError(f"cannot write {path}: it is a folder")
        yield from _in_place(target)
        return
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SweepqError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SweepqError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.chmod(temp, _mode_for(target))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        _remove(temp)
        raise SweepqError(f"cannot write {path}: {exc.strerror or exc}; the previous file, "
                          "if any, is untouched") from None
    except BaseException:
        _remove(temp)
        raise


def _in_place(target: Path) -> Iterator[IO[str]]:
    try:
        handle = target.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SweepqError(f"cannot write {target}: {exc.strerror}") from None
    try:
        yield handle
        handle.flush()
    except OSError as exc:
        raise SweepqError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            handle.close()


def _mode_for(target: Path) -> int:
    """The mode the file would get from a plain open(): the old file's, or 0666 less the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)
