"""Plain warnings when WhatsApp's receipts (Delivered, Read) cannot or do not arrive
(core.tracking.ReceiptWarning), with what to do: shared by the numbers and campaign pages."""

from __future__ import annotations

import streamlit as st

from core.i18n import _
from core.tracking import RECEIPT_GRACE, ReceiptTrouble, ReceiptWarning

_UNSET_MARK = "PUBLIC_API_URL is not set"


def receipt_text(warning: ReceiptWarning) -> str:
    url = warning.url
    if warning.trouble is ReceiptTrouble.NOT_REGISTERED:
        if warning.error and _UNSET_MARK not in warning.error:
            reason = _("Evolution refused it: {error}").format(error=warning.error)
        elif warning.error:
            reason = _("this tool's public address (PUBLIC_API_URL) is not set")
        else:
            reason = _("it was not registered yet")
        return _(
            "Delivered and Read will stay at 0 for {name}: its webhook is not registered "
            "({reason}). Set PUBLIC_API_URL to an address of this tool's API that the Evolution "
            "server can reach, restart, then press “Re-register webhook” under WhatsApp numbers."
        ).format(name=warning.instance_name, reason=reason)
    if warning.trouble is ReceiptTrouble.LOCAL_ONLY:
        return _(
            "Receipts for {name} may not arrive: its webhook points at {url}, a local address "
            "that only an Evolution server on this same machine can reach. If Evolution runs "
            "elsewhere (or in Docker), set PUBLIC_API_URL to an address it can reach and press "
            "“Re-register webhook” under WhatsApp numbers."
        ).format(name=warning.instance_name, url=url or "—")
    return _(
        "No delivery receipt has come back from {name} for messages sent over {minutes} minutes "
        "ago, so Delivered and Read may be missing, not zero. Check that the Evolution server "
        "can reach {url} (PUBLIC_API_URL), then press “Re-register webhook” under WhatsApp "
        "numbers."
    ).format(
        name=warning.instance_name,
        minutes=int(RECEIPT_GRACE.total_seconds() // 60),
        url=url or "—",
    )


def show(warning: ReceiptWarning) -> None:
    st.warning(receipt_text(warning), icon="📭")
