"""The one reader of users' input files, bounded in size (model layer).

Specs, worksheet specs, rosters, CSV data, answers, notebooks and manifests are all read here:
only regular files, at most a stated number of bytes (:data:`symbackprop.model.caps.CAPS`), so
``/dev/zero``, a named pipe or a 40 MB notebook is refused at once instead of read whole. A
gzip-compressed data file (``.gz``) is held to the same limit after decompression, so a small
file that inflates to gigabytes is refused too.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from pathlib import Path
from typing import Any

from symbackprop.model.caps import CAPS, MIB
from symbackprop.model.errors import SpecError, SymbackpropError, shorten


def read_input_bytes(
    path: str | os.PathLike[str],
    what: str,
    error: type[SymbackpropError] = SymbackpropError,
    limit: int | None = None,
    shown: str | None = None,
) -> bytes:
    """Return the bytes of a regular file of at most ``limit`` bytes (default: text files').

    Messages quote ``shown`` (the path as the user wrote it), else the path.
    """
    limit = CAPS.max_text_file_bytes if limit is None else limit
    where = _tail(os.fspath(path) if shown is None else shown)
    try:
        # stat first: it neither blocks on a pipe nor reads a device.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise error(f"{what} {where!r} is not a regular file; give the path of a file")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as problem:
        reason = (problem.strerror or str(problem)).lower()
        raise error(f"cannot read {what} {where!r}: {reason}; check the path") from None
    if len(data) > limit:
        raise error(
            f"{what} {where!r} is larger than the limit of {_size(limit)}; give a smaller file"
        )
    return data


def read_input_text(
    path: str | os.PathLike[str],
    what: str,
    error: type[SymbackpropError] = SymbackpropError,
    limit: int | None = None,
    shown: str | None = None,
    gzipped: bool = False,
) -> str:
    """Return a user's UTF-8 text file (a BOM is allowed), read through :func:`read_input_bytes`.

    With ``gzipped`` a file whose name ends in ``.gz`` is decompressed, at most ``limit`` bytes.
    """
    limit = CAPS.max_text_file_bytes if limit is None else limit
    data = read_input_bytes(path, what, error, limit, shown)
    if gzipped and os.fspath(path).endswith(".gz"):
        data = _gunzip(data, what, _tail(os.fspath(path) if shown is None else shown), error, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[: problem.start].count(b"\n") + 1
        raise error(
            f"{shorten(Path(path).name)}:{line}: byte {problem.start} is not UTF-8; "
            f"save the {what} as UTF-8"
        ) from None


def _gunzip(data: bytes, what: str, where: str, error: type[SymbackpropError], limit: int) -> bytes:
    """Decompress gzip bytes, reading at most ``limit + 1`` bytes of output (a bomb stops there)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            text = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as problem:
        raise error(
            f"{what} {where!r} is not readable as gzip ({shorten(str(problem), 60)}); "
            "give a .gz made by gzip, or the plain file without .gz"
        ) from None
    if len(text) > limit:
        raise error(
            f"{what} {where!r} decompresses to more than the limit of {_size(limit)}; "
            "give a smaller file"
        )
    return text


def _tail(path: str) -> str:
    """A path for a message: one line, and its end (the file's name) when it is long."""
    flat = shorten(path, len(path) + 1)
    return flat if len(flat) <= _PATH_SHOWN else "..." + flat[-(_PATH_SHOWN - 3) :]


_PATH_SHOWN = 80


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit:,} bytes"


def require_path(value: Any, what: str, example: str = "examples/xor.toml") -> Path:
    """Return a path given as str or os.PathLike; else SpecError saying what to pass."""
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return Path(value)
    if isinstance(value, (str, os.PathLike)):
        raise SpecError(f"the {what} is empty; pass a file name such as {example!r}")
    raise SpecError(
        f"{what} {shorten(repr(value))} is not a path; pass a file name such as {example!r}"
    )
