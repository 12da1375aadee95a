"""`make bench`, training section: examples/s of our training loop against
`Model.fit` on one replica, and of 2 logical-CPU replicas and 2 local workers.

    python -m memotion_tf.benchmarks.distribute   # about 3 minutes on 2 CPU cores

The same small model (UoR's LSTM-T at 64 tokens, embedding and LSTM of 64)
trains on the same random token sequences at the same per-replica batch in
each configuration:

1. one replica, `Model.fit`, and one replica, `training.loop.train_loop` (what
   multi-worker runs use): two models built alike in one process, trained
   one epoch at a time in alternation (fit, loop, fit, loop, ...), so both see
   the same machine load; after an untimed first epoch each, the best epoch of
   each counts. Target: loop >= 0.95x fit;
2. MirroredStrategy over 2 logical CPU devices, `Model.fit`;
3. MultiWorkerMirroredStrategy, 2 worker processes on 127.0.0.1,
   `train_loop` with each worker reading its rows (timed on the chief).

2 and 3 run in fresh processes (a strategy is fixed when TensorFlow starts),
twice, alternating, and their faster run counts; epochs are timed from
`on_epoch_begin` to `on_epoch_end` (the first, tracing, untimed). Their
ratios over 1's fit are informative only: on a 2-core CPU every replica and
worker shares the same two cores.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from memotion_tf.benchmarks.common import Target
from memotion_tf.training import cluster

PER_REPLICA_BATCH = 32
SEQUENCE_LENGTH = 64
VOCABULARY = 2000
STEPS_PER_EPOCH = 40
EPOCHS = 3  # fresh-process configurations; the first is not timed
SINGLE_ROUNDS = 6  # timed alternating epochs of fit and of the loop, after one untimed each

CONFIGURATIONS = (
    ("fit", "1 replica, Model.fit"),
    ("loop", "1 replica, train_loop"),
    ("mirrored", "2 logical-CPU replicas, MirroredStrategy, Model.fit"),
    ("workers", "2 workers on 127.0.0.1, MultiWorkerMirroredStrategy, train_loop"),
)


def _data(global_batch):
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = STEPS_PER_EPOCH * global_batch
    tokens = rng.integers(1, VOCABULARY, size=(rows, SEQUENCE_LENGTH)).astype("int32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, rows), 3).astype("float32")

    def make(rows=slice(None), batch_size=global_batch):
        ds = tf.data.Dataset.from_tensor_slices(({"token_ids": tokens[rows]}, labels[rows]))
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return make


def _model(strategy):
    import keras

    from memotion_tf.models import build_model

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model("lstm_t", num_classes=3, vocabulary_size=VOCABULARY,
                            sequence_length=SEQUENCE_LENGTH, embedding_dim=64, lstm_units=64, dense_units=32)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def _epoch_timer(best_only):
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Seconds of each timed epoch; `skip` epochs are not timed."""

        def __init__(self, skip=0):
            super().__init__()
            self.skip, self.seconds, self.steps = skip, [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.epoch_steps = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self.epoch_steps += 1

        def on_epoch_end(self, epoch, logs=None):
            if self.skip:
                self.skip -= 1
                return
            self.seconds.append(time.perf_counter() - self.start)
            self.steps.append(self.epoch_steps)

        def steps_per_s(self):
            if best_only:
                return max(s / t for s, t in zip(self.steps, self.seconds))
            return sum(self.steps) / sum(self.seconds)

    return EpochTimer


def _single_child():
    """Fit and the loop on one replica, alternating epochs in this process."""
    import tensorflow as tf

    from memotion_tf.training import loop

    strategy = tf.distribute.get_strategy()
    make = _data(PER_REPLICA_BATCH)
    Timer = _epoch_timer(best_only=True)
    models = {"fit": _model(strategy), "loop": _model(strategy)}
    timers = {"fit": Timer(skip=1), "loop": Timer(skip=1)}
    train = {"fit": lambda m, ds, **kw: m.fit(ds, **kw), "loop": loop.train_loop}
    for _ in range(SINGLE_ROUNDS + 1):
        for name in ("fit", "loop"):
            train[name](models[name], make(), epochs=1, callbacks=[timers[name]], verbose=0, shuffle=False)
    return {name: {"replicas": 1, "global_batch": PER_REPLICA_BATCH, "steps_per_s": timer.steps_per_s()}
            for name, timer in timers.items()}


def _child(name, workers=None, index=0):
    """Run in a fresh process: train, then print the steps/s as JSON."""
    if workers:
        cluster.setup(workers, index)
    if name == "single":
        print(json.dumps(_single_child()))
        return
    from memotion_tf.training import loop
    from memotion_tf.training.strategy import get_strategy

    strategy = get_strategy(logical_cpus=2 if name == "mirrored" else 0)
    global_batch = PER_REPLICA_BATCH * strategy.num_replicas_in_sync
    make = _data(global_batch)
    model = _model(strategy)
    timer = _epoch_timer(best_only=False)(skip=1)
    loop.fit(model, make(), dataset_fn=loop.per_worker(make, global_batch), shuffle=False, epochs=EPOCHS,
             callbacks=[timer], verbose=0)
    print(json.dumps({name: {"replicas": strategy.num_replicas_in_sync, "global_batch": global_batch,
                             "steps_per_s": timer.steps_per_s()}}))


def _run(name, timeout=900):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-m", "memotion_tf.benchmarks.distribute", "--child", name]
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
    """{configuration: {"replicas", "global_batch", "steps_per_s"}}: fit and the
    loop from one process (alternating epochs); the others the best of
    `repeats` rounds, each running every configuration in turn."""
    best = {}
    for _ in range(repeats):
        for child in ("single", "mirrored", "workers"):
            for name, result in _run(child).items():
                if name not in best or result["steps_per_s"] > best[name]["steps_per_s"]:
                    best[name] = result
    return best


def _examples_per_s(result):
    return result["steps_per_s"] * result["global_batch"]


def report(results):
    base = _examples_per_s(results["fit"])
    lines = []
    for name, title in CONFIGURATIONS:
        r = results[name]
        examples = _examples_per_s(r)
        lines.append(f"  {title:<66} {r['steps_per_s']:7.1f} steps/s {examples:8.0f} examples/s "
                     f"{examples / base:5.2f}x")
    return lines


def target(results):
    return Target("training loop / Model.fit, 1 replica (examples/s)",
                  _examples_per_s(results["loop"]) / _examples_per_s(results["fit"]), 0.95)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=("single", "mirrored", "workers"), help=argparse.SUPPRESS)
    parser.add_argument("--workers", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.workers, args.worker_index)
        return None
    print(f"Training (LSTM-T, {SEQUENCE_LENGTH} tokens, per-replica batch {PER_REPLICA_BATCH}, "
          f"{STEPS_PER_EPOCH} steps an epoch; fit and loop: best of {SINGLE_ROUNDS} alternating epochs in one "
          "process; the others: best of 2 alternating runs; x = examples/s over 1 replica with fit):")
    results = distribute_throughput()
    for line in report(results):
        print(line)
    print("  On this 2-core CPU every replica and worker shares the same cores: rows 3-4 are informative only.")
    found = target(results)
    print("  " + found.line())
    return [found]


if __name__ == "__main__":
    main()
