"""The CDNOW customer summary (Fader, Hardie & Lee 2005), read from the data files in the ``lifetimes`` wheel.

The file ``lifetimes/datasets/cdnow_customers_summary_with_transactions.csv`` (lifetimes 0.11.3) holds the
2357-customer CDNOW sample used in the BG/NBD and Gamma-Gamma papers, one row per customer: repeat purchases
``x``, recency ``t_x`` and age ``T`` in weeks over the 39-week calibration period, and ``zbar``, the mean value in
dollars of the repeat purchases (0 for customers without one).

``lifetimes`` itself is not imported (it needs pandas and may not import on current versions); its package
directory is located with :func:`importlib.util.find_spec`, which does not execute the package, and the CSV is
parsed here. No network access.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SUMMARY_FILE = "cdnow_customers_summary_with_transactions.csv"
_COLUMNS = ["ID", "x", "t_x", "T", "zbar"]


class DatasetNotFoundError(FileNotFoundError):
    """The lifetimes package, or the data file inside it, is not installed."""


@dataclass(frozen=True, slots=True)
class CdnowSummary:
    """One entry per customer; times in weeks, money in US dollars."""

    customer_id: npt.NDArray[np.int64]
    frequency: npt.NDArray[np.float64]
    recency: npt.NDArray[np.float64]
    T: npt.NDArray[np.float64]
    monetary_value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.customer_id.size)

    def repeat_customers(self) -> CdnowSummary:
        """The customers with at least one repeat purchase (the Gamma-Gamma sample)."""
        keep = self.frequency > 0
        return CdnowSummary(
            customer_id=self.customer_id[keep],
            frequency=self.frequency[keep],
            recency=self.recency[keep],
            T=self.T[keep],
            monetary_value=self.monetary_value[keep],
        )


def lifetimes_datasets_dir() -> Path:
    """The ``datasets`` directory of the installed lifetimes package, found without importing it."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "the lifetimes package is not installed; install it with `pip install --no-deps lifetimes==0.11.3`"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "datasets"
        if candidate.is_dir():
            return candidate
    raise DatasetNotFoundError(f"lifetimes is installed at {list(spec.submodule_search_locations)} without datasets/")


def load_cdnow_summary(path: Path | None = None) -> CdnowSummary:
    """Parse the CDNOW summary; ``path`` overrides the file inside the lifetimes package."""
    source = path or lifetimes_datasets_dir() / SUMMARY_FILE
    if not source.is_file():
        raise DatasetNotFoundError(f"CDNOW summary not found at {source}")
    ids: list[int] = []
    values: list[tuple[float, float, float, float]] = []
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != _COLUMNS:
            raise ValueError(f"{source}: expected columns {_COLUMNS}, found {header}")
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(_COLUMNS):
                raise ValueError(f"{source}:{line_number}: expected {len(_COLUMNS)} fields, found {len(row)}")
            try:
                ids.append(int(row[0]))
                values.append((float(row[1]), float(row[2]), float(row[3]), float(row[4])))
            except ValueError as exc:
                raise ValueError(f"{source}:{line_number}: {exc}") from exc
    if not ids:
        raise ValueError(f"{source}: no customers")
    table = np.array(values, dtype=np.float64)
    return CdnowSummary(
        customer_id=np.array(ids, dtype=np.int64),
        frequency=np.ascontiguousarray(table[:, 0]),
        recency=np.ascontiguousarray(table[:, 1]),
        T=np.ascontiguousarray(table[:, 2]),
        monetary_value=np.ascontiguousarray(table[:, 3]),
    )
