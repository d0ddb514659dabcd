"""The benchmark suite behind `python -m fastembed bench` (see `fastembed.bench.cli`).

One module per kernel family registers its cases (`fastembed.bench.core.register`); a
family whose kernel this build does not export is listed as not run. To add a family,
write its module and import it here: the import order is the report's order.
"""
from fastembed.bench import lookup  # noqa: F401  (registers the families, in this order)
from fastembed.bench import bag  # noqa: F401
from fastembed.bench import accumulate  # noqa: F401
from fastembed.bench import renorm  # noqa: F401
from fastembed.bench.cli import main
from fastembed.bench.core import families, register

__all__ = ["families", "main", "register"]
