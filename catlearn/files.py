"""Writing the files catlearn makes (checkpoints, plots, drawings, formatted
models, predictions): atomically, with the mode ``open()`` would give."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .core.errors import FileError


def write_atomically(path: Path, data: bytes | str, keep_mode: bool = False) -> None:
    """Replace `path` by `data` so that a crash leaves either file whole.  The file
    gets the mode open() would give a new one (0o666 less the umask), or with
    `keep_mode` the mode of the file it replaces; one that cannot be written is a
    FileError."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                   suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0o077)
            os.umask(umask)
            os.fchmod(f.fileno(), path.stat().st_mode & 0o7777 if keep_mode and path.exists() else 0o666 & ~umask)
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise FileError(path, "cannot write the file", found=e.strerror or str(e),
                            hint="give a path in a folder you can write to") from None
        raise
