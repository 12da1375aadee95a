"""Atomic writes: a kill at any moment leaves either the old file or the new one.

Every artifact (results, plots, SavedModels, synthetic data sets, training
backups) is written to a temporary sibling path first and renamed into place
with `os.replace`, which is atomic on POSIX file systems when both paths are on
the same file system. A folder that already exists is swapped with the new one
in a single `renameat2(RENAME_EXCHANGE)` call on Linux, so the final path always
holds a complete tree; elsewhere it takes two renames, and a kill between them
leaves the path missing until the next write to it puts the old tree back.

Temporary names say what they are: `.tmp-<name>-<pid>-<random>` (and
`.old-<name>-<pid>-<random>` for a folder being swapped out), beside the final
path. A writer killed with SIGKILL cannot remove its temporary; the next atomic
write to the same path removes every leftover whose process no longer runs
(`clean_stale_temps`). Data is fsynced before the rename, so the renamed file
is complete after a power cut too.

A non-chief worker of a multi-worker run sends its writes elsewhere
(`redirect_writes`); processes that start together create shared data once
(`create_once`).
"""

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import tempfile

TEMP_KINDS = ("tmp", "old")

# (folder, replacement): writes under a folder go to the same relative path
# under its replacement (a multi-worker run's non-chief workers; see training/cluster.py).
_redirects = []


def redirect_writes(folder, replacement):
    """From now on, write what is meant for a path under `folder` under `replacement` instead."""
    _redirects.append((os.path.abspath(folder), os.path.abspath(replacement)))


def write_path(path):
    """Where a write meant for `path` goes: `path` itself unless `redirect_writes` says otherwise."""
    path = os.fspath(path)
    for folder, replacement in _redirects:
        absolute = os.path.abspath(path)
        if absolute == folder or absolute.startswith(folder + os.sep):
            return os.path.join(replacement, os.path.relpath(absolute, folder))
    return path


def _prefix(kind, path):
    return f".{kind}-{os.path.basename(path)}-{os.getpid()}-"


def _owner(name, kind, base):
    """The writer's pid in a temporary name `.<kind>-<base>-<pid>-<random>`, else None.

    `tempfile`'s random part has no "-", so the last two fields are the pid
    and the random part even when `base` itself contains "-"."""
    lead = f".{kind}-"
    if not name.startswith(lead):
        return None
    fields = name[len(lead):].rsplit("-", 2)
    if len(fields) != 3 or fields[0] != base or not fields[1].isdigit():
        return None
    return int(fields[1])


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def clean_stale_temps(path):
    """Remove the temporaries of `path` left by writers that no longer run.

    If a folder swap was killed between its two renames (systems without
    RENAME_EXCHANGE), `path` is missing and its previous version sits in an
    `.old-` folder: that folder is moved back first. Temporaries of live
    processes are left alone. Returns the names removed or restored."""
    path = os.path.abspath(write_path(path))
    parent, base = os.path.split(path)
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return []
    stale = {kind: [n for n in names if (pid := _owner(n, kind, base)) is not None and not _running(pid)]
             for kind in TEMP_KINDS}
    done = []
    if stale["old"] and not os.path.lexists(path):
        os.replace(os.path.join(parent, stale["old"][0]), path)
        done.append(stale["old"].pop(0))
    for name in stale["tmp"] + stale["old"]:
        _remove(os.path.join(parent, name))
        done.append(name)
    return done


def _fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot fsync a folder
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _fsync_tree(root):
    for folder, _, files in os.walk(root):
        for name in files:
            _fsync_path(os.path.join(folder, name))
        _fsync_path(folder, directory=True)


@contextlib.contextmanager
def atomic_open(path, mode="wb", **kwargs):
    """Yield a file object on a temporary sibling of `path`; when the block
    ends without an exception, the file is fsynced and renamed to `path`.

    For artifacts written in pieces (chunks, `DataFrame.to_csv(f)`): until the
    rename, `path` keeps its previous content or stays absent.

    Example:
    >>> with atomic_open("preds.csv", "w", newline="") as f:
    ...     frame.to_csv(f, index=False)
    """
    if not any(c in mode for c in "wx") or "+" in mode:
        raise ValueError(f"atomic_open writes a new file; mode {mode!r} is not 'w' or 'wb'")
    path = os.path.abspath(write_path(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix("tmp", path), dir=folder)
    try:
        with os.fdopen(fd, mode.replace("x", "w"), **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_path(folder, directory=True)


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path with the same file name as `path` (in a
    temporary sibling folder), for writers that take a path and check its
    suffix, such as `model.save_weights("x.weights.h5")`. When the block ends
    without an exception, the file is fsynced and renamed to `path`.

    Example:
    >>> with atomic_file("runs/x/best.weights.h5") as tmp:
    ...     model.save_weights(tmp)
    """
    path = os.path.abspath(write_path(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    clean_stale_temps(path)
    tmp_dir = tempfile.mkdtemp(prefix=_prefix("tmp", path), dir=folder)
    tmp = os.path.join(tmp_dir, os.path.basename(path))
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    _fsync_path(folder, directory=True)


def atomic_write_bytes(path, data):
    """Write `data` to `path` through a temporary file in the same folder."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a, b):
    """Swap two existing paths in one step (Linux `renameat2` with
    RENAME_EXCHANGE). False where the C library or file system lacks it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), a, None, b)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary folder; on success it replaces `path` as a whole.

    An existing folder at `path` is exchanged with the new one in one step
    where the system allows it (see the module docstring), else moved aside
    first and removed only after the new one is in place.
    """
    path = os.path.abspath(write_path(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    clean_stale_temps(path)
    tmp = tempfile.mkdtemp(prefix=_prefix("tmp", path), dir=parent)
    try:
        yield tmp
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.lexists(path) and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the previous version
    else:
        old = None
        if os.path.lexists(path):
            old = tempfile.mkdtemp(prefix=_prefix("old", path), dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old:
            _remove(old)
    _fsync_path(parent, directory=True)


def create_once(path, create):
    """Call `create(path)` unless `path` exists, under a lock: processes that start
    together (the workers of a multi-worker run, two runs sharing `data/`) create
    it once, and the others wait until it is there. `create` should write `path`
    atomically (`atomic_directory`). The lock file `path + ".lock"` stays."""
    path = os.fspath(path)
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(path):
                create(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
