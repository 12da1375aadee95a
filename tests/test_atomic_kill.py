"""Atomic artifact writes under real SIGKILLs (issue 7, part 3b).

A subprocess (tests/kill_child.py) writes a large file, a folder of many files
or a SavedModel, and is killed with SIGKILL at random moments. After each kill
the final path must be absent (nothing finished yet) or one complete version,
the previous or the new one, never a partial or mixed one. Temporaries a killed
writer leaves are named `.tmp-<final name>-<pid>-<random>` and removed by the
next write to the same path.
"""

import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from memotion_tf import io
from memotion_tf.io import atomic_directory, atomic_write_bytes, clean_stale_temps
from tests import kill_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(mode, path, number, log):
    """Start a writer and return once it is about to write."""
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    child = subprocess.Popen([sys.executable, "-m", "tests.kill_child", mode, str(path), str(number)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    line = child.stdout.readline()
    assert line.strip() == "writing", f"writer failed to start: {line!r}"
    return child


def kill(child):
    """SIGKILL `child` (unless it has finished) and return what it printed."""
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode in (0, -signal.SIGKILL), f"writer failed ({child.returncode}); see child.log"
    return child.stdout.read()


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith((".tmp-", ".old-")))


def dead_pid():
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sigkill_while_writing_a_large_file_leaves_the_old_or_the_new_one(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "features.bin"
    log = open(tmp_path / "child.log", "w")
    start("file", path, 1, log).wait()  # version 1 completes: there is a previous version to keep
    assert path.read_bytes() == kill_child.file_content(1)
    current, killed_pids, interrupted = 1, set(), 0
    for version in range(2, 10):
        child = start("file", path, version, log)
        time.sleep(rng.uniform(0.0, 0.3))
        kill(child)
        killed_pids.add(child.pid)
        on_disk = path.read_bytes()
        if on_disk == kill_child.file_content(version):
            current = version
        else:
            assert on_disk == kill_child.file_content(current), "final path holds a partial file"
            interrupted += 1
        for name in temporaries(tmp_path):
            assert name.startswith(".tmp-features.bin-")
            assert io._owner(name, "tmp", "features.bin") in killed_pids
    assert interrupted >= 1, "no kill landed during a write; the test did not test anything"
    atomic_write_bytes(path, b"final")  # the next write removes the dead writers' leftovers
    assert path.read_bytes() == b"final" and temporaries(tmp_path) == []


def read_tree(path):
    """The single version a folder holds, or fail if it is partial or mixed."""
    names = sorted(os.listdir(path))
    assert names == [f"part_{i:03d}.txt" for i in range(kill_child.TREE_FILES)], "partial folder"
    first = open(os.path.join(path, names[0]), "rb").read()
    version = int(first.split()[1])
    for i, name in enumerate(names):
        assert open(os.path.join(path, name), "rb").read() == kill_child.tree_content(version, i), "mixed"
    return version


@pytest.mark.parametrize("mode", ["tree", "tree-two-renames"])
def test_sigkill_while_writing_a_folder_leaves_the_old_or_the_new_one(tmp_path, mode):
    rng = random.Random(1)
    path = tmp_path / "saved_model"
    log = open(tmp_path / "child.log", "w")
    start(mode, path, 1, log).wait()  # version 1 completes: there is a previous version to keep
    current, interrupted = read_tree(path), 0
    for version in range(2, 10):
        child = start(mode, path, version, log)
        time.sleep(rng.uniform(0.0, 0.35))
        kill(child)
        if path.exists():
            found = read_tree(path)
            assert found in (current, version)
            interrupted += found != version
            current = found
        else:
            # Absent only between the two renames (no RENAME_EXCHANGE), where the
            # previous version waits in an `.old-` folder for the next writer.
            olds = [n for n in temporaries(tmp_path) if n.startswith(".old-")]
            assert mode == "tree-two-renames" and olds, "final path lost"
            interrupted += 1
    assert interrupted >= 1, "no kill landed during a write; the test did not test anything"
    with atomic_directory(path) as tmp:
        open(os.path.join(tmp, "done"), "w").write("ok")
    assert os.listdir(path) == ["done"] and temporaries(tmp_path) == []


def test_sigkill_during_saved_model_export_leaves_a_loadable_model(tmp_path):
    """Real `export_classifier` runs, killed at random moments: the folder
    always loads with plain TensorFlow and its weights match its metadata."""
    import tensorflow as tf

    rng = random.Random(2)
    path = tmp_path / "saved_model"
    log = open(tmp_path / "child.log", "w")
    on_disk = None
    for round_ in range(3):
        first = 100 * round_ + 1
        child = start("export", path, first, log)
        printed = []
        if round_ == 0:  # one export finishes first, so later kills have a version to keep
            line = child.stdout.readline()
            assert line.startswith("exported"), f"the exporter failed ({line!r}); see child.log"
            printed.append(int(line.split()[1]))
        time.sleep(rng.uniform(0.2, 2.0))
        printed += [int(line.split()[1]) for line in kill(child).splitlines() if line.startswith("exported")]
        meta = json.load(open(path / "assets.extra" / "memotion_tf.json"))
        version = meta["version"]
        # The last version it reported, or the next one if the kill fell between
        # the rename and the print; or the previous child's if this one finished none.
        allowed = {printed[-1], printed[-1] + 1} if printed else {on_disk, first}
        assert version in allowed
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        out = serve(text=tf.constant(["a b"]), image=tf.constant([b""]))
        expected = math.exp(version / 100) / (math.exp(version / 100) + 2)
        assert out["probabilities"].numpy()[0, 0] == pytest.approx(expected, rel=1e-5)
        on_disk = version
    clean_stale_temps(path)
    assert temporaries(tmp_path) == []


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "results.json"
    dead, live = dead_pid(), os.getpid()
    (tmp_path / f".tmp-results.json-{dead}-abc123").write_text("half")
    (tmp_path / f".tmp-results.json-{live}-def456").write_text("being written")
    (tmp_path / f".tmp-results.json.bak-{dead}-ghi789").write_text("another file's")
    atomic_write_bytes(path, b"{}")
    assert temporaries(tmp_path) == [f".tmp-results.json-{live}-def456", f".tmp-results.json.bak-{dead}-ghi789"]


def test_a_folder_lost_between_two_renames_is_put_back(tmp_path):
    """Without RENAME_EXCHANGE a kill between `path -> .old-` and `.tmp- -> path`
    leaves no folder at `path`; the next writer restores the old one first."""
    path = tmp_path / "saved_model"
    old = tmp_path / f".old-saved_model-{dead_pid()}-xyz"
    old.mkdir()
    (old / "saved_model.pb").write_text("v1")
    assert clean_stale_temps(path) == [old.name]
    assert (path / "saved_model.pb").read_text() == "v1" and temporaries(tmp_path) == []


def test_atomic_open_streams_and_refuses_appending(tmp_path):
    path = tmp_path / "preds.csv"
    with io.atomic_open(path, "w", newline="") as f:
        f.write("id,label\n")
        assert not path.exists()  # nothing at the final path until the block ends
        f.write("1,positive\n")
    assert path.read_text() == "id,label\n1,positive\n"
    with pytest.raises(ValueError, match="new file"):
        with io.atomic_open(path, "a"):
            pass


def test_training_backup_keeps_the_last_whole_epoch_when_a_save_fails(tmp_path, monkeypatch):
    """`AtomicBackupAndRestore`: a save that dies halfway (a truncated weights
    file, then an error) leaves the previous epoch's state, and the next fit
    resumes from it."""
    import keras
    import numpy as np

    from memotion_tf.training.backup import AtomicBackupAndRestore

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    backup_dir = tmp_path / "backup"

    class StopAfter(keras.callbacks.Callback):
        def __init__(self, epoch):
            super().__init__()
            self.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            if epoch == self.epoch:
                raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[AtomicBackupAndRestore(str(backup_dir)), StopAfter(1)])
    state = backup_dir / "state"
    assert json.load(open(state / "training_metadata.json"))["epoch"] == 2
    saved = open(state / "latest.weights.h5", "rb").read()

    real_save = keras.Model.save_weights

    def dies_halfway(self, filepath, **kwargs):
        real_save(self, filepath, **kwargs)
        with open(filepath, "r+b") as f:
            f.truncate(100)
        raise OSError("disk gone mid-save")

    monkeypatch.setattr(keras.Model, "save_weights", dies_halfway)
    with pytest.raises(OSError, match="mid-save"):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[AtomicBackupAndRestore(str(backup_dir))])
    assert json.load(open(state / "training_metadata.json"))["epoch"] == 2
    assert open(state / "latest.weights.h5", "rb").read() == saved
    assert temporaries(backup_dir) == []

    monkeypatch.setattr(keras.Model, "save_weights", real_save)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[AtomicBackupAndRestore(str(backup_dir))])
    assert len(history.history["loss"]) == 2  # epochs 3 and 4: resumed after epoch 2
    assert not backup_dir.exists()


def test_atomic_file_keeps_the_name_and_the_old_file_until_the_write_ends(tmp_path):
    import keras

    path = tmp_path / "best.weights.h5"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with io.atomic_file(path) as tmp:
        assert os.path.basename(tmp) == "best.weights.h5" and not path.exists()
        model.save_weights(tmp)  # Keras checks the ".weights.h5" suffix
    first = path.read_bytes()
    with pytest.raises(RuntimeError):
        with io.atomic_file(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == first
    assert sorted(os.listdir(tmp_path)) == ["best.weights.h5"]  # no temporary left behind
    model.load_weights(path)
