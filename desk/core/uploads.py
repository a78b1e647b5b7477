"""Whether an uploaded file's bytes are what its declared type says (photo, video, PDF).

The browser's or client's Content-Type is only a claim: an executable renamed `photo.jpg` arrives as
`image/jpeg`. Every accepted type starts with a fixed signature ("magic number"), so checking the
first bytes is enough to refuse such a file. The table is small and fixed, so it lives here rather
than in a dependency (libmagic is a system library the embedded install cannot assume).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import FileResponse
from django.utils.translation import gettext as _

HEAD_BYTES = 1024  # PDF readers accept a header anywhere in the first 1,024 bytes
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _iso_brand(head: bytes) -> bytes | None:
    """The major brand of an ISO base media file (MP4, MOV, HEIC): `....ftypBRND`."""
    return head[8:12] if head[4:8] == b"ftyp" else None


SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
    "image/heic": lambda h: _iso_brand(h) in _HEIF_BRANDS,
    "video/mp4": lambda h: _iso_brand(h) not in (None, *_HEIF_BRANDS),
    "video/quicktime": lambda h: _iso_brand(h) is not None or h[4:8] in _QUICKTIME_ATOMS,
    "video/webm": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
    "application/pdf": lambda h: b"%PDF-" in h,
}


def content_matches(upload: Any, content_type: str) -> bool:
    """True when the file's first bytes carry the signature of `content_type` (a type listed in
    `SIGNATURES`; any other type is not vouched for). The file is left at its start."""
    check = SIGNATURES.get(content_type)
    if check is None:
        return False
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    return check(head or b"")


def disguised_message(name: str | None, content_type: str) -> str:
    return _("%(name)s is not really %(type)s: its content is of another kind. Upload the original file.") % {
        "name": name or "?",
        "type": content_type,
    }


def download_response(file: Any, name: str, content_type: str) -> FileResponse:
    """Stream a stored upload back to someone already allowed to read it.

    Uploads are never served from a public /media/ URL: the caller checks who may see the file first.
    Only types whose bytes were checked at upload (`SIGNATURES`) open in the browser; anything else
    is a download. `nosniff` stops the browser from guessing another type (HTML) from the content.
    """
    inline = content_type in SIGNATURES
    file.open("rb")
    response = FileResponse(
        file, as_attachment=not inline, filename=name, content_type=content_type or "application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
