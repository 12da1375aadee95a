"""Estimate a model's accelerator memory for one training step, before a run of hours.

    estimate = memory.estimate_memory(model, batch_size=32, sequence_length=200)
    memory.fits(estimate, 16 * memory.GiB)                # False: BERT+TSA+KL in float32, 18.3 GiB
    memory.accumulation_steps(estimate, 16 * memory.GiB)  # 2: two micro-batches of 16

The estimate is the sum of
- weights: every variable at its dtype (float32 under a mixed policy too);
- gradients: one float32 tensor per trainable weight;
- optimizer state: Adam/AdamW's two moments (SGD: none, with momentum one),
  and with `gradient_accumulation_steps > 1` Keras' accumulator per trainable
  weight;
- activations: the peak, over a simulated execution of one training step,
  of the bytes of the tensors alive at once. The step (forward pass in
  training mode, a loss, the gradient of every trainable weight) is traced
  into a TensorFlow graph with the weights as placeholders, so nothing is
  allocated or computed, and the simulation walks its ops in the order they
  were created (forward, then backward): a tensor lives from the op that
  makes it to its last reader; views (Reshape, Identity, ExpandDims,
  Squeeze, ...) share their input's buffer; the input batch counts, the
  weights and the returned gradients are counted above, not here. The
  tensor shapes and dtypes are the graph's own, so a mixed policy's float16
  activations (and float16 copies of the weights) and float32 outputs are
  what they are, and frozen parts keep nothing for the backward pass.

It is an estimate, not a measurement: TensorFlow's executor may run ops in
another order, grappler and XLA fuse element-wise ops (fewer, smaller
intermediates), cuDNN/cuBLAS workspaces and the CUDA context (~0.3-0.5 GB) are
not counted, and the allocator fragments. A recurrent layer traced as a
`tf.while_loop` keeps its per-step tensors in TensorLists whose size the graph
does not state: they are not counted (tens of MB for the papers' LSTMs; on a
GPU Keras runs them as one cuDNN op anyway). `fits` therefore keeps a margin
(`USABLE_FRACTION` of the device).
"""

import dataclasses
import logging

import numpy as np
import tensorflow as tf

log = logging.getLogger("memotion_tf")

GiB = 1024 ** 3
# Of a device's memory, the share the estimate may fill: headroom for the CUDA
# context, library workspaces and allocator fragmentation.
USABLE_FRACTION = 0.85
# Optimizer state tensors per trainable weight.
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "lamb": 2, "nadam": 2, "adamax": 2, "lion": 1, "adagrad": 1,
                   "rmsprop": 1, "sgd": 0, "sgd_momentum": 1}
# Ops whose output is a view of (or the same buffer as) their first input.
VIEW_OPS = {"Reshape", "Identity", "IdentityN", "ExpandDims", "Squeeze", "StopGradient", "Snapshot",
            "PreventGradient", "EnsureShape", "CheckNumerics"}
# Op types that allocate nothing worth counting (graph plumbing).
IGNORED_OPS = {"Placeholder", "Const", "NoOp", "Shape", "ShapeN", "Size", "Rank", "VarHandleOp",
               "ReadVariableOp", "BroadcastGradientArgs"}


@dataclasses.dataclass
class MemoryEstimate:
    """Bytes of one training step (see the module docstring). `batch_size` is
    the per-replica batch the activations were traced at."""

    batch_size: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    params: int
    trainable_params: int
    policy: str
    accumulators: int = 0

    @property
    def total(self):
        return self.weights + self.gradients + self.optimizer + self.accumulators + self.activations

    def at_batch(self, batch_size, gradient_accumulation_steps=None):
        """The estimate at another batch: activations scale linearly with the
        batch (every activation has a batch dimension), the rest does not;
        `gradient_accumulation_steps` > 1 adds Keras' accumulators."""
        scaled = dataclasses.replace(self, batch_size=int(batch_size),
                                     activations=int(round(self.activations * batch_size / self.batch_size)))
        if gradient_accumulation_steps is not None:
            scaled.accumulators = self.gradients if gradient_accumulation_steps > 1 else 0
        return scaled

    def summary(self):
        """One line, in GiB."""
        parts = (f"weights {self.weights / GiB:.2f} + gradients {self.gradients / GiB:.2f} + "
                 f"optimizer {(self.optimizer + self.accumulators) / GiB:.2f} + activations "
                 f"{self.activations / GiB:.2f}")
        return (f"{self.total / GiB:.2f} GiB at batch {self.batch_size} ({self.policy}): {parts}; "
                f"{self.params:,} parameters ({self.trainable_params:,} trainable)")


def abstract_build():
    """A context in which models are built without allocating their weights:
    each variable keeps its shape, dtype and initializer but no value
    (`keras.StatelessScope(initialize_variables=False)`). Such a model gives
    `count_params()` and `estimate_memory` of a full-size architecture in
    seconds; calling it outside `estimate_memory` is an error.

        with memory.abstract_build():
            model = BertClassifier(paper_architecture("bert_base_en_uncased"), num_classes=3)
    """
    import keras

    return keras.StatelessScope(initialize_variables=False)


def _input_specs(model, batch_size, sequence_length, input_shapes):
    """TensorSpecs of the model's inputs with the batch (and any other unknown
    dimension: `sequence_length`) filled in."""
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else [model.inputs]
    specs = {}
    for tensor in inputs:
        name = tensor.name
        if input_shapes and name in input_shapes:
            shape = [batch_size, *input_shapes[name]]
        else:
            shape = list(tensor.shape)
            shape[0] = batch_size
            for i in range(1, len(shape)):
                if shape[i] is None:
                    if sequence_length is None:
                        raise ValueError(f"input {name!r} of {model.name} has an unknown dimension "
                                         f"{tuple(tensor.shape)}: pass sequence_length or input_shapes")
                    shape[i] = sequence_length
        specs[name] = tf.TensorSpec(shape, tensor.dtype, name=name)
    return specs


def _structure(model, specs):
    """The inputs in the structure the model was built with (dict, list or one tensor)."""
    if isinstance(model.input, dict):
        return {key: specs[tensor.name] for key, tensor in model.input.items()}
    if isinstance(model.input, (list, tuple)):
        return [specs[t.name] for t in model.input]
    return specs[model.input.name]


def _weight_specs(model):
    return ([tf.TensorSpec(v.shape, v.dtype) for v in model.trainable_variables],
            [tf.TensorSpec(v.shape, v.dtype) for v in model.non_trainable_variables])


def trace_training_step(model, specs):
    """The concrete function of one training step: forward pass on `specs`
    (training mode), the sum of the float outputs' means as the loss, the
    gradients of the trainable weights. The weights enter as placeholders
    (`Layer.stateless_call`), so tracing allocates and computes nothing."""

    def step(inputs, trainable_values, non_trainable_values):
        with tf.GradientTape() as tape:
            tape.watch(trainable_values)
            outputs = _stateless(model, inputs, trainable_values, non_trainable_values, training=True)
            floats = [o for o in tf.nest.flatten(outputs) if o.dtype.is_floating]
            loss = tf.add_n([tf.reduce_mean(tf.cast(o, tf.float32)) for o in floats])
        if not trainable_values:
            return loss
        return loss, tape.gradient(loss, trainable_values, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    return tf.function(step, autograph=False).get_concrete_function(_structure(model, specs),
                                                                     *_weight_specs(model))


def _trace_forward(model, specs):
    """The concrete function of an inference forward pass (weights as placeholders)."""

    def forward(inputs, trainable_values, non_trainable_values):
        return _stateless(model, inputs, trainable_values, non_trainable_values, training=False)

    return tf.function(forward, autograph=False).get_concrete_function(_structure(model, specs),
                                                                        *_weight_specs(model))


def _stateless(model, inputs, trainable_values, non_trainable_values, training):
    # The outer scope keeps variables that were created without values
    # (`abstract_build`) uninitialised when the call's own scope closes.
    import keras

    with keras.StatelessScope(initialize_variables=False):
        outputs, _ = model.stateless_call(trainable_values, non_trainable_values, inputs, training=training)
    return outputs


def _variable_bytes(variable):
    return int(np.prod(variable.shape, dtype=np.int64)) * np.dtype(variable.dtype).itemsize


def _bytes(tensor):
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        return None
    if tensor.dtype in (tf.resource, tf.variant, tf.string):
        return 0
    return int(np.prod(shape.as_list(), dtype=np.int64)) * tensor.dtype.size


def peak_live_bytes(graph, weights=(), exclude=()):
    """(peak bytes, unknown-shape tensors): the most bytes alive at once when
    `graph`'s ops run in creation order (see the module docstring).

    `weights`: placeholder tensors of the weights (counted elsewhere);
    `exclude`: tensors not to count (the returned gradients, counted elsewhere).
    Other placeholders (the input batch) count."""
    skip = {t.ref() for t in weights} | {t.ref() for t in exclude}
    operations = graph.get_operations()
    position = {op: i for i, op in enumerate(operations)}
    # Every tensor maps to the buffer it lives in (views share their input's).
    buffer_of = {}
    size = {}
    unknown = 0
    for op in operations:
        for out in op.outputs:
            if op.type in VIEW_OPS and op.inputs:
                buffer_of[out.ref()] = buffer_of.get(op.inputs[0].ref(), op.inputs[0].ref())
                continue
            buffer_of[out.ref()] = out.ref()
            if op.type in IGNORED_OPS and op.type != "Placeholder":
                size[out.ref()] = 0
                continue
            n = _bytes(out)
            if n is None:
                unknown += 1
                n = 0
            size[out.ref()] = n
    for ref in skip:
        size[buffer_of.get(ref, ref)] = 0
    # A buffer is freed after the last op that reads it (or any view of it).
    last_use = {}
    for op in operations:
        for tensor in op.inputs:
            buffer = buffer_of.get(tensor.ref())
            if buffer is not None:
                last_use[buffer] = max(last_use.get(buffer, -1), position[op])
    frees = {}
    for buffer, last in last_use.items():
        frees.setdefault(last, []).append(buffer)
    live = peak = 0
    for i, op in enumerate(operations):
        for out in op.outputs:
            if buffer_of[out.ref()] == out.ref():
                live += size[out.ref()]
        peak = max(peak, live)
        for buffer in frees.get(i, ()):
            live -= size.get(buffer, 0)
    return peak, unknown


def estimate_memory(model, batch_size, *, sequence_length=None, input_shapes=None, optimizer="adam",
                    gradient_accumulation_steps=1, training=True):
    """A `MemoryEstimate` of one training step of `model` at `batch_size` (per replica).

    Args:
        model: a built Keras model (any dtype policy: the one it was built under counts).
        batch_size: examples per step and replica.
        sequence_length: the length of every unknown non-batch input
            dimension (token sequences).
        input_shapes: {input name: shape without the batch} for inputs that
            need other lengths.
        optimizer: a name of `OPTIMIZER_SLOTS` ("adam", "adamw", "sgd", ...) or a Keras optimizer.
        gradient_accumulation_steps: > 1 adds Keras' gradient accumulators.
        training: False estimates inference (no gradients, no optimizer).
    """
    key = _optimizer_key(optimizer)
    if key not in OPTIMIZER_SLOTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(OPTIMIZER_SLOTS)}")
    specs = _input_specs(model, batch_size, sequence_length, input_shapes)
    weights = sum(_variable_bytes(v) for v in model.weights)
    trainable = sum(_variable_bytes(v) for v in model.trainable_variables) if training else 0
    params = int(sum(np.prod(v.shape, dtype=np.int64) for v in model.weights))
    trainable_params = int(sum(np.prod(v.shape, dtype=np.int64) for v in model.trainable_variables))
    function = trace_training_step(model, specs) if training else _trace_forward(model, specs)
    graph = function.graph
    data_inputs = len(tf.nest.flatten(specs))
    activations, unknown = peak_live_bytes(graph, weights=graph.inputs[data_inputs:],
                                           exclude=graph.outputs if training else ())
    if unknown:
        log.warning("memory estimate of %s: %d tensors of unknown shape not counted", model.name, unknown)
    policy = getattr(getattr(model, "dtype_policy", None), "name", "float32")
    return MemoryEstimate(
        batch_size=int(batch_size), weights=int(weights), gradients=int(trainable),
        optimizer=int(trainable * OPTIMIZER_SLOTS[key]), activations=int(activations), params=params,
        trainable_params=trainable_params if training else 0, policy=policy,
        accumulators=int(trainable if training and gradient_accumulation_steps > 1 else 0))


def _optimizer_key(optimizer):
    if isinstance(optimizer, str):
        return optimizer.lower()
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    # The nearest Keras class a subclass (e.g. training.optimizers.DenseAdam) derives from.
    names = [cls.__name__.lower() for cls in type(optimizer).__mro__]
    key = next((name for name in names if name in OPTIMIZER_SLOTS), names[0])
    if key == "sgd" and getattr(optimizer, "momentum", 0):
        return "sgd_momentum"
    return key


def fits(estimate, capacity_bytes, usable_fraction=USABLE_FRACTION):
    """Whether `estimate` fits in `usable_fraction` of a device of `capacity_bytes`."""
    return estimate.total <= capacity_bytes * usable_fraction


def accumulation_steps(estimate, capacity_bytes, usable_fraction=USABLE_FRACTION):
    """The fewest gradient-accumulation steps k (a divisor of the batch) such
    that micro-batches of batch/k fit, keeping the effective batch: 1 when the
    batch fits. Raises ValueError when even one example per step does not fit."""
    batch = estimate.batch_size
    for k in range(1, batch + 1):
        if batch % k:
            continue
        if fits(estimate.at_batch(batch // k, gradient_accumulation_steps=k), capacity_bytes, usable_fraction):
            return k
    smallest = estimate.at_batch(1, gradient_accumulation_steps=batch)
    raise ValueError(f"one example per step needs {smallest.total / GiB:.1f} GiB, more than "
                     f"{usable_fraction:.0%} of {capacity_bytes / GiB:.0f} GiB")


def micro_batch_size(batch_size, steps):
    """The batch of each of `steps` accumulated micro-steps; the batch must divide evenly
    (Keras averages the micro-batch gradients with equal weights)."""
    if steps < 1 or batch_size % steps:
        raise ValueError(f"gradient_accumulation_steps={steps} does not divide the batch of {batch_size}")
    return batch_size // steps



def device_memory_bytes():
    """The memory of the first GPU in bytes, or None without one (or when it
    cannot be read). TensorFlow reports what it has allocated, not what the
    device holds, so this asks the NVIDIA driver (`nvidia-smi`), which every
    CUDA machine has."""
    import shutil
    import subprocess

    from memotion_tf.training.devices import accelerators

    if not any(d["type"] == "GPU" for d in accelerators()):
        return None
    command = shutil.which("nvidia-smi")
    if command is None:
        return None
    try:
        out = subprocess.run([command, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        return min(int(line) for line in out.split() if line.strip()) * 1024 ** 2  # MiB; the smallest GPU decides
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def resolve_accumulation(setting, model, batch_size, *, strategy=None, sequence_length=None, optimizer="adam",
                         capacity_bytes=None):
    """The gradient-accumulation steps of a config's `accumulation_steps`:
    the number itself when >= 1 (it must divide `batch_size`); 0 ("auto"):
    the fewest steps whose micro-batches fit the accelerator
    (`accumulation_steps` on `estimate_memory(model, batch_size)`), 1 without
    an accelerator or when its memory cannot be read. Under a strategy with
    several replicas Keras cannot accumulate (`strategy.check_gradient_accumulation`)."""
    from memotion_tf.config import ConfigError
    from memotion_tf.training.strategy import check_gradient_accumulation

    setting = int(setting)
    if setting < 0:
        raise ConfigError(f"accumulation_steps must be >= 0 (0: auto, 1: none), not {setting}")
    if setting == 0:
        capacity_bytes = capacity_bytes if capacity_bytes is not None else device_memory_bytes()
        if capacity_bytes is None:
            return 1
        estimate = estimate_memory(model, batch_size, sequence_length=sequence_length, optimizer=optimizer)
        try:
            setting = accumulation_steps(estimate, capacity_bytes)
        except ValueError as e:
            raise ConfigError(f"accumulation_steps = 0 (auto): {e}") from None
        log.info("training step: %s; %d accumulation step(s) fit %.0f GiB", estimate.summary(), setting,
                 capacity_bytes / GiB)
    try:
        micro_batch_size(batch_size, setting)
    except ValueError as e:
        raise ConfigError(f"accumulation_steps: {e}") from None
    if strategy is not None:
        check_gradient_accumulation(strategy, setting)
    return setting
