"""`python -m fastembed bench [...]` runs the benchmark comparison; `python -m fastembed
config` prints `show_config()`."""
import sys

USAGE = """usage: python -m fastembed {bench,config} [options]

  bench    fastembed's kernels against NumPy, SciPy, PyTorch and JAX on the same data
           (python -m fastembed bench --help)
  config   print fastembed.show_config()
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from fastembed.bench import main as bench_main
        return bench_main(rest)
    if command == "config":
        import fastembed
        fastembed.show_config()
        return 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
