#!/usr/bin/env python3
"""The web app in a browser (same as `ruang bench web`): see src/ruang/bench/web.py.

    python bench/web.py --taps 15 --json --write-docs
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("ruang.bench.web", run_name="__main__")
