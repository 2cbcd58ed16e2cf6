"""Contacts: an account's address book and how it fills up.

The package owns the contacts, their labels and custom attributes, and every way in and out of
them: phone numbers read as E.164 (`normalize_phone`), finding contacts (the filtered list,
look-ups for pickers, label and attribute names), editing and opt-out (a STOP reply comes in
through `opt_out_by_phone`), the import's checks for contacts from elsewhere (`vet_contact`),
the CSV export, and the CSV import — how the file is read, which
column holds what (`ColumnTarget`, suggested from the headers by `preview_file`, which
recognises Google, Outlook, Chatwoot and WhatsApp Business exports), the row parser, planner and
writer behind `import_contacts`, and the report staff read afterwards. Every function that reads
or writes an account's data takes the `Actor` first and checks its role itself.
"""

from core.contacts._columns import ColumnTarget, Preview, preview_file
from core.contacts._editing import (
    create_contact,
    delete_contact,
    mark_not_on_whatsapp,
    opt_out_by_phone,
    set_opted_out,
    update_contact,
)
from core.contacts._export import export_csv
from core.contacts._fields import (
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    check_attribute_value,
)
from core.contacts._import_reports import (
    batch_json,
    get_batch,
    merged_rows,
    recent_batches,
    rejected_csv,
    rejected_rows,
)
from core.contacts._importer import import_contacts
from core.contacts._listing import (
    ContactFilters,
    attribute_keys,
    attribute_keys_used,
    contact_json,
    contacts_by_ids,
    contacts_version,
    find_contacts,
    get_contact,
    label_names,
    list_contacts,
)
from core.contacts._phones import normalize_phone
from core.contacts._revision import bump_contacts_revision, contacts_revision
from core.contacts._row_parser import RowRejected, vet_contact

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_VALUE",
    "check_attribute_value",
    "RowRejected",
    "bump_contacts_revision",
    "vet_contact",
    "contacts_revision",
    "mark_not_on_whatsapp",
    "ColumnTarget",
    "ContactFilters",
    "Preview",
    "attribute_keys",
    "attribute_keys_used",
    "batch_json",
    "contact_json",
    "contacts_by_ids",
    "contacts_version",
    "create_contact",
    "delete_contact",
    "export_csv",
    "find_contacts",
    "get_batch",
    "get_contact",
    "import_contacts",
    "label_names",
    "list_contacts",
    "merged_rows",
    "normalize_phone",
    "opt_out_by_phone",
    "preview_file",
    "recent_batches",
    "rejected_csv",
    "rejected_rows",
    "set_opted_out",
    "update_contact",
]
