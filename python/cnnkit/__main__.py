"""``python -m cnnkit`` / ``cnnkit``: command-line entry points.

    cnnkit config        print the build configuration (compiler, SIMD, OpenMP, CUDA)
"""
import argparse
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog="cnnkit", description="cnnkit command-line tools")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("config", help="print the build configuration")
    p.parse_args(argv)
    import cnnkit

    cnnkit.show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
