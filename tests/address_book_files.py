"""Address-book exports as their products write them: every header, the usual empty columns, a
few contacts with the cells that trip an importer (phone lists, labels, system groups).

Shared by tests/test_address_books.py and the browser test of the import.
"""

from __future__ import annotations

import csv
import io

GOOGLE_LEGACY_HEADER = [
    "Name",
    "Given Name",
    "Additional Name",
    "Family Name",
    "Yomi Name",
    "Given Name Yomi",
    "Additional Name Yomi",
    "Family Name Yomi",
    "Name Prefix",
    "Name Suffix",
    "Initials",
    "Nickname",
    "Short Name",
    "Maiden Name",
    "Birthday",
    "Gender",
    "Location",
    "Billing Information",
    "Directory Server",
    "Mileage",
    "Occupation",
    "Hobby",
    "Sensitivity",
    "Priority",
    "Subject",
    "Notes",
    "Language",
    "Photo",
    "Group Membership",
    "E-mail 1 - Type",
    "E-mail 1 - Value",
    "Phone 1 - Type",
    "Phone 1 - Value",
    "Phone 2 - Type",
    "Phone 2 - Value",
    "Organization 1 - Type",
    "Organization 1 - Name",
    "Organization 1 - Yomi Name",
    "Organization 1 - Title",
    "Organization 1 - Department",
    "Organization 1 - Symbol",
    "Organization 1 - Location",
    "Organization 1 - Job Description",
]

GOOGLE_HEADER = [
    "First Name",
    "Middle Name",
    "Last Name",
    "Phonetic First Name",
    "Phonetic Middle Name",
    "Phonetic Last Name",
    "Name Prefix",
    "Name Suffix",
    "Nickname",
    "File As",
    "Organization Name",
    "Organization Title",
    "Organization Department",
    "Birthday",
    "Notes",
    "Photo",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "E-mail 2 - Label",
    "E-mail 2 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
    "Phone 2 - Label",
    "Phone 2 - Value",
    "Address 1 - Label",
    "Address 1 - Formatted",
    "Address 1 - Street",
    "Address 1 - City",
    "Address 1 - PO Box",
    "Address 1 - Region",
    "Address 1 - Postal Code",
    "Address 1 - Country",
    "Address 1 - Extended Address",
    "Website 1 - Label",
    "Website 1 - Value",
]

OUTLOOK_HEADER = [
    "First Name",
    "Middle Name",
    "Last Name",
    "Title",
    "Suffix",
    "Nickname",
    "Given Yomi",
    "Surname Yomi",
    "E-mail Address",
    "E-mail 2 Address",
    "E-mail 3 Address",
    "Home Phone",
    "Home Phone 2",
    "Business Phone",
    "Business Phone 2",
    "Mobile Phone",
    "Car Phone",
    "Other Phone",
    "Primary Phone",
    "Pager",
    "Business Fax",
    "Home Fax",
    "Other Fax",
    "Company Main Phone",
    "Callback",
    "Radio Phone",
    "Telex",
    "TTY/TDD Phone",
    "IMAddress",
    "Job Title",
    "Department",
    "Company",
    "Office Location",
    "Manager's Name",
    "Assistant's Name",
    "Assistant's Phone",
    "Company Yomi",
    "Business Street",
    "Business City",
    "Business State",
    "Business Postal Code",
    "Business Country/Region",
    "Home Street",
    "Home City",
    "Home State",
    "Home Postal Code",
    "Home Country/Region",
    "Other Street",
    "Other City",
    "Other State",
    "Other Postal Code",
    "Other Country/Region",
    "Personal Web Page",
    "Spouse",
    "Schools",
    "Hobby",
    "Location",
    "Web Page",
    "Birthday",
    "Anniversary",
    "Notes",
    "Categories",
    "Gender",
    "Priority",
    "Sensitivity",
    "Private",
]

CHATWOOT_HEADER = [
    "id",
    "name",
    "email",
    "phone_number",
    "identifier",
    "created_at",
    "last_activity_at",
    "company",
]

WHATSAPP_BUSINESS_HEADER = ["Saved Name", "Public Name", "Phone Number", "Labels", "Notes"]


def _csv(header: list[str], rows: list[dict[str, str]], bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue()
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def google_legacy_csv() -> bytes:
    """Google's old export ("Google CSV"): Name and its parts, groups, phone types."""
    return _csv(
        GOOGLE_LEGACY_HEADER,
        [
            {
                "Name": "Ana Souza",
                "Given Name": "Ana",
                "Family Name": "Souza",
                "Group Membership": "* myContacts ::: VIP ::: * starred",
                "E-mail 1 - Type": "* Home",
                "E-mail 1 - Value": "ana@example.com",
                "Phone 1 - Type": "Mobile",
                "Phone 1 - Value": "(21) 99876-5432 ::: +55 21 3222-1111",
                "Organization 1 - Name": "Loja da Ana",
            },
            {
                # The landline comes first; the mobile is in the second column.
                "Name": "Bruno Lima",
                "Given Name": "Bruno",
                "Family Name": "Lima",
                "Group Membership": "* myContacts ::: * Friends ::: Clientes",
                "Phone 1 - Type": "Home",
                "Phone 1 - Value": "+55 11 3333-4444",
                "Phone 2 - Type": "Mobile",
                "Phone 2 - Value": "+55 11 98765-4321",
            },
            {
                "Name": "Caio",
                "Given Name": "Caio",
                "Group Membership": "* myContacts",
                "Phone 1 - Type": "Mobile",
                "Phone 1 - Value": "12 ::: 34",
            },
        ],
    )


def google_csv() -> bytes:
    """Google's current export: First/Middle/Last, Labels, phone labels."""
    return _csv(
        GOOGLE_HEADER,
        [
            {
                "First Name": "Ana",
                "Middle Name": "Maria",
                "Last Name": "Souza",
                "Labels": "* myContacts ::: VIP",
                "E-mail 1 - Label": "* Home",
                "E-mail 1 - Value": "ana@example.com",
                "Phone 1 - Label": "Mobile",
                "Phone 1 - Value": "(21) 99876-5432 ::: +55 21 3222-1111",
            },
            {
                "First Name": "Bruno",
                "Last Name": "Lima",
                "Labels": "* myContacts ::: * starred ::: Clientes ::: VIP",
                "Phone 1 - Label": "Work",
                "Phone 1 - Value": "+55 11 3333-4444",
                "Phone 2 - Label": "Mobile",
                "Phone 2 - Value": "+55 11 98765-4321",
                "Address 1 - City": "São Paulo",
            },
        ],
        bom=True,
    )


def outlook_csv() -> bytes:
    """Outlook's "Export contacts" (CSV): named phone columns, categories split by ';'."""
    common = {"Gender": "Unspecified", "Priority": "Normal", "Sensitivity": "Normal"}
    return _csv(
        OUTLOOK_HEADER,
        [
            common
            | {
                "First Name": "Dora",
                "Last Name": "Alves",
                "E-mail Address": "dora@example.com",
                "Business Phone": "+55 21 3222-1111",
                "Mobile Phone": "(21) 99876-1111",
                "Company": "Padaria Central",
                "Categories": "VIP;Fornecedores",
                "Private": "False",
            },
            common
            | {
                "First Name": "Edu",
                "Last Name": "Rocha",
                "Business Phone": "+55 11 98765-2222",  # no mobile: the business phone it is
                "Categories": "Clientes",
                "Private": "False",
            },
        ],
    )


def chatwoot_csv() -> bytes:
    """Chatwoot's contacts export: its column names as they are (snake_case), E.164 phones."""
    return _csv(
        CHATWOOT_HEADER,
        [
            {
                "id": "101",
                "name": "Fabi Nunes",
                "email": "fabi@example.com",
                "phone_number": "+5521998763333",
                "identifier": "",
                "created_at": "2026-01-10 12:00:00 UTC",
                "last_activity_at": "2026-01-12 09:00:00 UTC",
                "company": "Salão da Fabi",
            },
            {
                "id": "102",
                "name": "Gil",
                "email": "",
                "phone_number": "+5511987654444",
                "identifier": "crm-77",
                "created_at": "2026-01-11 08:00:00 UTC",
                "last_activity_at": "",
                "company": "",
            },
        ],
    )


def whatsapp_business_csv() -> bytes:
    """A WhatsApp Business contacts export (the labels tools): saved and public names."""
    return _csv(
        WHATSAPP_BUSINESS_HEADER,
        [
            {
                "Saved Name": "Helena",
                "Public Name": "Lena 🌸",
                "Phone Number": "+55 21 99876-5555",
                "Labels": "New customer, Paid",
            },
        ],
    )
