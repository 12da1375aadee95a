"""Where a result came from: code, libraries, devices, data, time.

`collect` gives the `provenance` block of results.json: the package version,
the git commit when the package runs from a checkout, the TensorFlow / Keras /
keras-hub versions, the devices, the profile, the data folder with a
fingerprint of its content and whether it is synthetic (known from the data
itself), the start and end time, and the wall time of each row.
"""

import datetime
import hashlib
import os
import subprocess

# Files hashed whole for the fingerprint (label and text files); others
# (images) count by name and size, which is cheap for thousands of them.
_HASHED_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl")
_HASHED_MAX_BYTES = 64 * 2**20


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def git_commit():
    """The checkout's commit (with `+dirty` when files changed), or None when
    the package does not run from a git checkout."""
    package = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "-C", package, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", package, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def versions():
    import keras
    import keras_hub
    import tensorflow as tf

    from memotion_tf import __version__

    return {"memotion_tf": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "keras_hub": keras_hub.__version__}


def devices():
    """The logical devices TensorFlow trains on, e.g. ["CPU:0", "GPU:0 (NVIDIA T4)"]."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_logical_devices():
        kind, index = device.device_type, device.name.rsplit(":", 1)[-1]
        label = f"{kind}:{index}"
        if kind == "GPU":
            physical = tf.config.list_physical_devices("GPU")
            if physical:
                details = tf.config.experimental.get_device_details(physical[min(int(index), len(physical) - 1)])
                if details.get("device_name"):
                    label += f" ({details['device_name']})"
        names.append(label)
    return names


def has_accelerator():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def fingerprint(data_dir):
    """sha256 over the data's files: label and text files by content, other
    files (images) by relative path and size. Hidden files (markers, caches) are left out."""
    digest = hashlib.sha256()
    if os.path.isfile(data_dir):
        with open(data_dir, "rb") as f:
            digest.update(f.read())
        return digest.hexdigest()[:16]
    for folder, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(f for f in files if not f.startswith(".")):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, data_dir)
            size = os.path.getsize(path)
            digest.update(f"{relative}\0{size}\0".encode())
            if name.lower().endswith(_HASHED_SUFFIXES) and size <= _HASHED_MAX_BYTES:
                with open(path, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()[:16]


def collect(profile, data_dir, synthetic, devices, started, rows):
    return {
        **versions(),
        "git_commit": git_commit(),
        "devices": devices,
        "profile": profile,
        "data_dir": os.path.abspath(data_dir),
        "data_fingerprint": fingerprint(data_dir),
        "synthetic": synthetic,
        "started": started,
        "finished": now(),
        "wall_time_s": {row["system"] + (f" @ {row['ratio']}" if "ratio" in row else ""): row.get("wall_time_s")
                        for row in rows},
    }
