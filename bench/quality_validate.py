"""Benchmark: our streaming validator vs frictionless (the library), same machine, same run.

    uv run python -m bench.quality_validate [--rows 500000] [--skip-frictionless]

Generates a ~170 MB CSV (500,000 rows, UTF-8, Ukrainian text) with a known set of planted
errors (type errors, missing/extra cells, blank rows, exact duplicate rows), validates it with
both — frictionless with its optional ``duplicate-row`` check on, since ours always runs it —
checks that both find exactly the planted errors, and prints wall-clock time, CPU time and peak
memory of each (each validator runs in its own subprocess; peak RSS from ``resource.getrusage``
of that child). ``--repeat N`` runs each validator N times and keeps the fastest run (the
machine is shared: take the minimum).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STREETS = [
    "вул. Соборна",
    "просп. Металургів",
    "вул. Запорізька",
    "бул. Шевченка",
    "вул. Незалежної України",
    "вул. Перемоги",
    "вул. Дніпровська",
    "вул. Козача",
]
DISTRICTS = [
    "Вознесенівський",
    "Дніпровський",
    "Заводський",
    "Комунарський",
    "Олександрівський",
    "Хортицький",
    "Шевченківський",
]


def generate(path: Path, rows: int, seed: int = 7) -> set[tuple[str, int]]:
    """Write the CSV; return the planted errors as {(code, row_number)} (header = row 1)."""
    rnd = random.Random(seed)
    planted: set[tuple[str, int]] = set()
    kinds = [
        "type-error-int",
        "type-error-date",
        "type-error-num",
        "missing-cell",
        "extra-cell",
        "blank-row",
        "duplicate-row",
    ]
    plant_rows = sorted(rnd.sample(range(1000, rows), 10 * len(kinds)))
    plan = {r: kinds[i % len(kinds)] for i, r in enumerate(plant_rows)}
    header = [
        "id",
        "назва",
        "адреса",
        "район",
        "дата_реєстрації",
        "площа",
        "кількість",
        "активний",
        "опис",
        "посилання",
    ]
    filler = "Об'єкт комунальної власності м. Запоріжжя, що використовується за призначенням"
    clean: list[str] = []  # the last row without a planted error (the source of duplicates)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(header) + "\n")
        for i in range(rows):
            rn = i + 2
            cells = [
                str(i + 1),
                f"Об’єкт №{i + 1} «{rnd.choice(DISTRICTS)}»",
                f'"{rnd.choice(STREETS)}, {rnd.randint(1, 200)}"',
                rnd.choice(DISTRICTS),
                f"20{rnd.randint(10, 25)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                f"{rnd.randint(10, 9999)}.{rnd.randint(0, 99):02d}",
                str(rnd.randint(0, 500)),
                rnd.choice(["true", "false"]),
                f'"{filler} ({rnd.randint(1, 10**6)})"',
                f"https://data.zp.gov.ua/o/{i + 1}",
            ]
            kind = plan.get(rn)
            if kind == "type-error-int":
                cells[6] = "багато"
                planted.add(("type-error", rn))
            elif kind == "type-error-date":
                cells[4] = "31.12.2024"
                planted.add(("type-error", rn))
            elif kind == "type-error-num":
                cells[5] = "н/д"
                planted.add(("type-error", rn))
            elif kind == "missing-cell":
                cells = cells[:-2]
                planted.add(("missing-cell", rn))
            elif kind == "extra-cell":
                cells.append("зайве")
                planted.add(("extra-cell", rn))
            elif kind == "blank-row":
                cells = [""] * len(cells)
                planted.add(("blank-row", rn))
            elif kind == "duplicate-row":
                cells = clean
                planted.add(("duplicate-row", rn))
            else:
                clean = cells
            f.write(",".join(cells) + "\n")
    return planted


CHILD = r"""
import json, resource, sys, time
which, path = sys.argv[1], sys.argv[2]
_ru = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = _ru.ru_utime + _ru.ru_stime
t0 = time.perf_counter()
found = []
if which == "ours":
    from quality.validate import validate_path
    rep = validate_path(path, declared_format="CSV")
    found = [(e["code"], e["row"]) for e in rep["errors"]]
    total = rep["error_counts"]
else:
    import frictionless
    with frictionless.system.use_context(trusted=True):
        report = frictionless.validate(
            path, limit_errors=1000, checks=[frictionless.checks.duplicate_row()]
        )
    for task in report.tasks:
        for e in task.errors:
            found.append((e.type, getattr(e, "row_number", None)))
    total = {}
elapsed = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
cpu = ru.ru_utime + ru.ru_stime - cpu0
print(json.dumps({"elapsed": elapsed, "cpu": cpu, "peak_mb": ru.ru_maxrss / 1024, "found": found,
                  "total": total}))
"""


def run_child(which: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, which, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_mb() -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource,quality.validate,frictionless;"
            "import pyarrow.csv,pyarrow.compute;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--skip-frictionless", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per validator; the fastest kept")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        t0 = time.perf_counter()
        planted = generate(path, args.rows)
        size_mb = os.path.getsize(path) / 1e6
        print(
            f"generated {args.rows} rows, {size_mb:.1f} MB, {len(planted)} planted errors "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        load0 = os.getloadavg()[0]
        which = ["ours"] + ([] if args.skip_frictionless else ["frictionless"])
        runs: dict[str, list[dict]] = {w: [] for w in which}
        for _ in range(args.repeat):
            for w in which:
                runs[w].append(run_child(w, path))
        results = {}
        for w, rs in runs.items():
            results[w] = {
                **rs[0],
                "elapsed": min(r["elapsed"] for r in rs),
                "cpu": min(r["cpu"] for r in rs),
                "peak_mb": max(r["peak_mb"] for r in rs),
            }
        print(
            f"load average (1 min) {load0:.1f} before, {os.getloadavg()[0]:.1f} after; "
            f"{args.repeat} run(s) each, fastest wall and CPU kept"
        )
        base = baseline_mb()
        print()
        print(
            f"{'validator':<14}{'time s':>10}{'CPU s':>8}{'rows/s':>12}{'peak RSS MB':>14}"
            f"{'found':>8}{'= planted':>11}"
        )
        blank_rows = {row for code, row in planted if code == "blank-row"}
        for name, r in results.items():
            found = {(c, row) for c, row in r["found"]}
            if name == "frictionless":
                # frictionless also reports every blank row after the first as a duplicate of
                # the first one (ours reports blank rows as blank-row only)
                blank_dups = {(c, row) for c, row in found if c == "duplicate-row"} & {
                    ("duplicate-row", row) for row in blank_rows
                }
                found -= blank_dups
                if blank_dups:
                    print(f"   (frictionless: {len(blank_dups)} blank rows as duplicate-row too)")
            same = found == planted
            rate = args.rows / r["elapsed"]
            print(
                f"{name:<14}{r['elapsed']:>10.1f}{r['cpu']:>8.1f}{rate:>12.0f}"
                f"{r['peak_mb']:>14.0f}{len(found):>8}{str(same):>11}"
            )
            if not same:
                print(
                    "   missed:",
                    sorted(planted - found)[:10],
                    " extra:",
                    sorted(found - planted)[:10],
                )
        print(
            f"(interpreter + imports alone, frictionless and pyarrow included: "
            f"{base:.0f} MB peak RSS)"
        )
        if "frictionless" in results:
            ratio = results["frictionless"]["elapsed"] / results["ours"]["elapsed"]
            cpu_ratio = results["frictionless"]["cpu"] / results["ours"]["cpu"]
            print(
                f"speed-up: {ratio:.1f}x wall-clock, {cpu_ratio:.1f}x CPU time "
                "(CPU time is less sensitive to other jobs on a shared machine)"
            )


if __name__ == "__main__":
    main()
