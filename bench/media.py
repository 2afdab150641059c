#!/usr/bin/env python3
"""Media benchmark (same as `ruang bench media`): see src/ruang/bench/media.py.

    python bench/media.py --listeners 200 --json --write-docs
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("ruang.bench.media", run_name="__main__")
