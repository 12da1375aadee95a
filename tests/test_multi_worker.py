"""Real `memotion-tf train` processes: two workers on 127.0.0.1 training one model,
and runs killed with SIGKILL that resume from their backups.

Each test starts fresh Python processes (a multi-worker strategy must be made
before TensorFlow starts, and this test process has started it).
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from memotion_tf.training import cluster
from tests import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "batch_size=8", "--set", "max_length=16", "--set", "model_args.embedding_dim=8",
        "--set", "model_args.lstm_units=8", "--set", "seeds=1"]
TIMEOUT = 240


def _train(out, log_path, epochs, *extra):
    """Start `memotion-tf train` on the LSTM-T row of UoR; output goes to `log_path`."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # Temporary folders (a non-chief worker's writes) go under the test's folder.
    env.update(PYTHONPATH=ROOT, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=_tmp(out))
    command = [sys.executable, "-m", "memotion_tf.cli", "train", "--config", "configs/uor/lstm_t.toml",
               "--data-dir", fixtures.memotion_dir(), "--out", str(out), "--set", f"epochs={epochs}",
               *TINY, *extra]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)


def _epochs_trained(log_path, epochs):
    """The epochs (1-based) a run's log shows it trained ("Epoch k/N" lines)."""
    with open(log_path) as f:
        return [int(k) for k in re.findall(rf"^Epoch (\d+)/{epochs}\b", f.read(), re.M)]


def _tmp(out):
    path = os.path.join(os.path.dirname(out), "tmp")
    os.makedirs(path, exist_ok=True)
    return path


def _ours(folder):
    """What the project left in a temporary folder (TensorFlow leaves its own files)."""
    return [name for name in os.listdir(folder) if name.startswith("memotion-")]


def _finish(processes, logs):
    """Wait for every process; kill them all and show their output if one fails or hangs."""
    deadline = time.monotonic() + TIMEOUT
    try:
        codes = [p.wait(timeout=max(deadline - time.monotonic(), 1)) for p in processes]
    except subprocess.TimeoutExpired:
        codes = None
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    if codes is None or any(codes):
        tails = "\n".join(f"--- {path}\n" + open(path).read()[-3000:] for path in logs)
        raise AssertionError(f"exit codes {codes}:\n{tails}")


def _kill_when(path, processes, logs):
    """SIGKILL the processes a moment after `path` appears: during the next epoch."""
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            _finish(processes, logs)
            raise AssertionError(f"{path} never appeared before the run ended")
        time.sleep(0.02)
    time.sleep(0.2)
    for p in processes:
        p.send_signal(signal.SIGKILL)
    for p in processes:
        p.wait()


def _saved_models(folder):
    return glob.glob(os.path.join(folder, "**", "saved_model.pb"), recursive=True)


def _predicts(saved_model, meme_count=3):
    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    out = serve(text=tf.constant(["when you finally win"] * meme_count), image=tf.constant([b""] * meme_count))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (meme_count, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def _record(out):
    return json.load(open(os.path.join(out, "LSTM-T", "runs", "seed_0.json")))


def test_two_workers_train_one_model_and_only_the_chief_writes(tmp_path):
    out, logs = tmp_path / "out", [str(tmp_path / f"worker{i}.log") for i in range(2)]
    workers = cluster.local_addresses(2)
    # 381 training memes: worker 0 reads 191, worker 1 190, in batches of 10, so worker 0
    # has a 20th batch of 1 meme and worker 1 none (it gets an empty batch at step 20).
    uneven = ["--set", "val_fraction=0.199", "--set", "batch_size=10"]
    processes = [_train(out, logs[i], 2, *uneven, "--workers", workers, "--worker-index", str(i))
                 for i in range(2)]
    _finish(processes, logs)
    text = [open(path).read() for path in logs]
    for worker_log in text:
        assert "MultiWorkerMirroredStrategy with 2 replica(s)" in worker_log
        assert "learning rate 0.001 x 2 replicas = 0.002" in worker_log
    # The progress bar is the chief's alone: 20 global steps of 20 memes per epoch.
    assert text[0].count("20/20") == 2 and "20/20" not in text[1]
    # One model: both workers end with the same weights, so the same validation metrics.
    metrics = [re.search(r"LSTM-T seed 0: (.*)", t).group(1) for t in text]
    assert metrics[0] == metrics[1]
    # Only the chief's writes are kept; the other worker's private folder is gone.
    private = re.search(r"goes to (\S+), removed at exit", text[1]).group(1)
    assert private.startswith(_tmp(out)) and not os.path.exists(private)
    assert _ours(_tmp(out)) == []
    assert "is not the chief" not in text[0]
    assert [os.path.relpath(p, out) for p in _saved_models(str(out))] == ["LSTM-T/saved_model/saved_model.pb"]
    results = json.load(open(out / "results.json"))
    assert [row["system"] for row in results["rows"]] == ["LSTM-T"]
    history = _record(out)["history"]
    # The paper's metric is logged beside Keras' (TensorBoard and the curves show it per epoch).
    assert sorted(history) == ["accuracy", "loss", "macro_f1", "val_accuracy", "val_loss", "val_macro_f1"]
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    _predicts(str(out / "LSTM-T" / "saved_model"))


def test_a_killed_run_resumes_from_its_last_backup(tmp_path):
    """One machine (Model.fit with training.backup.AtomicBackupAndRestore): SIGKILL
    after the first epoch's backup, then the same command again."""
    epochs, out, log = 5, tmp_path / "out", str(tmp_path / "run.log")
    # The runner's per-seed folder; the model's Keras backup is under model/backup.
    backup = out / "LSTM-T" / "backup" / "seed_0"
    metadata = backup / "model" / "backup" / "state" / "training_metadata.json"
    first = _train(out, log, epochs)
    _kill_when(str(metadata), [first], [log])
    resume_at = json.load(open(metadata))["epoch"]
    assert 1 <= resume_at < epochs, resume_at
    assert not os.path.exists(out / "LSTM-T" / "saved_model")

    _finish([_train(out, log, epochs)], [log])
    assert f"at epoch {resume_at + 1}" in open(log).read()
    # Epochs before the backup are not trained again; the record's history spans the whole run.
    assert _epochs_trained(log, epochs) == list(range(resume_at + 1, epochs + 1))
    assert len(_record(out)["history"]["loss"]) == epochs
    assert not os.path.exists(backup)
    _predicts(str(out / "LSTM-T" / "saved_model"))


def test_killed_workers_resume_together_from_the_chiefs_backup(tmp_path):
    """Two workers (the custom loop, WorkerBackup): SIGKILL both after the first
    backup, start both again with the same command."""
    epochs, out = 5, tmp_path / "out"
    killed, logs = ([str(tmp_path / f"{run}{i}.log") for i in range(2)] for run in ("killed", "worker"))
    backup = out / "LSTM-T" / "backup" / "seed_0"

    def start(workers, logs):
        return [_train(out, logs[i], epochs, "--workers", workers, "--worker-index", str(i)) for i in range(2)]

    _kill_when(str(backup / "model" / "backup" / "checkpoint"), start(cluster.local_addresses(2), killed), killed)
    assert not os.path.exists(out / "LSTM-T" / "saved_model")
    left = re.search(r"goes to (\S+), removed at exit", open(killed[1]).read()).group(1)
    assert os.path.exists(left)  # SIGKILL skips the removal at exit...
    _finish(start(cluster.local_addresses(2), logs), logs)
    assert _ours(_tmp(out)) == []  # ...and the same command started again removes it
    resumed = [re.search(r"resuming from the backup in \S+ at epoch (\d+)", open(p).read()) for p in logs]
    assert all(resumed), "both workers resume"
    resume_at = int(resumed[0].group(1)) - 1
    assert resume_at == int(resumed[1].group(1)) - 1 and 1 <= resume_at < epochs
    # The chief prints the epochs (the other worker trains them silently).
    assert _epochs_trained(logs[0], epochs) == list(range(resume_at + 1, epochs + 1))
    assert len(_record(out)["history"]["loss"]) == epochs
    assert not os.path.exists(backup)
    assert len(_saved_models(str(out))) == 1
    _predicts(str(out / "LSTM-T" / "saved_model"))
