"""Bounded duplicate detection for the validator: ``duplicate-row``, ``unique-error`` and
``primary-key``.

Every data row gets one slot: the 64-bit hash of its key (the row's raw text, or a column's
value), or null when the row is not checked (blank rows, rows of the wrong width, empty values).
Slots are kept as Arrow ``int64`` chunks, 8 bytes a row, row-aligned (slot ``k`` is data row
``k + 2``), so no row numbers are stored. Beyond ``cap`` slots the check is dropped and reported
as skipped (``check-skipped``) instead of growing without bound. Duplicates are found once, at
the end of the file (``pc.unique``, then ``pc.value_counts`` only when there are duplicates).

The hash is Python's 64-bit ``hash`` of the key (SipHash, seeded per process): two different
keys collide with probability about n²/2⁶⁵ (≈ 7·10⁻⁷ for 5 million rows).
"""

from __future__ import annotations

from typing import Any

FIRST_ROW = 2  # the header is row 1


class Keys:
    """Row-aligned key hashes of one check (``code``: the error code it reports)."""

    __slots__ = ("code", "column", "cap", "chunks", "slots", "pending", "skipped")

    def __init__(self, code: str, cap: int, column: int | None = None) -> None:
        self.code = code
        self.column = column  # 0-based column for unique/primary-key, None for whole rows
        self.cap = cap
        self.chunks: list[Any] = []
        self.slots = 0
        self.pending: list[int | None] = []  # rows from the csv-module path, one at a time
        self.skipped = False

    def _room(self, n: int) -> bool:
        if self.skipped:
            return False
        if self.slots + len(self.pending) + n > self.cap:
            self.skipped = True
            self.chunks.clear()
            self.pending.clear()
            return False
        return True

    def add(self, h: int | None) -> None:
        """One row of the csv-module path."""
        if self.skipped:
            return
        self.pending.append(h)
        if len(self.pending) >= 65536:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.pending and self._room(0):
            self.chunks.append(pa.array(self.pending, pa.int64()))
            self.slots += len(self.pending)
        self.pending = []

    def add_array(self, arr: Any) -> None:
        """A batch of the Arrow path: an int64 array (nulls: not checked)."""
        if self.pending:
            self._flush()
        if not self._room(len(arr)):
            return
        self.chunks.append(arr)
        self.slots += len(arr)

    def duplicates(self, keep: int) -> tuple[int, list[tuple[int, int]]]:
        """(number of duplicates, up to ``keep`` (row, row of the first occurrence) pairs in row
        order). Every repeat after the first occurrence of a key counts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self._flush()
        if self.skipped or not self.chunks:
            return 0, []
        arr = pa.chunked_array(self.chunks, pa.int64())
        self.chunks = []
        values = len(arr) - arr.null_count
        uniq = pc.unique(arr)
        distinct = len(uniq) - uniq.null_count
        if distinct == values:
            return 0, []
        vc = pc.value_counts(arr.drop_null())
        counts = vc.field("counts")
        repeated = pc.greater(counts, 1)
        dup_values = pc.filter(vc.field("values"), repeated)
        total = int(pc.sum(pc.filter(counts, repeated)).as_py()) - len(dup_values)
        idx = pc.indices_nonzero(pc.is_in(arr, value_set=dup_values))
        first: dict[int, int] = {}
        out: list[tuple[int, int]] = []
        step = 65536
        for start in range(0, len(idx), step):
            part = idx.slice(start, step).to_pylist()
            for i, h in zip(
                part, pc.take(arr, pa.array(part, pa.int64())).to_pylist(), strict=True
            ):
                f = first.setdefault(h, i)
                if f != i:
                    out.append((i + FIRST_ROW, f + FIRST_ROW))
            if len(out) >= keep:
                break
        return total, out[:keep]
