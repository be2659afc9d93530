"""Plain text the commands print: aligned columns that read the same in a terminal and in a log."""

from collections.abc import Sequence


def columns(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """The header and rows, each column as wide as its widest cell, two spaces apart."""
    table = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in table)
