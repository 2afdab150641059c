#!/usr/bin/env python3
"""Room fan-out (same as `ruang bench fanout`): see src/ruang/bench/fanout.py.

    python bench/fanout.py --connections 10000 --json --write-docs
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("ruang.bench.fanout", run_name="__main__")
