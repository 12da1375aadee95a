"""Mixed precision and XLA: resolve the config settings for the devices at hand.

The runner calls, before building a model (a layer takes the global dtype
policy when it is created):

    with precision.config_policy(config):          # config.precision: "auto" | a policy name
        ... build and compile the model ...
        model.compile(..., **precision.compile_options(config, model, strategy))
        ... train ...

`precision`:
- "auto": `mixed_bfloat16` on TPUs and on GPUs of compute capability >= 8.0
  (Ampere and later run bfloat16 on their tensor cores at float16's speed, and
  bfloat16 keeps float32's range: no loss scaling); `mixed_float16` on older
  GPUs (Volta, Turing: T4, V100); `float32` on the CPU, where neither is faster.
- "off" (or "float32"): float32 everywhere.
- a Keras policy name: "mixed_float16", "mixed_bfloat16", "float32".

Under a mixed policy the variables stay float32 and layers compute in
float16/bfloat16; every model of the project keeps its output layer float32
(see `memotion_tf.models`). Loss scaling: Keras 3's `Model.compile` wraps the
optimizer in `keras.optimizers.LossScaleOptimizer` by itself when the model's
policy is `mixed_float16` (tests/test_precision.py checks it); a hand-written
training loop must do the same (`optimizer.scale_loss` and the wrapped
optimizer's `apply`).

`jit_compile`:
- "auto": on when an accelerator is visible, every layer supports XLA
  (Keras marks e.g. the cuDNN LSTM as not supporting it) and the strategy has
  one local replica. Keras' own "auto" turns XLA off under any tf.distribute
  strategy; with one replica that is needlessly cautious, with several it is
  needed: `Model.fit` compiles the whole `strategy.run`, and XLA cannot reach
  variables placed on the other replicas' devices (checked on 2 logical CPUs:
  "Trying to access resource ... located in device CPU:1 from device CPU:0").
- true / false: on or off; true where it cannot work is a ConfigError.
"""

import contextlib
import logging

import keras

from memotion_tf.config import ConfigError

log = logging.getLogger("memotion_tf")

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
OFF = ("off", "false", "none", "")
# Compute capability from which a GPU has bfloat16 tensor cores (NVIDIA Ampere).
BFLOAT16_COMPUTE_CAPABILITY = (8, 0)


def _normalise(setting):
    if setting is None or setting is False:
        return "off"
    if setting is True:
        return "true"
    return str(setting).strip().lower()


def resolve_policy(setting="auto", devices=None):
    """The Keras dtype policy name for a `precision` setting.

    Args:
        setting: "auto" (or true), "off" (or false), or a policy name (`POLICIES`).
        devices: `training.devices.accelerators()` (the default) or an
            equivalent list of {"type", "compute_capability"} dicts.
    """
    setting = _normalise(setting)
    if setting in ("true", "on"):
        setting = "auto"
    if setting in OFF or setting == "float32":
        return "float32"
    if setting in POLICIES:
        return setting
    if setting != "auto":
        raise ConfigError(f"precision must be 'auto', 'off' or one of {POLICIES}, not {setting!r}")
    if devices is None:
        from memotion_tf.training.devices import accelerators

        devices = accelerators()
    if not devices:
        return "float32"
    if any(d["type"] == "TPU" for d in devices):
        return "mixed_bfloat16"
    capabilities = [d.get("compute_capability") for d in devices if d["type"] == "GPU"]
    # Every replica computes in the same dtype: the oldest GPU decides.
    if capabilities and all(c is not None and tuple(c) >= BFLOAT16_COMPUTE_CAPABILITY for c in capabilities):
        return "mixed_bfloat16"
    return "mixed_float16"


def apply(policy):
    """Set the global dtype policy (before building models); returns the previous one's name."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown dtype policy {policy!r}; expected one of {POLICIES}")
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    if policy != previous:
        log.info("dtype policy %s", policy)
    return previous


@contextlib.contextmanager
def policy_scope(policy):
    """`apply(policy)` for the duration of a `with` block (tests, one-off builds)."""
    previous = apply(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


def config_policy(config, devices=None):
    """`policy_scope` of `config.precision` resolved for the devices at hand:
    the models built (and trained) inside take that dtype policy; the global
    policy is restored afterwards, so one row's policy never leaks into the next."""
    return policy_scope(resolve_policy(config.precision, devices))


def model_supports_jit(model):
    """Whether every layer of `model`, nested ones included, supports XLA
    (`Layer.supports_jit`, as Keras' own "auto" checks it)."""
    return all(getattr(layer, "supports_jit", True) for layer in model._flatten_layers())


def _local_replicas(strategy):
    if strategy is None:
        return 1
    try:
        # This process's replicas (a multi-worker strategy counts every worker's in num_replicas_in_sync).
        return len(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # the default strategy has no worker_devices
        return strategy.num_replicas_in_sync


def compile_options(config, model, strategy=None):
    """`Model.compile`'s `jit_compile=` and `run_eagerly=` from the config's
    `jit_compile` and `run_eagerly` (an eager step is not compiled: XLA off)."""
    if config.run_eagerly:
        return {"jit_compile": False, "run_eagerly": True}
    return {"jit_compile": resolve_jit_compile(config.jit_compile, model, strategy), "run_eagerly": False}


def resolve_jit_compile(setting="auto", model=None, strategy=None, accelerator=None):
    """The `jit_compile=` for `Model.compile` (see the module docstring).

    Args:
        setting: "auto", True/"true", False/"false".
        model: the model to compile (None: assume it supports XLA).
        strategy: the tf.distribute strategy it is compiled under.
        accelerator: whether a GPU/TPU is visible (None: ask TensorFlow).
    """
    value = _normalise(setting)
    if value in OFF:
        return False
    if value not in ("auto", "true", "on"):
        raise ConfigError(f"jit_compile must be 'auto', true or false, not {setting!r}")
    supported = model is None or model_supports_jit(model)
    replicas = _local_replicas(strategy)
    if value != "auto":
        if not supported:
            raise ConfigError(f"jit_compile = true, but {model.name} has layers without XLA support "
                              f"({sorted({type(l).__name__ for l in model._flatten_layers() if not l.supports_jit})})")
        if replicas > 1:
            raise ConfigError(f"jit_compile = true does not work with {replicas} replicas on one machine "
                              "(Model.fit compiles the whole strategy.run; XLA cannot reach the other devices' "
                              "variables); set jit_compile = 'auto' or false")
        return True
    if accelerator is None:
        from memotion_tf.training.devices import accelerator_available

        accelerator = accelerator_available()
    return bool(accelerator and supported and replicas == 1)
