#!/usr/bin/env python3
"""Social graph benchmark (same as `ruang bench social`): see src/ruang/bench/social.py.

    python bench/social.py --members 1000000 --follows 20000000 --json --write-docs
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("ruang.bench.social", run_name="__main__")
