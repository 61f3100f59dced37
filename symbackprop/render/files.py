"""Files out (render stage): atomic writes (files in: :mod:`symbackprop.model.inputs`).

Output is written to a temporary file beside the target, then renamed: an interrupted or failed
run leaves no half-written file and never clobbers an existing good one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
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
