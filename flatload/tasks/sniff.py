"""What is wrong with a file's first line when it is not the comma-separated CSV text the vendor ships."""
from __future__ import annotations

#: bytes of text: printable ASCII, tab, CR/LF, and anything from UTF-8 multi-byte sequences
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\r\n" + bytes(range(0x80, 0x100))
#: a file of text has almost no control bytes; binary data (random bytes) has about one in eight
_MAX_CONTROL_SHARE = 0.05


def first_line_problem(line: bytes) -> str | None:
    """Why ``line`` is not a comma-separated CSV header: binary data, or another delimiter. None when fine."""
    sample = line[:4096]
    control = len(sample.translate(None, _TEXT_BYTES))
    if b"\0" in sample or control > len(sample) * _MAX_CONTROL_SHARE:
        return f"not CSV text: the gzip holds binary data (it starts with {bytes(sample[:12])!r})"
    text = sample.decode("utf-8", "replace")
    if "," not in text:
        for sep in (";", "\t", "|"):
            if len(text.split(sep)) >= 3:
                return f"wrong delimiter: the header is separated by {sep!r}, not ','"
    return None
