"""Campaign attachments: types, MIME types, sizes, file names, uploads sent as base64."""

from __future__ import annotations

import base64

import pytest

from core import campaigns
from core.base import PermissionDenied, ValidationError

MB = 1024 * 1024


def test_seed_image_by_url(session, account):
    checked = campaigns.validate_multimedia(
        session,
        account.id,
        {"type": "image", "url": "https://cdn.example.com/promo.jpg", "filename": "promo.jpg"},
    )
    assert checked == {
        "type": "image",
        "url": "https://cdn.example.com/promo.jpg",
        "filename": "promo.jpg",
        "mimetype": "image/jpeg",
    }


def test_seed_document_by_url_takes_its_name_from_the_url(session, account):
    checked = campaigns.validate_multimedia(
        session, account.id, {"type": "document", "url": "https://x.io/files/price%20list.pdf"}
    )
    assert checked["filename"] == "price list.pdf"
    assert checked["mimetype"] == "application/pdf"


def test_no_media_is_none(session, account):
    assert campaigns.validate_multimedia(session, account.id, None) is None
    assert campaigns.validate_multimedia(session, account.id, {}) is None


@pytest.mark.parametrize(
    ("multimedia", "field"),
    [
        ({"type": "sticker", "url": "https://x.io/a.webp"}, "multimedia.type"),
        ({"type": "image"}, "multimedia.url"),
        ({"type": "image", "url": "ftp://x.io/a.jpg"}, "multimedia.url"),
        ({"type": "image", "url": "https://x.io/a.gif"}, "multimedia.mimetype"),
        (
            {"type": "video", "url": "https://x.io/a.mp4", "mimetype": "video/avi"},
            "multimedia.mimetype",
        ),
        ({"type": "document", "url": "https://x.io/"}, "multimedia.filename"),
        (
            {"type": "document", "url": "https://x.io/a", "filename": "../etc/passwd"},
            "multimedia.filename",
        ),
        ({"type": "image", "url": "https://x.io/a.jpg", "caption": "x"}, "multimedia.caption"),
        ({"type": "image", "media_id": 999}, "multimedia.media_id"),
        ("https://x.io/a.jpg", "multimedia"),
    ],
)
def test_bad_media_is_refused_naming_the_field(session, account, multimedia, field):
    with pytest.raises(ValidationError) as error:
        campaigns.validate_multimedia(session, account.id, multimedia)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("kind", "filename", "limit_mb"),
    [
        ("image", "a.png", 5),
        ("video", "a.mp4", 16),
        ("audio", "a.ogg", 16),
        ("document", "a.pdf", 100),
    ],
)
def test_upload_size_limits_per_type(session, manager, kind, filename, limit_mb):
    if limit_mb <= 16:  # storing 100 MB in a test database proves nothing more
        at_limit = campaigns.store_media(session, manager, kind, filename, b"\0" * (limit_mb * MB))
        assert at_limit.size == limit_mb * MB
    with pytest.raises(ValidationError) as error:
        campaigns.store_media(
            session, manager, kind, "big-" + filename, b"\0" * (limit_mb * MB + 1)
        )
    assert f"allows {limit_mb} MB" in error.value.message


def test_uploaded_file_is_sent_as_base64(session, manager, account):
    stored = campaigns.store_media(session, manager, "document", "menu.pdf", b"%PDF-1.4 hello")
    checked = campaigns.validate_multimedia(
        session, account.id, {"type": "document", "media_id": stored.id}
    )
    assert checked == {
        "type": "document",
        "media_id": stored.id,
        "filename": "menu.pdf",
        "mimetype": "application/pdf",
    }
    sent = campaigns.evolution_media(session, checked)
    assert sent.mediatype == "document"
    assert base64.b64decode(sent.media) == b"%PDF-1.4 hello"
    assert (sent.file_name, sent.mimetype) == ("menu.pdf", "application/pdf")


def test_url_media_goes_as_url(session, account):
    checked = campaigns.validate_multimedia(
        session, account.id, {"type": "video", "url": "https://x.io/v.mp4"}
    )
    assert campaigns.evolution_media(session, checked) == (
        "video",
        "https://x.io/v.mp4",
        "v.mp4",
        "video/mp4",
    )


def test_same_upload_twice_is_stored_once(session, manager):
    first = campaigns.store_media(session, manager, "image", "a.jpg", b"jpegbytes")
    assert campaigns.store_media(session, manager, "image", "a.jpg", b"jpegbytes").id == first.id


def test_another_accounts_upload_is_not_usable(session, manager):
    from tests.builders import make_account, make_actor

    other = make_account(session, "Other")
    stranger = make_actor(session, other)
    stored = campaigns.store_media(session, stranger, "image", "a.jpg", b"jpegbytes")
    with pytest.raises(ValidationError):
        campaigns.validate_multimedia(
            session, manager.account_id, {"type": "image", "media_id": stored.id}
        )


def test_upload_needs_a_known_type_and_a_writer(session, manager, viewer):
    with pytest.raises(ValidationError):
        campaigns.store_media(session, manager, "image", "photo", b"bytes")
    with pytest.raises(ValidationError):
        campaigns.store_media(session, manager, "image", "empty.jpg", b"")
    with pytest.raises(PermissionDenied):
        campaigns.store_media(session, viewer, "image", "a.jpg", b"bytes")


def test_audio_carries_no_caption_so_its_text_goes_first():
    from core.sending._claims import message_parts

    assert message_parts({"type": "image"}, "Hi") == ("media",)
    assert message_parts(None, "Hi") == ("text",)
    assert message_parts({"type": "audio"}, "Hi") == ("text", "audio")
    assert message_parts({"type": "audio"}, " ") == ("audio",)
