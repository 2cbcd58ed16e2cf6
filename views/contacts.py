"""Contacts: import a CSV (mapping preview, progress, report), browse and filter, edit, export."""

from __future__ import annotations

from typing import Any, BinaryIO

import pandas as pd
import streamlit as st

from core import campaigns, contacts, people
from core.base import DomainError, stored_text
from core.i18n import _, format_number, localize_entry, localize_error, ngettext
from core.models import WhatsAppStatus
from ui import attributes, contact_choices
from ui.context import local_time, require_page
from ui.countries import browser_country
from ui.session import db

actor = require_page("contacts.read")
BATCH_KEY = "contacts_import_batch"
PAGE_SIZES = [25, 50, 100, 200]
SHOWN_REPORT_ROWS = 100


def target_label(target: str) -> str:
    return {
        contacts.ColumnTarget.PHONE: _("Phone"),
        contacts.ColumnTarget.OTHER_PHONE: _("Other phone"),
        contacts.ColumnTarget.NAME: _("Name"),
        contacts.ColumnTarget.LABELS: _("Labels"),
        contacts.ColumnTarget.TEXT: _("Attribute (text)"),
        contacts.ColumnTarget.NUMBER: _("Attribute (number)"),
        contacts.ColumnTarget.BOOLEAN: _("Attribute (true/false)"),
        contacts.ColumnTarget.AUTO: _("Attribute (detect numbers, true/false)"),
        contacts.ColumnTarget.SKIP: _("Skip"),
    }[target]


def delimiter_label(name: str) -> str:
    return {"comma": _("comma"), "semicolon": _("semicolon"), "tab": _("tab"), "pipe": _("pipe")}[
        name
    ]


def status_label(status: str) -> str:
    return {
        WhatsAppStatus.UNKNOWN: _("unknown"),
        WhatsAppStatus.EXISTS: _("on WhatsApp"),
        WhatsAppStatus.NOT_ON_WHATSAPP: _("not on WhatsApp"),
    }.get(status, status)


def show_error(error: DomainError) -> None:
    st.error(localize_error(error))


def import_upload(
    upload: BinaryIO,
    filename: str,
    mapping: dict[str, str],
    country: str | None,
    progress: Any = None,
) -> int | None:
    """Run the import of an uploaded file; the report's id, or None after showing the error."""
    try:
        with db() as session:
            batch = contacts.import_contacts(
                session, actor, upload, filename, mapping, country or None, progress
            )
            return batch.id
    except DomainError as error:
        show_error(error)
        return None


def import_section() -> None:
    upload = st.file_uploader(
        _("CSV file (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe)"),
        type=["csv", "txt", "tsv"],
        key="contacts_upload",
    )
    if upload is None:
        return
    try:
        shown = contacts.preview_file(upload)
    except DomainError as error:
        show_error(error)
        return
    st.caption(
        _("{encoding}, {delimiter}-separated, {columns} columns. First rows:").format(
            encoding=shown.format.encoding_name,
            delimiter=delimiter_label(shown.format.delimiter_name),
            columns=len(shown.columns),
        )
    )
    st.dataframe(
        pd.DataFrame(shown.rows, columns=pd.Index(shown.columns)), hide_index=True, width="stretch"
    )
    if shown.address_book:
        st.info(
            _(
                "Recognised a {book} export: the phone (a mobile first), the name and the "
                "labels are chosen below, and the columns it leaves empty are skipped."
            ).format(book=shown.address_book)
        )
    st.markdown(_("**What is in each column?**"))
    mapping: dict[str, str] = {}
    grid = st.columns(min(4, len(shown.columns)))
    targets = list(contacts.ColumnTarget)
    for index, column in enumerate(shown.columns):
        mapping[column] = grid[index % len(grid)].selectbox(
            column,
            targets,
            index=targets.index(shown.mapping[column]),
            format_func=target_label,
            key=f"contacts_map_{index}",
        )
    if contacts.ColumnTarget.OTHER_PHONE in mapping.values():
        st.caption(
            _(
                "Other phone: used when a row's phone is empty or not a valid number, and "
                "first when its label says mobile."
            )
        )
    with db() as session:
        offered = people.import_country(session, actor)  # their last choice, else the account's
    suggested = None if offered else browser_country()
    country = st.text_input(
        _("Country for numbers written without +country code (two letters)"),
        value=offered or suggested or "",
        max_chars=2,
        key="contacts_country",
    )
    if suggested and country == suggested:
        st.caption(
            _(
                "{country}, from your browser: the account has no default country (Account "
                "settings). Your choice is remembered for your next import."
            ).format(country=suggested)
        )
    elif not country:
        st.caption(
            _(
                "No country: only numbers written with +country code (+55 11 98765-4321) can "
                "be imported. Type two letters (BR, MX, US...) for the others."
            )
        )
    if st.button(_("Import contacts"), type="primary", key="contacts_import"):
        bar = st.progress(0.0, text=_("Reading the file…"))

        def progress(fraction: float, rows: int) -> None:
            bar.progress(fraction, text=_("{rows} rows read").format(rows=f"{rows:,}"))

        batch_id = import_upload(upload, upload.name, mapping, country, progress)
        bar.empty()  # a refused file leaves its error, not "Reading the file…" and an empty bar
        if batch_id is not None:
            st.session_state[BATCH_KEY] = batch_id
            st.rerun()  # the contact list above was drawn before the import: draw it again


def report_section(batch_id: int) -> None:
    try:
        with db() as session:
            batch = contacts.get_batch(session, actor, batch_id)
            rejected_file = contacts.rejected_csv(batch) if batch.rejected_count else None
            rejected = list(contacts.rejected_rows(batch))[:SHOWN_REPORT_ROWS]
            merged = list(contacts.merged_rows(batch))[:SHOWN_REPORT_ROWS]
    except DomainError as error:
        show_error(error)
        return
    st.subheader(_("Import of {file}").format(file=batch.filename))
    st.caption(stored_text.localized(batch.message_text, batch.message))
    for column, (label, value) in zip(
        st.columns(5),
        [
            (_("Created"), batch.created_count),
            (_("Updated"), batch.updated_count),
            (_("Unchanged"), batch.unchanged_count),
            (_("Duplicates merged"), batch.merged_count),
            (_("Rejected"), batch.rejected_count),
        ],
        strict=True,
    ):
        column.metric(label, f"{value:,}")
    if rejected_file is not None:
        st.dataframe(
            pd.DataFrame(
                [{_("Row"): e["row"], _("Reason"): localize_entry(e, "reason")} for e in rejected],
            ),
            hide_index=True,
            width="stretch",
        )
        st.download_button(
            _("Download the rejected rows (CSV)"),
            rejected_file,
            file_name=f"rejected-{batch.filename}",
            mime="text/csv",
            key="contacts_rejected_download",
        )
    if merged:
        with st.expander(_("Rows merged with an earlier row of the same phone")):
            st.dataframe(
                pd.DataFrame(
                    [{_("Row"): e["row"], _("Reason"): localize_entry(e, "reason")} for e in merged]
                ),
                hide_index=True,
                width="stretch",
            )


def filters_section() -> contacts.ContactFilters:
    with db() as session:
        label_options = contacts.label_names(session, actor)
    keys = contact_choices.attribute_keys(actor)
    first, second, third = st.columns([2, 2, 2])
    search = first.text_input(_("Search name or phone"), key="contacts_search")
    labels = second.multiselect(_("Labels"), label_options, key="contacts_labels")
    match_all = second.toggle(_("Must have all these labels"), key="contacts_labels_all")
    attribute = third.selectbox(
        _("Attribute"), ["", *keys], format_func=lambda k: k or _("(any)"), key="contacts_attr"
    )
    value = third.text_input(_("equals (empty: has the attribute)"), key="contacts_attr_value")
    left, right = st.columns(2)
    opted = left.selectbox(
        _("Opt-out"),
        ["all", "subscribed", "opted_out"],
        format_func=lambda v: {
            "all": _("Everyone"),
            "subscribed": _("Not opted out"),
            "opted_out": _("Opted out"),
        }[v],
        key="contacts_opted",
    )
    status = right.selectbox(
        _("WhatsApp status"),
        ["", *[s.value for s in WhatsAppStatus]],
        format_func=lambda v: status_label(v) if v else _("(any)"),
        key="contacts_status",
    )
    return contacts.ContactFilters(
        search=search,
        labels=labels,
        labels_match="all" if match_all else "any",
        attribute=attribute or None,
        attribute_value=value if attribute else None,
        opted_out={"all": None, "subscribed": False, "opted_out": True}[opted],
        whatsapp_status=status or None,
    )


def table_section(filters: contacts.ContactFilters) -> list[dict[str, Any]]:
    size_column, page_column = st.columns([1, 1])
    per_page = size_column.selectbox(_("Per page"), PAGE_SIZES, index=1, key="contacts_per_page")
    page = int(page_column.number_input(_("Page"), min_value=1, step=1, key="contacts_page"))
    with db() as session:
        rows, total = contacts.list_contacts(session, actor, filters, page, per_page)
        shown = [contacts.contact_json(row) | {"updated_at": row.updated_at} for row in rows]
    pages = max(1, -(-total // per_page))
    st.caption(
        ngettext(
            "{total} contact · page {page} of {pages}",
            "{total} contacts · page {page} of {pages}",
            total,
        ).format(total=format_number(total), page=page, pages=format_number(pages))
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Phone"): c["phone"],
                    _("Name"): c["name"] or "",
                    _("Labels"): ", ".join(c["labels"]),
                    _("Attributes"): attributes.summary(c["custom_attributes"]),
                    _("Opted out"): c["opted_out"],
                    _("WhatsApp"): status_label(c["whatsapp_status"]),
                    _("Updated"): local_time(c["updated_at"]),
                }
                for c in shown
            ],
            columns=[
                _("Phone"),
                _("Name"),
                _("Labels"),
                _("Attributes"),
                _("Opted out"),
                _("WhatsApp"),
                _("Updated"),
            ],
        ),
        hide_index=True,
        width="stretch",
    )
    return shown


def export_section(filters: contacts.ContactFilters) -> None:
    def build() -> bytes:
        with db() as session:
            return b"".join(contacts.export_csv(session, actor, filters))

    st.download_button(
        _("Export these contacts (CSV)"),
        build,
        file_name="contacts.csv",
        mime="text/csv",
        key="contacts_export",
    )


def run_change(action: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        with db() as session:
            action(session, actor, *args, **kwargs)
    except DomainError as error:
        show_error(error)
        return False
    return True


def edit_section(shown: list[dict[str, Any]]) -> None:
    if not shown:
        return
    by_id = {c["id"]: c for c in shown}
    contact_id = st.selectbox(
        _("Contact"),
        list(by_id),
        format_func=lambda i: f"{by_id[i]['phone']} — {by_id[i]['name'] or ''}",
        key="contacts_pick",
    )
    chosen = by_id[contact_id]
    with st.form(f"contacts_edit_{contact_id}"):
        name = st.text_input(_("Name"), value=chosen["name"] or "")
        labels = st.text_input(_("Labels (separated by commas)"), value=", ".join(chosen["labels"]))
        st.write(_("Attributes"))
        table = attributes.editor(chosen["custom_attributes"], f"contacts_attributes_{contact_id}")
        saved = st.form_submit_button(_("Save"), type="primary")
    if saved and run_change(
        contacts.update_contact,
        contact_id,
        name=name,
        labels=[labels],
        custom_attributes=attributes.values(table),
    ):
        st.success(_("Saved."))
        st.rerun()
    left, right = st.columns(2)
    if chosen["opted_out"]:
        if left.button(_("Opt back in"), key="contacts_opt_in") and run_change(
            campaigns.set_opted_out, contact_id, False
        ):
            st.rerun()
    elif left.button(_("Opt out"), key="contacts_opt_out") and run_change(
        campaigns.set_opted_out, contact_id, True
    ):
        st.rerun()
    sure = right.checkbox(_("Yes, delete this contact"), key="contacts_delete_sure")
    if right.button(_("Delete"), disabled=not sure, key="contacts_delete") and run_change(
        contacts.delete_contact, contact_id
    ):
        st.rerun()


def add_section() -> None:
    with st.form("contacts_add", clear_on_submit=True):
        phone = st.text_input(_("Phone"))
        name = st.text_input(_("Name"))
        labels = st.text_input(_("Labels (separated by commas)"))
        added = st.form_submit_button(_("Add contact"))
    if added and run_change(contacts.create_contact, phone, name, [labels]):
        st.success(_("Contact added."))


st.title(_("Contacts"))
can_write = actor.can("contacts.write")
can_import = actor.can("contacts.import")
browse, bring = st.tabs([_("Contacts"), _("Import CSV")]) if can_import else (st.container(), None)

with browse:
    filters = filters_section()
    shown = table_section(filters)
    export_section(filters)
    if can_write:
        with st.expander(_("Edit a contact on this page"), expanded=False):
            edit_section(shown)
        with st.expander(_("Add a contact")):
            add_section()

if bring is not None:
    with bring:
        import_section()
        batch_id = st.session_state.get(BATCH_KEY)
        if batch_id is not None:
            report_section(batch_id)
        with db() as session:
            recent = contacts.recent_batches(session, actor, 5)
            history = [
                {
                    _("When"): local_time(b.created_at),
                    _("File"): b.filename,
                    _("Created"): b.created_count,
                    _("Updated"): b.updated_count,
                    _("Unchanged"): b.unchanged_count,
                    _("Merged"): b.merged_count,
                    _("Rejected"): b.rejected_count,
                }
                for b in recent
            ]
        if history:
            st.caption(_("Recent imports"))
            st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")
