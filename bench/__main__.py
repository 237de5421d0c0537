"""``python -m bench`` lists the benchmarks; ``python -m bench NAME [ARGS]`` runs one
(e.g. ``python -m bench load_portal --duration 60``). Each is also ``python -m bench.NAME``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__"
    )
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("benchmarks (python -m bench NAME [ARGS], see each module's --help):")
        for n in names:
            doc = (importlib.import_module(f"bench.{n}").__doc__ or "").strip().splitlines()
            print(f"  {n:<22} {doc[0] if doc else ''}")
        return 0
    name = argv[0].removeprefix("bench.")
    if name not in names:
        print(f"unknown benchmark {name!r}; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    mod = importlib.import_module(f"bench.{name}")
    sys.argv = [f"bench.{name}", *argv[1:]]
    result = mod.main(argv[1:]) if _takes_argv(mod.main) else mod.main()
    return int(result or 0)


def _takes_argv(fn) -> bool:  # type: ignore[no-untyped-def]
    import inspect

    return bool(inspect.signature(fn).parameters)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
