"""Pick the tf.distribute strategy: MirroredStrategy over the visible GPUs (or
over N logical CPUs when asked), otherwise the default strategy."""

import logging

import tensorflow as tf

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


def get_strategy(logical_cpus=0):
    """MirroredStrategy over GPUs, or over `logical_cpus` CPU devices, else default."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
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
