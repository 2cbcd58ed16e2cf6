"""The campaign editor's attachment: none, by URL, or an uploaded file (core.campaigns.store_media)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core import campaigns
from core.base import ValidationError
from core.i18n import _, localize_error
from core.models import MediaType
from core.people import Actor
from ui import field_errors
from ui.session import db


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    mm = source.get("multimedia") or {}
    state[key + "media_mode"] = (
        "upload" if mm.get("media_id") else ("url" if mm.get("url") else "none")
    )
    state[key + "media_type"] = mm.get("type", "image")
    state[key + "media_url"] = mm.get("url", "")
    state[key + "media_filename"] = mm.get("filename", "")
    state[key + "media_id"] = mm.get("media_id")


def inputs(
    state: MutableMapping[str, Any], key: str, actor: Actor, errors: Mapping[str, list[str]]
) -> UploadedFile | None:
    """Draw the attachment inputs, storing a new upload at once; the file uploaded, if any."""
    upload = None
    with st.expander(_("Media"), expanded=state[key + "media_mode"] != "none"):
        st.radio(
            _("Attachment"),
            ["none", "url", "upload"],
            format_func={"none": _("None"), "url": _("By URL"), "upload": _("Upload a file")}.get,
            key=key + "media_mode",
            horizontal=True,
        )
        if state[key + "media_mode"] != "none":
            st.selectbox(
                _("Type"),
                [str(t) for t in MediaType],
                format_func=lambda t: {
                    "image": _("Image (up to 5 MB)"),
                    "video": _("Video (up to 16 MB)"),
                    "audio": _("Audio (up to 16 MB)"),
                    "document": _("Document (up to 100 MB)"),
                }[t],
                key=key + "media_type",
            )
            if state[key + "media_type"] == "audio":
                st.caption(_("Audio has no caption: the message is sent just before it."))
        if state[key + "media_mode"] == "url":
            st.text_input(_("URL"), key=key + "media_url", placeholder="https://")
            st.text_input(_("File name"), key=key + "media_filename")
        elif state[key + "media_mode"] == "upload":
            upload = st.file_uploader(_("File"), key=key + "upload")
            if upload is not None and state.get(key + "upload_file_id") != upload.file_id:
                try:
                    with db() as session:
                        stored = campaigns.store_media(
                            session,
                            actor,
                            state[key + "media_type"],
                            upload.name,
                            upload.getvalue(),
                            upload.type,
                        )
                        state[key + "media_id"] = stored.id
                        state[key + "upload_file_id"] = upload.file_id
                except ValidationError as error:
                    st.error(localize_error(error), icon="⚠️")
            if state.get(key + "media_id"):
                st.caption(
                    _("Uploaded file #{id} will be sent.").format(id=state[key + "media_id"])
                )
        field_errors.show(errors, "multimedia")
    return upload


def thumbnail(state: MutableMapping[str, Any], key: str, upload: UploadedFile | None) -> Any:
    """The image they will get (a URL or the uploaded bytes), or None: no image to show."""
    if state.get(key + "media_type") != "image":
        return None
    media_url = str(state.get(key + "media_url") or "").strip()
    if state.get(key + "media_mode") == "url" and media_url.startswith(("http://", "https://")):
        return media_url
    if state.get(key + "media_mode") == "upload" and upload is not None:
        return upload.getvalue()
    return None


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    mode = state.get(key + "media_mode", "none")
    if mode == "url":
        result = {
            "type": state[key + "media_type"],
            "url": state.get(key + "media_url", "").strip(),
        }
        if state.get(key + "media_filename", "").strip():
            result["filename"] = state[key + "media_filename"].strip()
        return {"multimedia": result}
    if mode == "upload":
        return {
            "multimedia": {
                "type": state[key + "media_type"],
                "media_id": state.get(key + "media_id"),
            }
        }
    return {"multimedia": None}
