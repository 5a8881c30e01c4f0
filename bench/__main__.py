"""`make bench`: run the benchmark scenarios and rewrite their sections of docs/benchmarks.md.

python -m bench              # every scenario
python -m bench ingest       # only some
"""

from __future__ import annotations

import importlib
import sys

SCENARIOS = ["ingest", "scoring", "decide", "pages"]


def main(argv: list[str]) -> None:
    chosen = argv or SCENARIOS
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    for name in chosen:
        print(f"== bench: {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
