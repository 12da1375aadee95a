"""Which machines train together, read before TensorFlow starts.

A multi-worker run is the same command on every machine, told the cluster in
`TF_CONFIG` (TensorFlow's own variable), or with `--workers host1:port,host2:port
--worker-index i`, which this module turns into `TF_CONFIG`:

    memotion-tf train --config C --workers 10.0.0.1:2222,10.0.0.2:2222 --worker-index 0   # on 10.0.0.1
    memotion-tf train --config C --workers 10.0.0.1:2222,10.0.0.2:2222 --worker-index 1   # on 10.0.0.2

Every worker runs the whole program (data, training, metrics, export) so that
their collective operations line up, but only the chief keeps what it writes:
the other workers' writes under the output folder go to a private temporary
folder, removed when they exit or, after a kill, when the same command starts
again (the usual pattern for saving under `tf.distribute.MultiWorkerMirroredStrategy`). Every worker reads the output
folder itself (finished runs, backups), so a resumed run needs it on a file
system that all workers see.

Nothing here imports TensorFlow: `TF_CONFIG` must be set before TensorFlow
creates its first op.
"""

import atexit
import json
import logging
import os
import shutil
import tempfile
import zlib

from memotion_tf import io
from memotion_tf.config import ConfigError

log = logging.getLogger("memotion_tf")

TF_CONFIG = "TF_CONFIG"


def local_addresses(n):
    """`n` free "127.0.0.1:port" addresses joined by commas, for `--workers`
    on one machine (tests, the benchmark)."""
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    addresses = ",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    for s in sockets:
        s.close()
    return addresses


def tf_config(workers, index):
    """The `TF_CONFIG` value of worker `index` among `workers` ("host:port" strings).

    Example:
    >>> tf_config(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
    '{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 1}}'
    """
    workers = [w.strip() for w in workers]
    for address in workers:
        host, sep, port = address.rpartition(":")
        if not (host and sep and port.isdigit()):
            raise ConfigError(f"--workers: address {address!r} is not host:port")
    if not 0 <= index < len(workers):
        raise ConfigError(f"--worker-index {index} is not in 0..{len(workers) - 1} for {len(workers)} workers")
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def cluster_task():
    """(cluster dict, task type, task index) from `TF_CONFIG`, or None when it names no cluster."""
    raw = os.environ.get(TF_CONFIG, "")
    if not raw.strip():
        return None
    config = json.loads(raw)
    cluster = config.get("cluster") or {}
    if not cluster:
        return None
    task = config.get("task") or {}
    return cluster, task.get("type", "worker"), int(task.get("index", 0))


def is_chief(cluster, task_type, task_index):
    """MultiWorkerMirroredStrategy's rule: the `chief` task, or worker 0 when there is none."""
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_index == 0


def setup(workers=None, worker_index=0, out_dir=None):
    """Prepare this process for its part of a multi-worker run; call before TensorFlow runs.

    Args:
        workers: "host:port,host:port" (or a list): sets `TF_CONFIG` for this
            process as worker `worker_index`. None keeps `TF_CONFIG` as it is.
        worker_index: this worker's position in `workers`.
        out_dir: the output folder. On a worker other than the chief, writes
            under it go to a private temporary folder instead (`private_folder`),
            removed at exit, and at the next start of the same command if a
            kill left it behind.

    Returns the private folder on a non-chief worker, else None.
    """
    if workers:
        if isinstance(workers, str):
            workers = [w for w in workers.split(",") if w.strip()]
        os.environ[TF_CONFIG] = tf_config(workers, worker_index)
    task = cluster_task()
    if task is None or is_chief(*task) or out_dir is None:
        return None
    private = private_folder(out_dir, task[1], task[2])
    io.redirect_writes(out_dir, private)
    log.info("%s %d is not the chief: what it writes under %s goes to %s, removed at exit",
             task[1], task[2], out_dir, private)
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    return private


def add_arguments(parser):
    """`--workers` and `--worker-index`, shared by `memotion-tf train` and the pipelines."""
    parser.add_argument("--workers", metavar="HOST:PORT,...",
                        help="train on several machines with MultiWorkerMirroredStrategy: every worker's "
                             "address, the same list on each (default: TF_CONFIG when set)")
    parser.add_argument("--worker-index", type=int, default=0,
                        help="this machine's position in --workers (0 is the chief, which writes the results)")


def private_folder(out_dir, task_type, task_index):
    """A non-chief worker's folder for what it writes, empty, under the system's
    temporary folder. Its name depends on the output folder and the task only,
    so the same command started again (after a SIGKILL, which skips the removal
    at exit) empties what the killed run left there."""
    key = zlib.crc32(os.path.abspath(out_dir).encode())
    path = os.path.join(tempfile.gettempdir(), f"memotion-{os.getuid()}-{task_type}{task_index}-{key:08x}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)  # fails if it still exists: not ours to take over
    return path
