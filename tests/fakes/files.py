"""Small real files for the media tests: each starts with the signature of its type (as the
platforms serve them), and hostile ones (HTML, SVG, an executable) that must be refused."""
from __future__ import annotations

import io


def jpeg(width: int = 64, height: int = 48, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def png(width: int = 32, height: int = 32) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 120, 200, 128)).save(out, "PNG")
    return out.getvalue()


def pdf(text: str = "Invoice 2274209") -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n% " + text.encode() +
            b"\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def ogg(size: int = 2048) -> bytes:
    """An Ogg page header followed by filler (the sniffer reads the signature only)."""
    return b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"\x01" * max(0, size - 34)


def mp4(size: int = 4096) -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * max(0, size - 24)


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
       b'<script>alert(1)</script></svg>')
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120
