"""Campaign attachments: image, video, document or audio, by URL or uploaded into the database.

The seed's shape is kept: `{"type", "url", "filename"}`, plus `mimetype` and, for uploads,
`media_id` (a `MediaFile` of the account, sent as base64 so Evolution needs no access to us).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import NotFound, ValidationError, check_outbound_url
from core.i18n import Term
from core.models import MediaFile, MediaType
from core.people import Actor, require

MB = 1024 * 1024
# WhatsApp's limits.
MAX_BYTES = {
    MediaType.IMAGE: 5 * MB,
    MediaType.VIDEO: 16 * MB,
    MediaType.AUDIO: 16 * MB,
    MediaType.DOCUMENT: 100 * MB,
}
MIMETYPES = {
    MediaType.IMAGE: ("image/jpeg", "image/png"),
    MediaType.VIDEO: ("video/mp4", "video/3gpp"),
    MediaType.AUDIO: ("audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg"),
    MediaType.DOCUMENT: None,  # any type: WhatsApp delivers documents as files
}
KEYS = ("type", "url", "media_id", "filename", "mimetype")
_MIMETYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_BAD_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_EXTRA_TYPES = {
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".amr": "audio/amr",
    ".3gp": "video/3gpp",
}


def guess_mimetype(filename: str) -> str | None:
    lower = filename.lower()
    for suffix, mimetype in _EXTRA_TYPES.items():
        if lower.endswith(suffix):
            return mimetype
    return mimetypes.guess_type(lower)[0]


def validate_filename(filename: Any, field: str = "multimedia.filename") -> str:
    if not isinstance(filename, str) or not filename.strip():
        raise ValidationError("file name must not be empty", field)
    name = filename.strip()
    if len(name) > 255:
        raise ValidationError("file name is longer than 255 characters", field)
    if _BAD_FILENAME.search(name) or name in (".", "..") or name.startswith("."):
        raise ValidationError(
            'file name {name!r} may not contain / \\ : * ? " < > | or control characters, '
            "nor start with a dot",
            field,
            name=name,
        )
    return name


def _media_type(value: Any) -> MediaType:
    try:
        return MediaType(value)
    except ValueError:
        raise ValidationError(
            "multimedia.type must be one of {choices} (got {value!r})",
            "multimedia.type",
            choices=", ".join(MediaType),
            value=value,
        ) from None


def _check_mimetype(media_type: MediaType, mimetype: str | None) -> str | None:
    if mimetype is None:
        return None
    mimetype = mimetype.strip().lower()
    if not _MIMETYPE.match(mimetype):
        raise ValidationError(
            "{mimetype!r} is not a MIME type", "multimedia.mimetype", mimetype=mimetype
        )
    allowed = MIMETYPES[media_type]
    if allowed is not None and mimetype not in allowed:
        raise ValidationError(
            "WhatsApp does not send {mimetype} as {media_type}: use {choices}",
            "multimedia.mimetype",
            mimetype=mimetype,
            media_type=Term(media_type),
            choices=", ".join(allowed),
        )
    return mimetype


def _check_size(media_type: MediaType, size: int, field: str) -> None:
    limit = MAX_BYTES[media_type]
    if size > limit:
        raise ValidationError(
            "the {media_type} is {size:.1f} MB; WhatsApp allows {limit} MB",
            field,
            media_type=Term(media_type),
            size=size / MB,
            limit=limit // MB,
        )
    if size == 0:
        raise ValidationError("the file is empty", field)


def validate_multimedia(
    session: Session, account_id: int, multimedia: Any
) -> dict[str, Any] | None:
    """The attachment checked and normalised (None/{} means none). Sizes of URLs are checked
    by WhatsApp when sent; uploads are checked here against the type's limit."""
    if multimedia is None or multimedia == {}:
        return None
    if not isinstance(multimedia, Mapping):
        raise ValidationError("multimedia must be an object", "multimedia")
    unknown = sorted(str(k) for k in multimedia if k not in KEYS)
    if unknown:
        raise ValidationError(
            "multimedia has an unknown key {key!r} (use {choices})",
            f"multimedia.{unknown[0]}",
            key=unknown[0],
            choices=", ".join(KEYS),
        )
    media_type = _media_type(multimedia.get("type"))
    url, media_id = multimedia.get("url"), multimedia.get("media_id")
    if bool(url) == bool(media_id):
        raise ValidationError("multimedia needs either a url or an uploaded file", "multimedia.url")
    result: dict[str, Any] = {"type": str(media_type)}
    filename = multimedia.get("filename")
    mimetype = multimedia.get("mimetype")
    if url:
        parsed = urlparse(str(url).strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError("multimedia.url must be an http(s) URL", "multimedia.url")
        # Evolution fetches it from its host, often ours too: never a metadata address.
        check_outbound_url(str(url).strip(), "multimedia.url")
        result["url"] = str(url).strip()
        if not filename:
            tail = unquote(parsed.path.rsplit("/", 1)[-1])
            filename = tail or None
    else:
        stored = _media_file(session, account_id, media_id)
        _check_size(media_type, stored.size, "multimedia.media_id")
        result["media_id"] = stored.id
        filename = filename or stored.filename
        mimetype = mimetype or stored.mimetype
    if filename:
        result["filename"] = validate_filename(filename)
    elif media_type == MediaType.DOCUMENT:
        raise ValidationError("a document needs a file name", "multimedia.filename")
    guessed = guess_mimetype(result["filename"]) if filename and not mimetype else None
    checked = _check_mimetype(media_type, mimetype or guessed)
    if checked:
        result["mimetype"] = checked
    return result


def _media_file(session: Session, account_id: int, media_id: Any) -> MediaFile:
    if isinstance(media_id, bool) or not isinstance(media_id, int | str):
        raise ValidationError("multimedia.media_id must be a number", "multimedia.media_id")
    try:
        number = int(media_id)
    except ValueError:
        raise ValidationError(
            "multimedia.media_id must be a number", "multimedia.media_id"
        ) from None
    stored = session.get(MediaFile, number)
    if stored is None or stored.account_id != account_id:
        raise ValidationError("uploaded file {id} does not exist", "multimedia.media_id", id=number)
    return stored


def store_media(
    session: Session,
    actor: Actor,
    media_type: str,
    filename: str,
    data: bytes,
    mimetype: str | None = None,
) -> MediaFile:
    """Keep an uploaded file in the database (every worker can read it); same bytes, same row."""
    require(actor, "campaigns.write")
    kind = _media_type(media_type)
    name = validate_filename(filename, "multimedia.filename")
    _check_size(kind, len(data), "multimedia.media_id")
    checked = _check_mimetype(kind, mimetype or guess_mimetype(name))
    if checked is None:
        raise ValidationError(
            "cannot tell the type of {name!r}: give a file name with an extension",
            "multimedia.filename",
            name=name,
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(
        select(MediaFile).where(
            MediaFile.account_id == actor.account_id,
            MediaFile.sha256 == digest,
            MediaFile.filename == name,
        )
    )
    if existing is not None:
        return existing
    stored = MediaFile(
        account_id=actor.account_id,
        filename=name,
        mimetype=checked,
        size=len(data),
        sha256=digest,
        data=data,
    )
    session.add(stored)
    session.flush()
    return stored


class EvolutionMedia(NamedTuple):
    mediatype: str
    media: str  # an http(s) URL, or raw base64 (no data: prefix)
    file_name: str | None
    mimetype: str | None


def evolution_media(session: Session, multimedia: Mapping[str, Any]) -> EvolutionMedia:
    """What `EvolutionClient.send_media` needs for a campaign's (validated) attachment.

    How the worker sends a recipient of a campaign with media:
    - image, video, document: one `send_media(number, mediatype, media, caption=rendered_text,
      file_name=..., mimetype=...)`; an empty rendered text means no caption.
    - audio (no caption in WhatsApp): two messages. First the rendered
      text with `send_text` (skipped when empty), then the audio with
      `send_media(..., mediatype="audio", caption=None)`. Record the first part's success on
      the recipient (`parts_sent`) before sending the audio, so that a retry after the text
      went out sends only the audio: the contact must never get the text twice. Both calls
      go through the instance's pacing; the recipient is `sent` (with the audio's key.id)
      once the audio is accepted.
    """
    media_type = MediaType(multimedia["type"])
    if multimedia.get("url"):
        return EvolutionMedia(
            str(media_type),
            multimedia["url"],
            multimedia.get("filename"),
            multimedia.get("mimetype"),
        )
    stored = session.get(MediaFile, int(multimedia["media_id"]))
    if stored is None:
        raise NotFound("uploaded file {id} no longer exists", id=multimedia["media_id"])
    return EvolutionMedia(
        str(media_type),
        base64.b64encode(stored.data).decode("ascii"),
        multimedia.get("filename") or stored.filename,
        multimedia.get("mimetype") or stored.mimetype,
    )
