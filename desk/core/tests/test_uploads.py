"""The signature check of uploads: each accepted type by its first bytes, and the disguises it refuses."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from desk.core.uploads import SIGNATURES, content_matches

SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
    "video/mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00",
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00",
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81",
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3",
}


def upload(content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile("file", content, content_type=content_type)


@pytest.mark.parametrize("content_type", sorted(SAMPLES))
def test_each_accepted_type_is_recognised_by_its_first_bytes(content_type: str) -> None:
    assert content_matches(upload(SAMPLES[content_type], content_type), content_type)


@pytest.mark.parametrize(
    ("content", "claimed"),
    [
        (b"MZ\x90\x00\x03 a Windows program", "image/jpeg"),
        (b"#!/bin/sh\nrm -rf /", "application/pdf"),
        (b"<html><script>alert(1)</script>", "image/png"),
        (SAMPLES["image/png"], "image/jpeg"),
        (SAMPLES["image/heic"], "video/mp4"),
        (b"", "image/gif"),
    ],
)
def test_a_file_whose_bytes_are_not_its_claimed_type_is_refused(content: bytes, claimed: str) -> None:
    assert not content_matches(upload(content, claimed), claimed)


def test_a_type_without_a_signature_is_never_vouched_for() -> None:
    assert "text/html" not in SIGNATURES
    assert not content_matches(upload(b"<html>", "text/html"), "text/html")


def test_the_file_is_left_at_its_start_for_storing() -> None:
    file = upload(SAMPLES["application/pdf"] + b"rest", "application/pdf")
    file.read(3)
    assert content_matches(file, "application/pdf")
    assert file.read() == SAMPLES["application/pdf"] + b"rest"
