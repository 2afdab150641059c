#!/usr/bin/env python3
"""WebSocket servers' broadcast cost side by side (same as `ruang bench wslib`):
see src/ruang/bench/wslib.py.

    python bench/wslib.py --connections 1000,10000 --write-docs
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("ruang.bench.wslib", run_name="__main__")
