"""Files out (render stage): atomic writes (files in: :mod:`symbackprop.model.inputs`).

Output is written to a temporary file beside the target, then renamed: an interrupted or failed
run leaves no half-written file and never clobbers an existing good one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from symbackprop.model.errors import SymbackpropError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    target = output_path(path)
    directory = target.parent if str(target.parent) else Path(".")
    for stale in directory.glob(f".{glob.escape(target.name)}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a killed run (SIGKILL runs no clean-up)
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=directory
        )
    except OSError as error:
        raise _about(error, target) from None
    os.close(handle)
    # mkstemp makes the file owner-only; give it the mode a plain open() would (0666 - umask).
    os.chmod(temporary, 0o666 & ~_umask())
    try:
        yield Path(temporary)
        try:
            os.replace(temporary, target)
        except OSError as error:
            raise _about(error, target) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def output_path(path: str | os.PathLike[str]) -> Path:
    """Return the path of an output file; refuse an empty path and anything but a regular file.

    Replacing a device, a folder or a pipe with a regular file (say ``-o /dev/null`` as root)
    is never what the user meant; a symbolic link is replaced, not followed.
    """
    if not os.fspath(path):
        raise SymbackpropError("the output path is empty; give a file name, e.g. -o report.html")
    target = Path(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise SymbackpropError(
            f"cannot use {str(target)!r}: it exists and is not a regular file; write to a file path"
        )
    return target


def _about(error: OSError, target: Path) -> OSError:
    """The same error, naming the file the user asked for rather than the temporary one."""
    return type(error)(error.errno, error.strerror, str(target))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write text or bytes to ``path`` atomically and return the path."""
    with atomic_path(path) as temporary:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def build_folder(target: Path, tag: str) -> Iterator[Path]:
    """Yield a new empty folder beside ``target`` (``.<name>.<tag>-XXXX``), removed on exit.

    Beside the target, not in the system's temporary folder: it is on the same file system, so
    it can be renamed into place, and the keys it may hold stay where the user put the output.
    Folders that killed runs left behind are removed first (SIGKILL runs no clean-up).
    """
    parent = target.parent if str(target.parent) else Path(".")
    prefix = f".{target.name}.{tag}-"
    for stale in parent.glob(glob.escape(prefix) + "*"):
        _remove(stale)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    # mkdtemp makes it owner-only; give it the mode a plain mkdir would (0777 - umask).
    os.chmod(folder, 0o777 & ~_umask())
    try:
        yield folder
    finally:
        _remove(folder)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def swap_in(new: Path, target: Path) -> None:
    """Put the folder ``new`` at ``target`` in one step; the old folder ends up at ``new``.

    Linux exchanges the two in one atomic rename (renameat2 RENAME_EXCHANGE), so a reader or a
    kill sees either the old folder or the new one. Elsewhere the old folder is moved aside
    first, and for a moment ``target`` is missing.
    """
    if not target.exists() and not target.is_symlink():
        os.rename(new, target)
        return
    if _exchange(new, target):
        return
    aside = new.with_name(new.name + "-old")
    os.rename(target, aside)
    os.rename(new, target)
    os.rename(aside, new)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with renameat2; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                     _RENAME_EXCHANGE)  # fmt: skip
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # no renameat2, or a file system without exchange
    raise OSError(code, os.strerror(code), str(second))


def carry_over(old: Path, new: Path, remade: set[str]) -> None:
    """Copy what this run does not remake from the old folder (links as links, never followed)."""
    if not old.is_dir():
        return
    for entry in old.iterdir():
        if entry.name in remade:
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, new / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, new / entry.name)
