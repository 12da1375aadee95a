"""Training steps/s on one replica, two logical-CPU replicas and two local workers.

The same small model (UoR's LSTM-T at 64 tokens, embedding and LSTM of 64)
trains on the same random token sequences at the same per-replica batch in
each configuration, each in fresh processes, one after another in the same
run:

1. one replica, `Model.fit` (the default strategy);
2. one replica, `training.loop.train_loop` (what multi-worker runs use), for
   the loop's own cost;
3. MirroredStrategy over 2 logical CPU devices, `Model.fit`;
4. MultiWorkerMirroredStrategy, 2 worker processes on 127.0.0.1,
   `train_loop` with each worker reading its rows (timed on the chief).

The first epoch (tracing, warm-up) is not timed; every configuration runs
twice, in alternating rounds, and its faster run counts. Ratios are
examples/s over configuration 1's. On a 2-core CPU the replicas share the same cores, so
the ratios say what the machinery costs here, not what GPUs or machines gain.

    .venv/bin/python -m memotion_tf.bench_distribute   # about 2 minutes on 2 CPU cores
"""

import argparse
import json
import os
import subprocess
import sys
import time

from memotion_tf.training import cluster

PER_REPLICA_BATCH = 32
SEQUENCE_LENGTH = 64
VOCABULARY = 2000
STEPS_PER_EPOCH = 30
EPOCHS = 3  # the first is not timed

CONFIGURATIONS = (
    ("single", "1 replica, Model.fit"),
    ("single_loop", "1 replica, train_loop"),
    ("mirrored", "2 logical-CPU replicas, MirroredStrategy, Model.fit"),
    ("workers", "2 workers on 127.0.0.1, MultiWorkerMirroredStrategy, train_loop"),
)


def _child(name, workers=None, index=0):
    """Run in a fresh process: train, then print steps/s of the timed epochs as JSON."""
    if workers:
        from memotion_tf.training import cluster

        cluster.setup(workers, index)
    import keras
    import numpy as np
    import tensorflow as tf

    from memotion_tf.models import build_model
    from memotion_tf.training import loop
    from memotion_tf.training.strategy import get_strategy

    strategy = get_strategy(logical_cpus=2 if name == "mirrored" else 0)
    replicas = strategy.num_replicas_in_sync
    global_batch = PER_REPLICA_BATCH * replicas
    rng = np.random.default_rng(0)
    rows = STEPS_PER_EPOCH * global_batch
    tokens = rng.integers(1, VOCABULARY, size=(rows, SEQUENCE_LENGTH)).astype("int32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, rows), 3).astype("float32")

    def make(rows=slice(None), batch_size=global_batch):
        ds = tf.data.Dataset.from_tensor_slices(({"token_ids": tokens[rows]}, labels[rows]))
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model("lstm_t", num_classes=3, vocabulary_size=VOCABULARY,
                            sequence_length=SEQUENCE_LENGTH, embedding_dim=64, lstm_units=64, dense_units=32)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    class EpochTimer(keras.callbacks.Callback):
        """Steps and seconds of every epoch but the first."""

        steps, seconds = 0, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.epoch_steps = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self.epoch_steps += 1

        def on_epoch_end(self, epoch, logs=None):
            if epoch > 0:
                self.seconds += time.perf_counter() - self.start
                self.steps += self.epoch_steps

    timer = EpochTimer()
    args = dict(epochs=EPOCHS, callbacks=[timer], verbose=0)
    if name == "single_loop":
        loop.train_loop(model, make(), **args)
    else:
        loop.fit(model, make(), dataset_fn=loop.per_worker(make, global_batch), shuffle=False, **args)
    print(json.dumps({"replicas": replicas, "global_batch": global_batch,
                      "steps_per_s": timer.steps / timer.seconds}))


def _run(name, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-m", "memotion_tf.bench_distribute", "--child", name]
    if name != "workers":
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env, timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])
    workers = cluster.local_addresses(2)
    processes = [subprocess.Popen(command + ["--workers", workers, "--worker-index", str(i)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for i in range(2)]
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    if any(p.returncode for p in processes):
        raise RuntimeError(f"a bench worker failed: exit codes {[p.returncode for p in processes]}")
    return json.loads(outputs[0].strip().splitlines()[-1])


def distribute_throughput(repeats=2):
    """{configuration: {"replicas", "global_batch", "steps_per_s"}}: the best of
    `repeats` rounds, each running every configuration in turn, so that all of
    them see the machine's load alike."""
    best = {}
    for _ in range(repeats):
        for name, _ in CONFIGURATIONS:
            result = _run(name)
            if name not in best or result["steps_per_s"] > best[name]["steps_per_s"]:
                best[name] = result
    return best


def report(results):
    base = results["single"]["steps_per_s"] * results["single"]["global_batch"]
    lines = []
    for name, title in CONFIGURATIONS:
        r = results[name]
        examples = r["steps_per_s"] * r["global_batch"]
        lines.append(f"  {title:<66} {r['steps_per_s']:7.1f} steps/s {examples:8.0f} examples/s "
                     f"{examples / base:5.2f}x")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=[name for name, _ in CONFIGURATIONS], help=argparse.SUPPRESS)
    parser.add_argument("--workers", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.workers, args.worker_index)
        return
    print(f"Distributed training (LSTM-T, {SEQUENCE_LENGTH} tokens, per-replica batch {PER_REPLICA_BATCH}; "
          "best of 2 alternating rounds; ratio: examples/s over 1 replica with fit):")
    for line in report(distribute_throughput()):
        print(line)
    print("  On this 2-core CPU every replica and worker shares the same cores: informative only.")


if __name__ == "__main__":
    main()
