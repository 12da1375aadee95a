"""Learning-rate schedules named in configs (`lr_schedule`), and how the
learning rate follows the number of replicas (`lr_scaling`)."""

import logging

import keras

log = logging.getLogger("memotion_tf")

SCHEDULES = ("constant", "warmup_cosine")
LR_SCALINGS = ("linear", "none")


def scaled_learning_rate(base, replicas, rule="linear"):
    """The peak learning rate for `replicas` replicas.

    A config's `learning_rate` goes with its `batch_size`, which is per
    replica: with k replicas the global batch is k times larger. `linear`
    multiplies the learning rate by k too (Goyal et al., 2017, "Accurate,
    Large Minibatch SGD"; their gradual warm-up is `lr_schedule =
    "warmup_cosine"`); `none` keeps it.

    Example:
    >>> scaled_learning_rate(1e-3, 4)
    0.004
    """
    if rule not in LR_SCALINGS:
        raise ValueError(f"unknown lr_scaling {rule!r}; expected one of {LR_SCALINGS}")
    if rule == "none" or replicas == 1:
        return base
    log.info("learning rate %g x %d replicas = %g (linear scaling)", base, replicas, base * replicas)
    return base * replicas


def learning_rate(name, peak, total_steps, warmup_fraction=0.1):
    """`constant`: `peak` throughout. `warmup_cosine`: a linear warm-up from 0
    to `peak` over `warmup_fraction` of the steps (Goyal et al.'s gradual
    warm-up), then cosine annealing to 0 over the rest (CN-HIT-MI.T section 4.2)."""
    if name == "constant":
        return peak
    if name == "warmup_cosine":
        warmup = int(round(total_steps * warmup_fraction))
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=max(total_steps - warmup, 1),
            warmup_target=peak, warmup_steps=warmup,
        )
    raise ValueError(f"unknown lr_schedule {name!r}; expected one of {SCHEDULES}")
