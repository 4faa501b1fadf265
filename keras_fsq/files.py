"""Writing files without losing any: atomic replacement and no-clobber checks.

Every file keras_fsq writes goes to a temporary file beside its target and is
renamed over it only once complete (``os.replace`` is atomic on POSIX and
Windows), so an interrupt leaves the old file or the new one, never half of
one. An existing file is replaced only when the caller says ``overwrite``, and
never when it is one of the command's inputs.
"""

import contextlib
import os
import pathlib
import tempfile


def same_file(a, b):
    """True if paths ``a`` and ``b`` name the same existing file (links and ``..`` resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_target(path, overwrite=False, inputs=()):
    """Raise ``ValueError`` if writing ``path`` would lose a file.

    ``path`` may not be one of ``inputs`` (ever), a folder, or an existing file
    unless ``overwrite``.
    """
    path = pathlib.Path(path)
    for source in inputs:
        if same_file(path, source):
            raise ValueError(f"{path} is an input of this command; it will not be written over.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; expected a file name.")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass --overwrite to replace it.")
    return path


def check_unique(targets):
    """Raise ``ValueError`` if two inputs would be written to the same output (e.g. a.png and a.jpg -> a.fsq)."""
    seen = {}
    for source, target in targets:
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise ValueError(f"{seen[key]} and {source} would both be written to {target}; rename one of them.")
        seen[key] = source


@contextlib.contextmanager
def replacing(path, overwrite=True):
    """Yield a temporary path beside ``path`` (same suffix); when the block succeeds it replaces ``path``.

    On any exception, ``KeyboardInterrupt`` included, the temporary file is
    removed and ``path`` is left as it was. With ``overwrite=False`` an
    existing ``path`` is a ``ValueError``.
    """
    path = pathlib.Path(path)
    if not overwrite:
        check_target(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    try:
        yield pathlib.Path(temporary)
        if not overwrite:
            check_target(path)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_bytes(path, data, overwrite=True):
    """``path.write_bytes(data)``, atomically."""
    with replacing(path, overwrite) as temporary:
        temporary.write_bytes(data)


def write_text(path, text, overwrite=True):
    """``path.write_text(text)``, atomically."""
    with replacing(path, overwrite) as temporary:
        temporary.write_text(text)


def prepare_output_folder(folder, outputs=(), overwrite=False):
    """Check, before any work, that ``folder`` can take ``outputs`` (file names); create it.

    ``ValueError`` if ``folder`` is a file, holds one of ``outputs`` and
    ``overwrite`` is not set, or cannot be written to.
    """
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file, not a folder.")
    existing = [name for name in outputs if (folder / name).exists()]
    if existing and not overwrite:
        raise ValueError(
            f"--out {folder} already holds {', '.join(existing)} from an earlier run; pass --overwrite or another "
            "--out."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"--out {folder} cannot be written to: {error.strerror or error}.") from None
    return folder
