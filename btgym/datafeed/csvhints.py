"""Named errors with hints for CSV files that do not match their parsing params.

pandas reports a file read with the wrong separator, a missing column or bytes
that are not UTF-8 as "Usecols do not match columns" or a ``UnicodeDecodeError``,
without file or line. These checks run before (layout) or instead of (encoding)
that report and raise :class:`~btgym.errors.DataParseError` naming the file, the
line and what to pass instead, e.g. "the file looks comma-separated; pass
parsing_params={'sep': ','}".
"""

from __future__ import annotations

from btgym.errors import DataParseError

#: separators worth guessing, with the words a hint uses.
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _first_line(body: bytes) -> tuple[int, str]:
    """0-based index and text of the first non-blank line of ``body``."""
    for i, line in enumerate(body.split(b"\n")):
        if line.strip():
            return i, line.rstrip(b"\r").decode("utf-8", errors="replace")
    return 0, ""


def guess_separator(line: str, sep: str, needed: int) -> str | None:
    """A separator other than ``sep`` that splits ``line`` into ``needed`` fields or more."""
    best, most = None, 1
    for cand in SEPARATORS:
        n = line.count(cand) + 1
        if cand != sep and n >= needed and n > most:
            best, most = cand, n
    return best


def check_layout(
    body: bytes, sep: str, columns: dict[str, int | None], skipped: int, path: str
) -> None:
    """The first data line must have every column the params name.

    Args:
        body: the file's bytes after the header.
        sep: the separator the params give.
        columns: field name → 0-based position (``None``: not read).
        skipped: lines before ``body`` (header).
        path: the file, for the error.

    Raises:
        DataParseError: too few fields, with a hint (another separator, no volume
            column, or how to name columns).
    """
    used = {f: c for f, c in columns.items() if c is not None}
    if not used:
        return
    index, line = _first_line(body)
    fields = line.count(sep) + 1
    needed = max(used.values()) + 1
    if fields >= needed:
        return
    missing = sorted((f for f, c in used.items() if c >= fields), key=lambda f: used[f])
    guess = guess_separator(line, sep, needed)
    if guess is not None:
        word = SEPARATORS[guess]
        hint = f"the file looks {word}-separated; pass parsing_params={{'sep': {guess!r}}}"
    elif missing == ["volume"]:
        hint = "the file has no volume column; pass parsing_params={'volume': None}"
    else:
        hint = (
            "say where each field is with parsing_params (datetime, open, high, low, close, "
            "volume: column names or 0-based positions)"
        )
    where = ", ".join(f"{f} at position {used[f]}" for f in missing)
    raise DataParseError(
        f"the line has {fields} field(s) separated by {sep!r} but the parsing params need "
        f"{needed} ({where}); hint: {hint}",
        path,
        skipped + index + 1,
    )


def check_utf8(body: bytes, skipped: int, path: str) -> None:
    """Raise DataParseError at the first byte of ``body`` that is not UTF-8 (if any)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = skipped + body.count(b"\n", 0, exc.start) + 1
        bad = body[exc.start : exc.start + 1].hex()
        raise DataParseError(
            f"byte 0x{bad} is not UTF-8 text; hint: bar files are ASCII/UTF-8 text: re-save "
            "the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            path,
            line,
        ) from None


def strip_quotes(body: bytes) -> bytes:
    """A quoted bar file (``"20170102 020000";"1.0528";...``) without its quotes: bar
    files hold numbers and stamps only, never a separator inside a field."""
    return body.replace(b'"', b"") if b'"' in body else body
