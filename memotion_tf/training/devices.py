"""What training runs on: the accelerators TensorFlow sees, in one line.

A bare `pip install tensorflow` on a Linux GPU machine is TensorFlow's CUDA
build without the CUDA libraries: it sees no GPU and trains on the CPU
without an error. Every run logs
`describe_devices()`, and the paper profile without an accelerator says so in
one warning line (`log_devices`); `pip install "memotion-tf[and-cuda]"` pulls
TensorFlow's GPU build (`tensorflow[and-cuda]`).

Call these before building models: they list *physical* devices, which does
not initialise TensorFlow's runtime (so `strategy.split_cpu` still works).
"""

import logging
import os
import platform

import tensorflow as tf

log = logging.getLogger("memotion_tf")

ACCELERATOR_TYPES = ("GPU", "TPU")


def accelerators():
    """[{"type": "GPU" | "TPU", "name": str, "compute_capability": (major, minor) | None}]
    for every visible accelerator."""
    found = []
    for kind in ACCELERATOR_TYPES:
        for device in tf.config.list_physical_devices(kind):
            details = {}
            if kind == "GPU":
                try:
                    details = tf.config.experimental.get_device_details(device)
                except (ValueError, RuntimeError):  # no details on some platforms
                    details = {}
            found.append({"type": kind, "name": details.get("device_name", device.name),
                          "compute_capability": details.get("compute_capability")})
    return found


def accelerator_available():
    """Whether TensorFlow sees a GPU or a TPU."""
    return bool(accelerators())


def _build():
    info = tf.sysconfig.get_build_info()
    if info.get("is_cuda_build"):
        return f"TensorFlow {tf.__version__}, CUDA {info.get('cuda_version', '?')} build"
    if info.get("is_rocm_build"):
        return f"TensorFlow {tf.__version__}, ROCm build"
    return f"TensorFlow {tf.__version__}, CPU-only build"


def describe_devices(found=None):
    """One line: the accelerators (count, name, compute capability) or the CPU,
    and TensorFlow's build, e.g.
    `1 x GPU (Tesla T4, compute capability 7.5); TensorFlow 2.21.0, CUDA 12.5.1 build`."""
    found = accelerators() if found is None else found
    if not found:
        cores = os.cpu_count() or 0
        return f"CPU only ({cores} core{'s' if cores != 1 else ''}); {_build()}"
    groups = {}
    for device in found:
        capability = device.get("compute_capability")
        label = device["name"] + (f", compute capability {capability[0]}.{capability[1]}" if capability else "")
        key = (device["type"], label)
        groups[key] = groups.get(key, 0) + 1
    parts = [f"{count} x {kind} ({label})" for (kind, label), count in groups.items()]
    return f"{' + '.join(parts)}; {_build()}"


def log_devices(profile=None, logger=log, found=None):
    """Log the devices training runs on; with `profile == "paper"` and no
    accelerator, one warning line saying so. Returns the description."""
    found = accelerators() if found is None else found
    description = describe_devices(found)
    logger.info("training on %s", description)
    if profile == "paper" and not found:
        # PyPI's Linux TensorFlow is built for CUDA but ships without its
        # libraries: without them a GPU machine shows no GPU.
        hint = ("; with an NVIDIA GPU: pip install \"memotion-tf[and-cuda]\" (TensorFlow's CUDA libraries)"
                if platform.system() == "Linux" else "")
        logger.warning("PROFILE=paper but no GPU or TPU is visible: the full-size models train on the CPU, "
                       "which takes days%s", hint)
    return description
