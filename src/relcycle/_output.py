"""Writing outputs without destroying anything.

The rules (``docs/reliability.md``, "Outputs"):

* A **regular file** (or a path where nothing is yet) is written to a temporary
  file in the same folder, flushed to disk, then renamed over the path: a failed
  run leaves the old file (or nothing) and no temporary file.
* A **symbolic link** is followed: the file it names is replaced as above and the
  link stays a link (a rename over the link itself would turn it into a copy).
* A **device, FIFO or socket** (``/dev/null``, ``/dev/stdout``, a named pipe) is
  written in place, as a shell redirection would; a rename would replace the
  device with a regular file. What was written before a failure stays written.
* A **folder** is a usage error; any write failure (a full disk, no permission) is
  an :class:`~relcycle.errors.OutputError` naming the path.

:func:`check_outputs` refuses, before anything is read, an output path that
resolves to an input file or to another output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from relcycle.errors import OutputError, UsageError

__all__ = ["atomic_write", "check_outputs"]


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def atomic_write(
    path: str | os.PathLike[str], text: str | Iterable[str], *, errors: str = "strict"
) -> None:
    """Write ``text`` (UTF-8; a string or chunks of one) to ``path`` without harm.

    See the module's rules: a regular file is replaced atomically, a symbolic
    link is written through, a device or FIFO is written in place.

    Args:
        path: The output path.
        text: The text, or an iterable of chunks (consumed once).
        errors: The encoder's error handler (``"backslashreplace"`` for a
            diagnostic file that may quote undecodable input).

    Raises:
        UsageError: ``path`` is a folder, or its folder does not exist.
        OutputError: Writing failed (no permission, a full disk, ...).
    """
    shown = os.fspath(path)
    target = Path(os.path.realpath(path))  # through symbolic links, to the file they name
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(path=shown, reason=_reason(exc)) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"{shown}: is a folder; give a file path for the output")
    if mode is not None and not stat.S_ISREG(mode):
        _write_in_place(target, shown, text, errors)
        return
    if not target.parent.is_dir():
        raise UsageError(f"{shown}: the folder {str(target.parent)!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(path=shown, reason=_reason(exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="") as fh:
            _write_all(fh.write, text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give the output the permissions any
        # new file gets (or those of the file it replaces), as a plain open() would.
        os.chmod(tmp, _mode_for(mode))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(path=shown, reason=_reason(exc)) from None
        raise


def _write_all(write: Callable[[str], object], text: str | Iterable[str]) -> None:
    if isinstance(text, str):
        write(text)
    else:
        for chunk in text:
            write(chunk)


def _write_in_place(target: Path, shown: str, text: str | Iterable[str], errors: str) -> None:
    try:
        with target.open("w", encoding="utf-8", errors=errors, newline="") as fh:
            _write_all(fh.write, text)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(path=shown, reason=_reason(exc)) from None


def _mode_for(existing: int | None) -> int:
    """The permission bits a file replacing one of mode ``existing`` should get."""
    if existing is not None:
        return stat.S_IMODE(existing)
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _inputs(source: Path) -> list[Path]:
    """Every file a report or an ingest of ``source`` reads (or SQLite keeps beside it)."""
    if source.is_dir():
        with contextlib.suppress(OSError):
            return [p for p in source.iterdir() if p.is_file()]
        return []
    return [source, *(source.with_name(source.name + s) for s in ("-wal", "-shm", "-journal"))]


def check_outputs(source: str | os.PathLike[str], outputs: Mapping[str, str | None]) -> None:
    """Refuse outputs that would overwrite an input or each other, before reading.

    Args:
        source: The source (a folder of tables or a store file).
        outputs: Output paths by the option that names them (``{"--output": path}``);
            None and ``"-"`` (stdout) are skipped.

    Raises:
        UsageError: An output resolves to a file of the source (the same path,
            a symbolic link to it or a hard link), two outputs resolve to the same
            file, an output is a folder, or an output's folder does not exist.
    """
    inputs = _inputs(Path(source))
    input_paths = {os.path.realpath(p) for p in inputs}
    input_ids = {i for i in map(_identity, inputs) if i is not None}
    seen: dict[object, str] = {}
    for option, path in outputs.items():
        if path is None or path == "-":
            continue
        real = os.path.realpath(path)
        target = Path(real)
        if target.is_dir():
            raise UsageError(f"{option} {path!r}: is a folder; give a file path")
        if not target.parent.is_dir():
            raise UsageError(f"{option} {path!r}: the folder {str(target.parent)!r} does not exist")
        if real in input_paths or (_identity(target) or (-1, -1)) in input_ids:
            raise UsageError(
                f"{option} {path!r}: is a file of the source {os.fspath(source)!r}; "
                "writing there would destroy the input"
            )
        key: object = _identity(target) or real
        if key in seen and not _is_device(target):
            raise UsageError(f"{option} {path!r} and {seen[key]} name the same file")
        seen[key] = option


def _is_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False
