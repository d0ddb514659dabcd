"""The benchmark suite behind `python -m fastembed bench` (see `fastembed.bench.cli`).

One module per kernel registers its cases (`fastembed.bench.core.register`); a kernel this
build does not export is listed as not run. To add one, write its module and import it
here: the import order is the report's order.
"""
from fastembed.bench import lookup  # noqa: F401  (each import registers one kernel)
from fastembed.bench import lookup_bag  # noqa: F401
from fastembed.bench import accumulate  # noqa: F401
from fastembed.bench import accumulate_bag  # noqa: F401
from fastembed.bench import renorm  # noqa: F401
from fastembed.bench import optim_step  # noqa: F401
from fastembed.bench import layer  # noqa: F401
from fastembed.bench import quantized  # noqa: F401
from fastembed.bench.cli import main
from fastembed.bench.core import families, register

__all__ = ["families", "main", "register"]
