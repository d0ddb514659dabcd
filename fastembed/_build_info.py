"""`show_config`: what was built and what runs."""
import sys

import numpy as np

from fastembed import _kernels
from fastembed._threads import available_cpus, get_num_threads
from fastembed._version import __version__


def config_dict():
    compiled, cpu, chosen = _kernels.simd_info()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "compiler": _kernels.compiler(),
        "openmp": _kernels.openmp_enabled(),
        "openmp_runtime": _kernels.openmp_runtime(),
        "simd_compiled": compiled.split(),
        "simd_cpu": cpu,
        "simd_chosen": chosen,
        "num_threads": get_num_threads(),
        "available_cpus": available_cpus(),
    }


def show_config():
    """Print fastembed's version, build (compiler, OpenMP, SIMD paths) and thread count."""
    cfg = config_dict()
    width = max(len(k) for k in cfg)
    for key, value in cfg.items():
        if isinstance(value, list):
            value = " ".join(value)
        print(f"{key:<{width}}  {value}")
