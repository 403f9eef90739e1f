"""``python -m cnnkit`` / ``cnnkit``: command-line entry points.

    cnnkit config        print the build configuration (compiler, SIMD, OpenMP, CUDA)
    cnnkit bench ...     the benchmark suite (``cnnkit bench --help``; the same as python -m cnnkit.bench)
"""
import argparse
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":  # everything after 'bench' belongs to the suite's own parser
        from cnnkit.bench import main as bench_main

        return bench_main(argv[1:])
    p = argparse.ArgumentParser(prog="cnnkit", description="cnnkit command-line tools")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("config", help="print the build configuration")
    sub.add_parser("bench", help="run the benchmark suite (cnnkit bench --help)")
    p.parse_args(argv)
    import cnnkit

    cnnkit.show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
