"""Learning-rate schedules named in configs (`lr_schedule`)."""

import keras

SCHEDULES = ("constant", "warmup_cosine")


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
