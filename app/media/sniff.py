"""What a file really is, from its first bytes, and whether Relaydesk keeps it.

`sniff(head, declared)` answers the content type the bytes show, or None when they match
nothing on the allowlist (HTML, SVG, scripts, executables, archives of unknown kind…: refused,
never stored). The declared type (what the platform or the browser said) only refines a family
the bytes already prove — an Office file is a zip or OLE2 container, a text file has no
signature — it never decides on its own.

`fits(kind, content_type)` says whether the content agrees with the kind of message that
carried it (an "image" message must hold an image): a mismatch is refused too. The platform's
declared type is not compared: Green API's own documented examples declare an audio message
`image/jpeg` (docs/external-apis.md 2).
"""
from __future__ import annotations

#: how many leading bytes `sniff` needs
HEAD = 64

OOXML = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
}
OLE2 = {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
TEXT = {"text/plain", "text/csv"}

#: every content type a stored file may have (what `sniff` can answer)
ALLOWED = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "video/mp4", "video/3gpp", "audio/mp4", "audio/ogg", "audio/mpeg", "audio/aac",
    "audio/amr", "application/pdf", "application/zip", *OOXML, *OLE2, *TEXT,
})

#: file name extensions by content type (downloads are named with them)
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "video/mp4": "mp4", "video/3gpp": "3gp", "audio/mp4": "m4a", "audio/ogg": "ogg",
    "audio/mpeg": "mp3", "audio/aac": "aac", "audio/amr": "amr", "application/pdf": "pdf",
    "application/zip": "zip", "text/plain": "txt", "text/csv": "csv",
    "application/msword": "doc", "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}


def bare(content_type: str | None) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg` (lower case, no parameters)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff(head: bytes, declared: str | None = None) -> str | None:
    declared = bare(declared)
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        if brand in (b"M4A ", b"M4B ") or declared.startswith("audio/"):
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF
                                   and head[1] & 0xE0 == 0xE0):
        # MPEG audio frame sync; ADTS AAC has layer bits 00
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if head.startswith(b"PK\x03\x04"):
        return declared if declared in OOXML else "application/zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return declared if declared in OLE2 else "application/msword"
    if declared in TEXT and _plain_text(head):
        return declared
    return None


def _plain_text(head: bytes) -> bool:
    """Text without a signature: no NUL, decodes as UTF-8 (a cut last character allowed), and
    does not open like markup a browser would run."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[:exc.start].decode("utf-8")
    opening = text.lstrip().lower()
    return not opening.startswith(("<", "#!"))


def fits(kind: str, content_type: str) -> bool:
    """Whether a file of `content_type` may be the attachment of a `kind` message."""
    family = content_type.split("/", 1)[0]
    if kind == "image":
        return family == "image"
    if kind == "sticker":
        return content_type in ("image/webp", "image/png", "image/gif")
    if kind == "video":
        return family == "video" or content_type == "image/gif"  # a GIF is sent as video
    if kind in ("audio", "voice"):
        return family == "audio" or content_type == "video/mp4"  # m4a without its brand
    if kind == "document":
        return True  # any allowed type may travel as a document
    return False


def kind_for(content_type: str) -> str:
    """The message kind a stored file is sent as."""
    if content_type in ("image/jpeg", "image/png"):
        return "image"  # the photo type every platform takes; other images go as documents
    if content_type in ("video/mp4", "video/3gpp"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "document"
