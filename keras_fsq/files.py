"""Writing files without losing any: atomic replacement, no-clobber checks, run folders owned by one run.

Every file keras_fsq writes goes to a temporary file beside its target and is
renamed over it only once complete (``os.replace`` is atomic on POSIX and
Windows), so an interrupt leaves the old file or the new one, never half of
one. An existing file is replaced only when the caller says ``overwrite``, and
never when it is one of the command's inputs; without ``overwrite`` the file
is put in place by a hard link, which fails if another writer got there first.
New files get the mode the umask gives; a replaced file keeps its mode.

A command that writes several files into a folder holds the folder's lock
(``folder_lock``) for the whole run, and ``run_folder`` stages its files and
moves them in only when all are written, so a folder holds one run's files or
the previous run's, never a mixture.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

LOCK_NAME = ".keras-fsq.lock"


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
    # The stem is shortened so that the temporary name stays within the 255 bytes of a file name.
    stem = path.stem.encode()[:120].decode(errors="ignore")
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{path.suffix[:16]}", dir=path.parent)
    os.close(handle)
    try:
        os.chmod(temporary, _mode_for(path))
        yield pathlib.Path(temporary)
        os.chmod(temporary, _mode_for(path))  # the writer may have replaced the temporary file
        if overwrite:
            os.replace(temporary, path)
        else:
            check_target(path)
            try:
                os.link(temporary, path)  # fails if the name exists: no check-then-write race
            except FileExistsError:
                raise ValueError(f"{path} exists; pass --overwrite to replace it.") from None
            os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _mode_for(path):
    """The mode ``path`` has if it exists, else what the umask gives a new file."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


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


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder):
    """Hold ``folder``'s lock for the block: ``ValueError`` at once if another live run holds it.

    The lock is a file created atomically (``O_EXCL``) holding the owner's pid;
    one whose process has ended (a killed run) is taken over.
    """
    folder = pathlib.Path(folder)
    lock = folder / LOCK_NAME
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _process_alive(owner):
                raise ValueError(
                    f"{folder} is in use by another keras-fsq run (pid {owner}); wait for it or use another folder."
                )
            with contextlib.suppress(OSError):
                os.unlink(lock)
    else:
        raise ValueError(f"{folder} is in use by another keras-fsq run; wait for it or use another folder.")
    try:
        os.write(handle, str(os.getpid()).encode())
        os.close(handle)
        yield folder
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)


JOURNAL_NAME = ".keras-fsq.commit"


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM back for the block (POSIX, main thread); they arrive when it ends."""
    import signal
    import threading

    deferrable = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    held = {signal.SIGINT, signal.SIGTERM}
    if deferrable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if deferrable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _finish_commit(folder):
    """Roll forward a commit that a killed process left half done (its journal names the staging
    folder, complete, and the outputs it wrote); remove staging folders no journal names (runs that
    never reached their commit)."""
    journal = folder / JOURNAL_NAME
    if journal.is_file():
        try:
            staging_name, outputs, written = json.loads(journal.read_text())
        except (OSError, ValueError, TypeError):
            staging_name, outputs, written = None, [], []
        if staging_name:
            _move_outputs(folder / staging_name, folder, outputs, written)
        journal.unlink()
    for stale in folder.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _move_outputs(staging, folder, outputs, written):
    """Move the ``written`` outputs from ``staging`` into ``folder``; remove the previous run's other outputs.
    Idempotent: a second pass after an interruption finishes what the first began."""
    for name in outputs:
        if name in written:
            if (staging / name).exists():
                os.replace(staging / name, folder / name)
        elif (folder / name).exists():  # the previous run's, which this run did not write
            os.unlink(folder / name)


@contextlib.contextmanager
def run_folder(folder, outputs, overwrite=False):
    """Own ``folder`` for one run: yield a staging folder inside it for the run's ``outputs``.

    Checks like ``prepare_output_folder`` and holds ``folder_lock`` throughout.
    When the block succeeds every staged output is moved into ``folder``
    (replacing the previous run's, whose other outputs are removed); on any exception the staging folder is
    removed and ``folder`` keeps the previous run's files untouched.

    The commit is atomic as the folder's reader sees it: the moves run with SIGINT and SIGTERM held back,
    after a journal (``JOURNAL_NAME``: the staging folder and the files it holds) is written; a process
    killed outright (SIGKILL, power loss) mid-commit leaves the journal, and the next ``run_folder`` on
    the folder finishes that commit before anything else, so the folder ends with the new run's files.
    """
    folder = prepare_output_folder(folder, outputs, overwrite)
    with folder_lock(folder):
        _finish_commit(folder)
        prepare_output_folder(folder, outputs, overwrite)  # again, now that no other run can write
        staging = pathlib.Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            yield staging
            written = [name for name in outputs if (staging / name).exists()]
            with signals_deferred():
                write_text(folder / JOURNAL_NAME, json.dumps([staging.name, list(outputs), written]))
                _move_outputs(staging, folder, outputs, written)
                os.unlink(folder / JOURNAL_NAME)
        finally:
            if not (folder / JOURNAL_NAME).exists():
                shutil.rmtree(staging, ignore_errors=True)
