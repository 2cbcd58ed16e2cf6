"""The campaign editor's audience: labels, attribute conditions and chosen contacts, as criteria."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from core import contacts
from core.i18n import _
from core.people import Actor
from ui import form_state, streamlit_texts
from ui.session import db

MAX_CONDITIONS = 5
FOUND_CONTACTS = 20  # contacts offered for a search


def load(
    state: MutableMapping[str, Any], key: str, source: dict[str, Any], label_choices: list[str]
) -> None:
    """Fill the inputs from a campaign's JSON; labels since deleted are left out."""
    crit = source.get("audience") or {}
    state[key + "labels"] = [x for x in crit.get("labels", []) if x in label_choices]
    state[key + "labels_match"] = crit.get("labels_match", "any")
    state[key + "exclude"] = [x for x in crit.get("exclude_labels", []) if x in label_choices]
    state[key + "contact_ids"] = list(crit.get("contact_ids", []))
    conditions = list((crit.get("custom_attributes") or {}).items())[:MAX_CONDITIONS]
    state[key + "conditions"] = len(conditions)
    for n, (name, given) in enumerate(conditions):
        state[f"{key}attr_key_{n}"] = name
        state[f"{key}attr_values_{n}"] = ", ".join(str(v) for v in given)


def inputs(
    state: MutableMapping[str, Any],
    key: str,
    actor: Actor,
    label_choices: list[str],
    attribute_choices: list[str],
) -> None:
    st.subheader(_("Audience"))
    _label_inputs(key, label_choices)
    _condition_inputs(state, key, attribute_choices)
    _contact_inputs(state, key, actor)


def _label_inputs(key: str, label_choices: list[str]) -> None:
    a_left, a_right = st.columns(2)
    if not label_choices:  # an empty list would show Streamlit's English "No options to select"
        a_left.caption(_("No labels yet: contacts get them when imported or edited."))
        return
    a_left.multiselect(
        _("With labels"),
        label_choices,
        key=key + "labels",
        placeholder=_("Choose labels"),
        select_all=streamlit_texts.select_all(),
    )
    a_left.radio(
        _("Contacts need"),
        ["any", "all"],
        format_func={"any": _("any of these labels"), "all": _("all of these labels")}.get,
        key=key + "labels_match",
        horizontal=True,
    )
    a_right.multiselect(
        _("Without labels"),
        label_choices,
        key=key + "exclude",
        placeholder=_("Choose labels"),
        select_all=streamlit_texts.select_all(),
    )


def _condition_inputs(
    state: MutableMapping[str, Any], key: str, attribute_choices: list[str]
) -> None:
    st.write(_("Attribute conditions (a list of values separated by commas matches any of them)"))

    def remove_condition(n: int) -> None:
        """Drop condition n: the ones below move up a row (a callback: before the widgets draw)."""
        count = state.get(key + "conditions", 0)
        for i in range(n, count - 1):
            state[f"{key}attr_key_{i}"] = state.get(f"{key}attr_key_{i + 1}", "")
            state[f"{key}attr_values_{i}"] = state.get(f"{key}attr_values_{i + 1}", "")
        state.pop(f"{key}attr_key_{count - 1}", None)
        state.pop(f"{key}attr_values_{count - 1}", None)
        state[key + "conditions"] = max(count - 1, 0)

    def add_condition() -> None:
        n = state.get(key + "conditions", 0)
        state[key + "conditions"] = n + 1
        form_state.keep([f"{key}attr_key_{n}", f"{key}attr_values_{n}"])

    for n in range(state.get(key + "conditions", 0)):
        c_key, c_values, c_remove = st.columns([5, 5, 1], vertical_alignment="bottom")
        c_remove.button(
            "✕",
            key=f"{key}remove_condition_{n}",
            help=_("Remove this condition"),
            on_click=remove_condition,
            args=(n,),
        )
        c_key.selectbox(
            _("Attribute"),
            [""] + attribute_choices,
            key=f"{key}attr_key_{n}",
            label_visibility="collapsed",
        )
        c_values.text_input(
            _("Values"),
            key=f"{key}attr_values_{n}",
            label_visibility="collapsed",
            placeholder=_("Values"),
        )
    if state.get(key + "conditions", 0) < MAX_CONDITIONS and attribute_choices:
        st.button(_("Add a condition"), on_click=add_condition)


def _contact_inputs(state: MutableMapping[str, Any], key: str, actor: Actor) -> None:
    search = st.text_input(_("Pick contacts by name or phone"), key=key + "search")
    with db() as session:
        chosen = contacts.contacts_by_ids(session, actor, state.get(key + "contact_ids", []))
        found = contacts.find_contacts(session, actor, search, FOUND_CONTACTS) if search else []
    contact_labels = {c["id"]: f"{c['name'] or ''} {c['phone']}".strip() for c in [*chosen, *found]}
    state[key + "contact_ids"] = [
        i for i in state.get(key + "contact_ids", []) if i in contact_labels
    ]
    if contact_labels:  # nothing found or chosen: no empty list in Streamlit's English
        st.multiselect(
            _("Only these contacts"),
            list(contact_labels),
            placeholder=_("Search above, then choose"),
            format_func=lambda cid: contact_labels.get(cid, str(cid)),
            key=key + "contact_ids",
            select_all=streamlit_texts.select_all(),
        )


def criteria(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    """The audience criteria the inputs say, as core.audience takes them."""
    result: dict[str, Any] = {}
    if state.get(key + "contact_ids"):
        result["contact_ids"] = list(state[key + "contact_ids"])
    if state.get(key + "labels"):
        result["labels"] = list(state[key + "labels"])
        result["labels_match"] = state.get(key + "labels_match", "any")
    if state.get(key + "exclude"):
        result["exclude_labels"] = list(state[key + "exclude"])
    conditions: dict[str, Any] = {}
    for n in range(state.get(key + "conditions", 0)):
        name = state.get(f"{key}attr_key_{n}")
        given = [
            v.strip() for v in str(state.get(f"{key}attr_values_{n}", "")).split(",") if v.strip()
        ]
        if name and given:
            conditions[name] = given if len(given) > 1 else given[0]
    if conditions:
        result["custom_attributes"] = conditions
    return result


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    return {"audience": criteria(state, key)}
