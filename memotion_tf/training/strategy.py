"""Pick the tf.distribute strategy: MultiWorkerMirroredStrategy when `TF_CONFIG`
names a cluster (see `cluster.py`), else MirroredStrategy over several visible
GPUs, OneDeviceStrategy on a single GPU (or MirroredStrategy over N logical
CPUs when asked), otherwise the default strategy.

One GPU gets OneDeviceStrategy rather than a one-replica MirroredStrategy:
Keras 3's optimizer `gradient_accumulation_steps` fails under any
MirroredStrategy (keras-team/keras#20582: its `ops.cond` holds a cross-replica
`merge_call`), and a 16 GB GPU needs it for the paper's batches that do not
fit (`training.memory.accumulation_steps`). `check_gradient_accumulation`
turns the multi-replica case into a clear error."""

import logging

import tensorflow as tf

from memotion_tf.config import ConfigError
from memotion_tf.training import cluster

log = logging.getLogger(__name__)


def split_cpu(n):
    """Split the physical CPU into `n` logical devices so MirroredStrategy can be
    exercised without GPUs. Must run before TensorFlow initialises its devices."""
    if n <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing and len(existing) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as e:
        raise RuntimeError(
            f"cannot split the CPU into {n} logical devices after TensorFlow has "
            "initialised them; set logical_cpus before any TensorFlow op runs"
        ) from e


def get_strategy(logical_cpus=0, profile=None):
    """MultiWorkerMirroredStrategy when `TF_CONFIG` names a cluster; else
    MirroredStrategy over several GPUs, OneDeviceStrategy on one, or
    MirroredStrategy over `logical_cpus` CPU devices, else default.

    It logs the devices training runs on (`devices.log_devices`: with
    `profile="paper"` and no accelerator, a warning line). Call it before any
    other TensorFlow op: a multi-worker strategy must configure TensorFlow's
    collective ops before they start."""
    from memotion_tf.training.devices import log_devices

    log_devices(profile, logger=log)
    task = cluster.cluster_task()
    if task is not None:
        # Each worker uses its local GPUs (or its CPU) as replicas.
        if logical_cpus > 1:
            log.warning("logical_cpus=%d is ignored under MultiWorkerMirroredStrategy", logical_cpus)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        # Its collective ops log an INFO line for every traced function, and
        # every checkpoint save (training.loop.WorkerBackup) one through absl.
        tf.get_logger().setLevel(logging.WARNING)
        logging.getLogger("absl").setLevel(logging.WARNING)
        log.info("strategy MultiWorkerMirroredStrategy with %d replica(s); this is %s %d of %s",
                 strategy.num_replicas_in_sync, task[1], task[2],
                 {name: len(tasks) for name, tasks in task[0].items()})
        return strategy
    # Physical, not logical: listing logical devices would initialise them
    # before split_cpu can split the CPU.
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()  # every visible GPU
    elif gpus:
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0")
    elif logical_cpus > 1:
        split_cpu(logical_cpus)
        cpus = tf.config.list_logical_devices("CPU")[:logical_cpus]
        strategy = tf.distribute.MirroredStrategy(
            [d.name for d in cpus],
            cross_device_ops=tf.distribute.ReductionToOneDevice(reduce_to_device=cpus[0].name),
        )
    else:
        strategy = tf.distribute.get_strategy()
    log.info("strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def check_gradient_accumulation(strategy, steps):
    """`steps`, or a ConfigError when Keras cannot accumulate gradients under `strategy`
    (several replicas: keras-team/keras#20582)."""
    steps = int(steps or 1)
    if steps > 1 and isinstance(strategy, (tf.distribute.MirroredStrategy,
                                            tf.distribute.MultiWorkerMirroredStrategy)):
        raise ConfigError(f"gradient accumulation ({steps} steps) does not work under {type(strategy).__name__} "
                          "in Keras 3 (keras-team/keras#20582); train on one GPU (CUDA_VISIBLE_DEVICES=0), "
                          "or lower batch_size per replica, since the replicas already multiply the batch")
    return steps


def is_multi_worker(strategy):
    """Whether `strategy` spans several processes (Keras 3's `fit` does not work there)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process keeps what it writes: always, except on a
    multi-worker strategy's workers other than the chief."""
    resolver = getattr(strategy, "cluster_resolver", None) if is_multi_worker(strategy) else None
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return cluster.is_chief(resolver.cluster_spec().as_dict(), resolver.task_type, resolver.task_id)


def single_machine(strategy, runner):
    """`strategy`, or a clear error for a runner that cannot train across workers."""
    if is_multi_worker(strategy):
        raise ConfigError(f"{runner} does not train across several workers yet (it fits NumPy arrays with "
                          "Model.fit and keeps its own state files); run it on one machine, without "
                          "--workers or TF_CONFIG")
    return strategy
