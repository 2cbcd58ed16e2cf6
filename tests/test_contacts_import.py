"""CSV import: every format quirk, every rejection reason, the merge rules, all-or-nothing."""

from __future__ import annotations

import codecs
import csv
import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.base import PermissionDenied, ValidationError, session_scope, utcnow
from core.contacts import (
    ColumnTarget,
    import_contacts,
    merged_rows,
    preview_file,
    rejected_csv,
    rejected_rows,
)
from core.contacts import _import_producer as import_producer
from core.contacts import _import_writing as import_writing
from core.contacts import _importer as contacts_import
from core.contacts._csv_reading import detect_format
from core.models import Account, Contact, ImportBatch, Role
from core.people import Actor
from tests.builders import make_account, make_contact
from tests.worker_harness import ROOT


def run(session: Session, actor: Actor, content: bytes | str, **options) -> ImportBatch:
    data = content.encode("utf-8") if isinstance(content, str) else content
    batch = import_contacts(
        session, actor, io.BytesIO(data), options.pop("filename", "c.csv"), **options
    )
    session.commit()
    return batch


def stored(session: Session, account_id: int) -> dict[str, Contact]:
    session.expire_all()
    return {
        c.phone: c for c in session.scalars(select(Contact).where(Contact.account_id == account_id))
    }


def errors(batch: ImportBatch) -> dict[int, str]:
    return {e["row"]: e["reason"] for e in rejected_rows(batch)}


def accounted(batch: ImportBatch) -> int:
    return (
        batch.created_count
        + batch.updated_count
        + batch.unchanged_count
        + batch.merged_count
        + batch.rejected_count
    )


def _use_producer(monkeypatch: pytest.MonkeyPatch, producer: str) -> int:
    """Where the file is read and planned, whatever its size: `processes` for import_contacts."""
    monkeypatch.setattr(import_producer, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(import_producer, "INTERPRETER_MIN_BYTES", 0)
    monkeypatch.setattr(import_producer, "_fork_is_safe", lambda: producer == "fork")
    return 0 if producer == "here" else 1


def _started_interpreters(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command lines of the processes the producer starts (they still run)."""
    started: list[list[str]] = []
    popen = import_producer.subprocess.Popen

    def recording_popen(args, *rest, **options):  # type: ignore[no-untyped-def]
        started.append(list(args))
        return popen(args, *rest, **options)

    monkeypatch.setattr(import_producer.subprocess, "Popen", recording_popen)
    return started


# --- encodings -----------------------------------------------------------------------------------

TEXT = "nome,telefone\nJoão Ângelo,(11) 98765-4321\nMaría Núñez,+52 55 1234 5678\n"


@pytest.mark.parametrize(
    "encoded",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with BOM, as Excel's "Unicode text"
        TEXT.encode("utf-16-le"),  # without BOM
        TEXT.encode("utf-16-be"),
        TEXT.encode("cp1252"),
        TEXT.encode("latin-1"),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16le-nobom", "utf16be-nobom", "cp1252", "latin1"],
)
def test_reads_every_common_encoding(session: Session, manager: Actor, encoded: bytes) -> None:
    batch = run(session, manager, encoded)

    contacts = stored(session, manager.account_id)
    assert batch.created_count == 2 and batch.rejected_count == 0
    assert contacts["+5511987654321"].name == "João Ângelo"
    assert contacts["+525512345678"].name == "María Núñez"


def test_windows_1252_only_characters_survive(session: Session, manager: Actor) -> None:
    content = "name,phone,note\nAna,+5511987654321,“quoted” – 10€\n".encode("cp1252")

    run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.custom_attributes == {"note": "“quoted” – 10€"}


# --- delimiters, quoting, blank lines ----------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_detects_the_delimiter(session: Session, manager: Actor, delimiter: str) -> None:
    rows = [["name", "phone", "city"], ["Ana", "+55 11 98765-4321", "São Paulo, SP"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)

    batch = run(session, manager, buffer.getvalue())

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert batch.created_count == 1
    assert contact.custom_attributes == {"city": "São Paulo, SP"}


def test_quoted_fields_with_newlines_delimiters_and_quotes(
    session: Session, manager: Actor
) -> None:
    content = (
        "name,phone,address\r\n"
        '"Silva, Ana",+5511987654321,"Rua A, 1\r\nApto 2"\r\n'
        '"Bia ""B"" Souza",+5521998765432,"Line 1\nLine 2\nLine 3"\r\n'
        "Caio,123,x\r\n"
    )

    batch = run(session, manager, content)

    contacts = stored(session, manager.account_id)
    assert contacts["+5511987654321"].name == "Silva, Ana"
    assert contacts["+5511987654321"].custom_attributes["address"] == "Rua A, 1\r\nApto 2"
    assert contacts["+5521998765432"].name == 'Bia "B" Souza'
    assert list(errors(batch)) == [7]  # the line where Caio's record starts in the file


def test_blank_lines_and_empty_rows_are_ignored(session: Session, manager: Actor) -> None:
    content = "\n\nphone,name\n\n+5511987654321,Ana\n   \n,\n\n+5521998765432,Bia\n\n\n"

    batch = run(session, manager, content)

    assert batch.created_count == 2
    assert accounted(batch) == 2


def test_single_column_file(session: Session, manager: Actor) -> None:
    batch = run(session, manager, "whatsapp\n+5511987654321\n11 99876-5432\n")

    assert batch.created_count == 2
    assert set(stored(session, manager.account_id)) == {"+5511987654321", "+5511998765432"}


# --- columns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("Name,Phone Number,Tags", "en"),
        ("full name,mobile,labels", "en"),
        ("Nombre,Teléfono,Etiquetas", "es"),
        ("nombre,celular,etiqueta", "es"),
        ("Nome,Telefone,Etiquetas", "pt"),
        ("NOME COMPLETO,WhatsApp,tags", "pt"),
        ("name,number,label", "en"),
    ],
)
def test_recognises_headers_in_english_spanish_portuguese(
    session: Session, manager: Actor, header: str, language: str
) -> None:
    batch = run(session, manager, f"{header}\nAna,+5511987654321,VIP\n")

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert batch.created_count == 1, language
    assert contact.name == "Ana"
    assert contact.label_names == ["vip"]
    assert contact.custom_attributes == {}


def test_whatsapp_column_wins_over_landline(session: Session, manager: Actor) -> None:
    content = "name,phone,whatsapp\nAna,+55 11 3333-4444,+55 11 98765-4321\n"

    run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.custom_attributes == {"phone": "+55 11 3333-4444"}


def test_other_columns_become_attributes_and_empty_cells_are_not_stored(
    session: Session, manager: Actor
) -> None:
    content = "phone,Cidade,Data de Nascimento,Plano\n+5511987654321,Recife,,pro\n"

    run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.custom_attributes == {"cidade": "Recife", "plano": "pro"}


def test_typed_attributes_become_numbers_and_booleans(session: Session, manager: Actor) -> None:
    content = "phone,age,score,active,zip,plan\n+5511987654321,33,4.5,TRUE,01310,pro\n"

    run(session, manager, content, typed=True)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.custom_attributes == {
        "age": 33,
        "score": 4.5,
        "active": True,
        "zip": "01310",  # a leading zero means a code, not a number
        "plan": "pro",
    }


def test_mapping_chooses_columns_and_types(session: Session, manager: Actor) -> None:
    content = (
        "Cliente,Contato,Grupo,Idade,VIP,Interno\n"
        "Ana,+5511987654321,a;b,33,sim,x\n"
        "Bia,+5521998765432,,trinta,não,y\n"
        "Caio,+5531998765432,,40,talvez,z\n"
    )
    mapping = {
        "Cliente": ColumnTarget.NAME,
        "Contato": ColumnTarget.PHONE,
        "Grupo": ColumnTarget.LABELS,
        "Idade": ColumnTarget.NUMBER,
        "VIP": ColumnTarget.BOOLEAN,
        "Interno": ColumnTarget.SKIP,
    }

    batch = run(session, manager, content, mapping=mapping)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.name == "Ana" and contact.label_names == ["a", "b"]
    assert contact.custom_attributes == {"idade": 33, "vip": True}
    assert errors(batch) == {
        3: "column 'Idade': 'trinta' is not a number",
        4: "column 'VIP': 'talvez' is not true/false (or yes/no)",
    }


def test_numbers_of_any_size_and_text_of_any_script_are_stored_exactly(
    session: Session, manager: Actor
) -> None:
    content = 'phone,conta,nota\n+5511987654321,123456789012345678901234567890,日本 ✓ "x"\n'

    run(session, manager, content, mapping={"conta": ColumnTarget.NUMBER})

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.custom_attributes == {
        "conta": 123456789012345678901234567890,
        "nota": '日本 ✓ "x"',
    }


def test_preview_suggests_the_mapping_and_shows_first_rows() -> None:
    content = "Nome;Celular;Tags;Cidade\nAna;11 98765-4321;vip;Recife\nBia;21 99876-5432;;Rio\n"

    shown = preview_file(io.BytesIO(content.encode("cp1252")), rows=1)

    assert shown.format.delimiter == ";"
    assert shown.format.encoding in ("utf-8", "cp1252")
    assert shown.mapping == {
        "Nome": ColumnTarget.NAME,
        "Celular": ColumnTarget.PHONE,
        "Tags": ColumnTarget.LABELS,
        "Cidade": "text",
    }
    assert shown.rows == [["Ana", "11 98765-4321", "vip", "Recife"]]


def test_labels_are_split_trimmed_lowercased_and_deduplicated(
    session: Session, manager: Actor
) -> None:
    content = 'phone,labels\n+5511987654321," VIP ; Cliente,vip | Black Friday,, "\n'

    run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.label_names == ["black friday", "cliente", "vip"]


# --- rejections ----------------------------------------------------------------------------------


def test_each_rejection_reason_is_reported_with_its_row(session: Session, manager: Actor) -> None:
    long_name = "x" * 201
    long_label = "y" * 101
    content = (
        "name,phone,labels\n"
        "Ok,+5511987654321,\n"  # 2
        "Empty,,\n"  # 3
        "Letters,call me,\n"  # 4
        "Short,123,\n"  # 5
        "Country,+999 1234 5678,\n"  # 6
        "Area,+55 00 98765-4321,\n"  # 7
        f"{long_name},+5521998765432,\n"  # 8
        f"Label,+5521998765433,{long_label}\n"  # 9
        "Extra,+5521998765434,,surprise\n"  # 10
        "Trailing,+5521998765435,,,\n"  # 11: empty extra cells are fine
    )

    batch = run(session, manager, content)

    assert errors(batch) == {
        3: "phone is empty",
        4: "phone 'call me': not a phone number",
        5: "phone '123': too short for BR (+55)",
        6: "phone '+999 1234 5678': unknown country code",
        7: "phone '+55 00 98765-4321': not a valid number in BR (+55) "
        "(unknown area code or number range)",
        8: "name is longer than 200 characters",
        9: "a label is longer than 100 characters",
        10: "the row has 4 columns, the header has 3",
    }
    assert batch.created_count == 2
    assert accounted(batch) == 10


def test_numbers_without_country_code_need_a_default_country(
    session: Session, manager: Actor, account: Account
) -> None:
    account.default_country = None
    session.commit()

    batch = run(session, manager, "phone\n11 98765-4321\n+55 21 99876-5432\n")

    assert errors(batch) == {
        2: "phone '11 98765-4321': no country code: write it as +<country code> or set a "
        "default country"
    }
    batch = run(session, manager, "phone\n11 98765-4321\n", default_country="br")
    assert batch.created_count == 1


def test_default_country_argument_overrides_the_accounts(session: Session, manager: Actor) -> None:
    run(session, manager, "phone\n(415) 555-2671\n", default_country="US")

    assert set(stored(session, manager.account_id)) == {"+14155552671"}


def test_rejected_rows_download_as_csv_with_row_and_reason(
    session: Session, manager: Actor
) -> None:
    content = 'Nome,Telefone,Cidade\nAna,123,Recife\nBia,,"Rio, RJ"\n'

    batch = run(session, manager, content)

    rows = list(csv.reader(io.StringIO(rejected_csv(batch).decode("utf-8-sig"))))
    assert rows == [
        ["row", "reason", "Nome", "Telefone", "Cidade"],
        ["2", "phone '123': too short for BR (+55)", "Ana", "123", "Recife"],
        ["3", "phone is empty", "Bia", "", "Rio, RJ"],
    ]


# --- whole-file refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,email\nAna,ana@example.com\n", "no phone column"),
        (b"+5511987654321,Ana\n+5521998765432,Bia\n", "The first row looks like data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel or zip file"),
        (b"phone\n+5511987654321\n\x00\x01\x02\x03binary", "not text"),
        (b"", "the file is empty"),
        (b"\n\n   \n", "the file is empty"),
    ],
    ids=["no-phone", "no-header", "png", "xlsx", "nul", "empty", "blank"],
)
def test_unusable_files_are_refused_whole(
    session: Session, manager: Actor, content: bytes, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        import_contacts(session, manager, io.BytesIO(content), "bad.csv")
    session.rollback()

    assert message in error.value.message
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_mapping_must_name_real_columns_and_one_phone(session: Session, manager: Actor) -> None:
    content = b"a,b\n+5511987654321,+5521998765432\n"
    with pytest.raises(ValidationError, match="does not have: c"):
        import_contacts(
            session, manager, io.BytesIO(content), "x.csv", mapping={"c": ColumnTarget.PHONE}
        )
    with pytest.raises(ValidationError, match="choose one phone column"):
        import_contacts(
            session,
            manager,
            io.BytesIO(content),
            "x.csv",
            mapping={"a": ColumnTarget.PHONE, "b": ColumnTarget.PHONE},
        )
    with pytest.raises(ValidationError, match="unknown column targets"):
        import_contacts(session, manager, io.BytesIO(content), "x.csv", mapping={"a": "email"})


def test_the_api_names_column_targets_as_plain_words(session: Session, manager: Actor) -> None:
    """The mapping of the API (and the error that lists the choices) uses the targets' values."""
    content = b"tel,quem\n+5511987654321,Ana\n"
    with pytest.raises(ValidationError) as refused:
        import_contacts(session, manager, io.BytesIO(content), "x.csv", mapping={"tel": "email"})
    assert str(refused.value) == (
        "unknown column targets ['email']; use one of "
        "['phone', 'other_phone', 'name', 'labels', 'text', 'number', 'boolean', 'auto', 'skip']"
    )

    batch = run(session, manager, content, mapping={"tel": "phone", "quem": "name"})

    assert batch.created_count == 1
    assert stored(session, manager.account_id)["+5511987654321"].name == "Ana"


def test_viewers_may_not_import(session: Session, viewer: Actor) -> None:
    with pytest.raises(PermissionDenied):
        import_contacts(session, viewer, io.BytesIO(b"phone\n+5511987654321\n"), "c.csv")


# --- merging and updating ------------------------------------------------------------------------


def test_duplicates_in_the_file_merge_last_one_wins(session: Session, manager: Actor) -> None:
    content = (
        "name,phone,labels,city,plan\n"
        "Ana,+55 11 98765-4321,vip,Recife,free\n"
        "Bia,+5521998765432,,Rio,\n"
        "Ana Maria,11987654321,cliente,,pro\n"
        ",(11) 98765-4321,vip,Olinda,\n"
    )

    batch = run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert (batch.created_count, batch.merged_count) == (2, 2)
    assert contact.name == "Ana Maria"  # an empty name never erases one
    assert contact.label_names == ["cliente", "vip"]
    assert contact.custom_attributes == {"city": "Olinda", "plan": "pro"}
    merged = [e["row"] for e in merged_rows(batch)]
    assert merged == [4, 5]
    assert "as row 2" in next(iter(merged_rows(batch)))["reason"]


def test_duplicates_across_chunks_merge_too(
    session: Session, manager: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "CHUNK_ROWS", 2)
    content = (
        "name,phone,labels,city\n"
        "Ana,+5511987654321,vip,Recife\n"
        "Bia,+5521998765432,,Rio\n"
        "Caio,+5531998765432,,BH\n"
        "Ana Maria,+5511987654321,cliente,\n"
        ",+5521998765432,,Niterói\n"
    )

    batch = run(session, manager, content)

    contacts = stored(session, manager.account_id)
    assert (batch.created_count, batch.merged_count, batch.updated_count) == (3, 2, 0)
    assert contacts["+5511987654321"].name == "Ana Maria"
    assert contacts["+5511987654321"].label_names == ["cliente", "vip"]
    assert contacts["+5511987654321"].custom_attributes == {"city": "Recife"}
    assert contacts["+5521998765432"].custom_attributes == {"city": "Niterói"}


def test_existing_contacts_are_updated_not_duplicated(
    session: Session, manager: Actor, account: Account
) -> None:
    old = utcnow() - timedelta(days=3)
    changed = make_contact(
        session, account, "+5511987654321", "Ana", labels=["vip"], city="Recife", plan="free"
    )
    same = make_contact(session, account, "+5521998765432", "Bia", labels=["lead"], city="Rio")
    changed.updated_at = same.updated_at = old
    session.commit()
    content = (
        "name,phone,labels,city,plan\n"
        "Ana Maria,+5511987654321,cliente,,pro\n"
        ",+5521998765432,lead,Rio,\n"
        "Caio,+5531998765432,,,\n"
    )

    batch = run(session, manager, content)

    contacts = stored(session, manager.account_id)
    assert (batch.created_count, batch.updated_count, batch.unchanged_count) == (1, 1, 1)
    ana = contacts["+5511987654321"]
    assert ana.id == changed.id
    assert ana.name == "Ana Maria"
    assert ana.label_names == ["cliente", "vip"]  # labels are added, never removed
    assert ana.custom_attributes == {"city": "Recife", "plan": "pro"}  # merged
    assert ana.updated_at > old
    bia = contacts["+5521998765432"]
    assert bia.name == "Bia" and bia.updated_at == old
    assert len(contacts) == 3


def test_a_file_repeating_an_existing_contact_counts_it_once(
    session: Session, manager: Actor, account: Account
) -> None:
    make_contact(session, account, "+5511987654321", "Ana")
    session.commit()

    batch = run(session, manager, "name,phone\nAna,+5511987654321\nAna B,+5511987654321\n")

    assert (batch.updated_count, batch.unchanged_count, batch.merged_count) == (1, 0, 1)
    assert stored(session, manager.account_id)["+5511987654321"].name == "Ana B"


def test_opted_out_contacts_stay_opted_out(
    session: Session, manager: Actor, account: Account
) -> None:
    contact = make_contact(session, account, "+5511987654321", "Ana")
    opted_out_at = utcnow() - timedelta(days=1)
    contact.opted_out_at = opted_out_at
    session.commit()
    content = "name,phone,labels,opted_out\nAna B,+5511987654321,vip,no\n"

    batch = run(session, manager, content)

    contact = stored(session, manager.account_id)["+5511987654321"]
    assert batch.updated_count == 1
    assert contact.name == "Ana B" and contact.label_names == ["vip"]
    assert contact.opted_out_at == opted_out_at


def test_other_accounts_contacts_are_not_touched(
    session: Session, manager: Actor, account: Account
) -> None:
    other = make_account(session, "Other")
    theirs = make_contact(session, other, "+5511987654321", "Theirs")
    session.commit()

    batch = run(session, manager, "name,phone\nMine,+5511987654321\n")

    assert batch.created_count == 1
    session.refresh(theirs)
    assert theirs.name == "Theirs"
    assert stored(session, manager.account_id)["+5511987654321"].name == "Mine"


def test_labels_are_shared_with_existing_ones(
    session: Session, manager: Actor, account: Account
) -> None:
    make_contact(session, account, "+5511987654321", "Ana", labels=["vip"])
    session.commit()

    run(session, manager, "phone,tags\n+5521998765432,VIP\n")

    contacts = stored(session, manager.account_id)
    assert contacts["+5521998765432"].labels[0].id == contacts["+5511987654321"].labels[0].id


# --- all or nothing, report, progress --------------------------------------------------------------


@pytest.mark.parametrize("producer", ["here", "fork", "interpreter"])
def test_a_failure_midway_leaves_nothing_behind(
    engine, manager: Actor, monkeypatch: pytest.MonkeyPatch, producer: str, tmp_path
) -> None:
    monkeypatch.setattr(contacts_import, "CHUNK_ROWS", 2)
    processes = _use_producer(monkeypatch, producer)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(import_producer.tempfile, "tempdir", str(spool))
    original = import_writing.Writer.write
    calls = {"n": 0}

    def failing_write(self, chunk, tally):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        original(self, chunk, tally)

    monkeypatch.setattr(import_writing.Writer, "write", failing_write)
    content = "phone\n" + "".join(f"+55119876543{n:02d}\n" for n in range(10))

    with pytest.raises(RuntimeError), session_scope(engine) as session:
        import_contacts(
            session, manager, io.BytesIO(content.encode()), "c.csv", processes=processes
        )

    assert list(spool.iterdir()) == []  # the interpreter's copy of the file is gone
    with session_scope(engine) as session:
        assert calls["n"] == 3  # two chunks had been written inside the transaction
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


@pytest.mark.parametrize("exit_code", [None, 3])
def test_a_parsing_interpreter_that_fails_leaves_nothing_behind(
    engine, manager: Actor, monkeypatch: pytest.MonkeyPatch, tmp_path, exit_code: int | None
) -> None:
    """The interpreter cannot be started (None), or stops without a word (exit code 3)."""
    processes = _use_producer(monkeypatch, "interpreter")
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(import_producer.tempfile, "tempdir", str(spool))
    python = tmp_path / "python"
    if exit_code is not None:
        python.write_text(f"#!/bin/sh\nexit {exit_code}\n")
        python.chmod(0o755)
    monkeypatch.setattr(import_producer.sys, "executable", str(python))
    content = "phone\n" + "".join(f"+55119876543{n:02d}\n" for n in range(10))

    expected = FileNotFoundError if exit_code is None else RuntimeError
    with pytest.raises(expected) as raised, session_scope(engine) as session:
        import_contacts(
            session, manager, io.BytesIO(content.encode()), "c.csv", processes=processes
        )

    if exit_code is not None:
        assert f"exit code {exit_code}" in str(raised.value)
    assert list(spool.iterdir()) == []
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0


# A server process (threads running) importing through a parsing interpreter; its writer stops
# on the first chunk and says so, with the pids of the processes it started.
_KILLED_IMPORTER = """
import os, sys, threading, time
from pathlib import Path
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
from core.contacts import _import_producer as import_producer, _import_writing as import_writing
from core.cli import main
import_producer.INTERPRETER_MIN_BYTES = 0

def stuck_write(self, chunk, tally):
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    children = " ".join((task / "children").read_text() for task in tasks).split()
    print("writing", *children, flush=True)
    time.sleep(3600)

import_writing.Writer.write = stuck_write
main(["import-contacts", sys.argv[1], "--account", sys.argv[2]])
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_a_server_killed_mid_import_leaves_no_copy_of_the_file_behind(
    engine, account: Account, tmp_path
) -> None:
    """SIGKILL leaves no chance to clean up, so the interpreter's copy never has a name."""
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("phone\n" + "".join(f"+5511987{n:06d}\n" for n in range(60_000)))
    spool = tmp_path / "spool"
    spool.mkdir()
    importer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_IMPORTER, str(csv_file), str(account.id)],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(spool)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert importer.stdout is not None
        words = importer.stdout.readline().split()
        assert words[:1] == ["writing"], "the import never reached its writer"
        children = [int(pid) for pid in words[1:]]
        assert children, "no parsing interpreter was started"
    finally:
        importer.kill()
        importer.wait()

    for pid in children:
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), "the parsing interpreter outlived its server"
    assert list(spool.iterdir()) == []
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_an_interpreter_gone_before_it_reads_its_job_is_reported_like_any_stop(
    engine, manager: Actor, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """With 8,000 phones the job outgrows the pipe's buffer: writing it meets a closed pipe."""
    existing = "phone\n" + "".join(f"+5511987{n:06d}\n" for n in range(8000))
    with session_scope(engine) as session:
        import_contacts(session, manager, io.BytesIO(existing.encode()), "a.csv", processes=0)
    processes = _use_producer(monkeypatch, "interpreter")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexit 3\n")
    python.chmod(0o755)
    monkeypatch.setattr(import_producer.sys, "executable", str(python))

    with pytest.raises(RuntimeError, match="exit code 3"), session_scope(engine) as session:
        import_contacts(
            session, manager, io.BytesIO(b"phone\n+5511912345678\n"), "b.csv", processes=processes
        )

    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 8000
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 1


def test_report_is_stored_with_counts_and_progress_is_reported(
    session: Session, manager: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "CHUNK_ROWS", 3)
    content = "phone\n" + "".join(f"+55119876543{n:02d}\n" for n in range(10)) + "bad\n"
    seen: list[tuple[float, int]] = []

    batch = run(session, manager, content, progress=lambda f, n: seen.append((f, n)))

    session.expire_all()
    saved = session.get(ImportBatch, batch.id)
    assert saved is not None and saved.status == "done"
    assert (saved.created_count, saved.rejected_count) == (10, 1)
    assert saved.account_id == manager.account_id and saved.user_id == manager.user_id
    assert [n for _, n in seen] == sorted(n for _, n in seen)
    assert seen[-1] == (1.0, 11)


def test_update_then_export_round_trip_keeps_contacts(session: Session, manager: Actor) -> None:
    """Our own export (phones written as '+55...) imports back as the same contacts."""
    from core.contacts import export_csv

    run(session, manager, "name,phone,labels,city\n=cmd,+5511987654321,vip,Recife\n")
    exported = b"".join(export_csv(session, manager))

    batch = run(session, manager, exported)

    assert (batch.unchanged_count, batch.updated_count, batch.created_count) == (1, 0, 0)
    contact = stored(session, manager.account_id)["+5511987654321"]
    assert contact.name == "=cmd" and contact.custom_attributes == {"city": "Recife"}


# --- property: random content never crashes, every row is accounted for ---------------------------

CELL = st.text(alphabet=st.sampled_from(list("ab Ç9+-()0123456789,;|\t\"'\n\r=@ãé")), max_size=16)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(
        st.sampled_from(
            [["phone", "name", "labels", "city"], ["Telefone", "Nome"], ["whatsapp"], ["x", "y"]]
        )
    )
    rows = draw(st.lists(st.lists(CELL, max_size=len(header) + 2), max_size=12))
    if draw(st.booleans()):
        phones = st.sampled_from(
            ["+5511987654321", "(21) 99876-5432", "5531998765432", "123", "", "+1 415 555 2671"]
        )
        rows = [[draw(phones), *row[1:]] for row in rows]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([header, *rows])
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = draw(st.text(max_size=40)) + text  # garbage in front
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=csv_files())
def test_random_csv_never_crashes_and_every_row_is_accounted_for(
    session: Session, manager: Actor, content: bytes
) -> None:
    account = make_account(session, "Random", default_country="BR")
    actor = Actor(None, account.id, Role.MANAGER, "random")
    try:
        batch = import_contacts(session, actor, io.BytesIO(content), "random.csv")
    except ValidationError:
        session.rollback()  # refused as a whole: nothing may remain
        assert (
            session.scalar(
                select(func.count()).select_from(Account).where(Account.name == "Random")
            )
            == 0
        )
        return
    try:
        fmt = detect_format(io.BytesIO(content))
        text = content.decode(fmt.encoding)
        records = [
            r
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter)
            if any(v.strip() for v in r)
        ]
        phones = session.scalars(
            select(Contact.phone).where(Contact.account_id == account.id)
        ).all()
        assert accounted(batch) == len(records) - 1  # every data row, once
        assert len(phones) == batch.created_count  # nothing written the report does not show
        assert all(p.startswith("+") and p[1:].isdigit() for p in phones)
    finally:
        session.rollback()


# --- parsing in a second process, and the command line ---------------------------------------------


def _twin_manager(session: Session) -> Actor:
    """A manager of a second account, where the same files are imported serially for comparison."""
    other = make_account(session, "Other", default_country="BR")
    session.commit()
    return Actor(None, other.id, Role.MANAGER, "alone")


def _contents(session: Session, account_id: int) -> dict[str, tuple]:
    return {
        phone: (c.name, c.label_names, c.custom_attributes)
        for phone, c in stored(session, account_id).items()
    }


def _sample_file(rows: int = 300) -> bytes:
    lines = ["name;phone;labels;city"]
    for n in range(rows):
        phone = "123" if n % 10 == 0 else f"(11) 9{n:04d}-{n:04d}"
        lines.append(f"P{n};{phone};{'vip' if n % 3 else 'lead, vip'};City {n % 7}")
    lines.append("Again;(11) 90001-0001;novo;")  # a duplicate of row 3
    return "\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("producer", ["fork", "interpreter"])
def test_parsing_in_another_process_gives_the_same_import(
    session: Session,
    manager: Actor,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
    producer: str,
) -> None:
    processes = _use_producer(monkeypatch, producer)
    started = _started_interpreters(monkeypatch)
    monkeypatch.setattr(contacts_import, "CHUNK_ROWS", 40)
    alone = _twin_manager(session)

    parallel = run(session, manager, _sample_file(), processes=processes)
    serial = run(session, alone, _sample_file(), processes=0)

    interpreters = [args[1:] for args in started]
    assert interpreters == (
        [["-m", "core.contacts._import_producer"]] if producer == "interpreter" else []
    )

    def shape(batch: ImportBatch) -> tuple:
        return (
            batch.created_count,
            batch.merged_count,
            batch.rejected_count,
            [(e["row"], e["reason"]) for e in batch.errors],
        )

    assert shape(parallel) == shape(serial)
    assert parallel.created_count == 270 and parallel.merged_count == 1
    assert _contents(session, manager.account_id) == _contents(session, alone.account_id)


def _second_file() -> bytes:
    """Over _sample_file's contacts: renames, new labels, new contacts, repeats near and far.

    Rows 0, 10, ... of _sample_file were rejected there, so here they create contacts."""
    lines = ["phone;name;labels;plan"]
    for n in range(0, 300, 2):
        name = f"Renamed {n}" if n % 4 == 0 else ""
        lines.append(f"(11) 9{n:04d}-{n:04d};{name};{'gold' if n % 6 == 0 else ''};p{n % 3}")
    for n in range(1, 30, 2):  # nothing new: unchanged
        lines.append(f"(11) 9{n:04d}-{n:04d};;;")
    lines.append("abc;Nobody;;")
    for n in range(300, 360):
        lines.append(f"(11) 9{n:04d}-{n:04d};New {n};fresh;")
        if n % 10 == 0:  # the same new number again on the next line: merged in its chunk
            lines.append(f"(11) 9{n:04d}-{n:04d};;extra;p9")
    lines.append("(11) 90002-0002;Last word;;")  # an existing contact, far from its first row
    lines.append("(11) 90301-0301;;late;")  # a contact this file created, many chunks before
    return "\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("producer", ["fork", "interpreter"])
def test_a_parallel_reimport_updates_like_a_serial_one(
    session: Session,
    manager: Actor,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
    producer: str,
) -> None:
    processes = _use_producer(monkeypatch, producer)
    monkeypatch.setattr(contacts_import, "CHUNK_ROWS", 40)
    alone = _twin_manager(session)
    run(session, manager, _sample_file(), processes=0)
    run(session, alone, _sample_file(), processes=0)

    parallel = run(session, manager, _second_file(), processes=processes)
    serial = run(session, alone, _second_file(), processes=0)

    def shape(batch: ImportBatch) -> tuple:
        counts = ("created", "updated", "unchanged", "merged", "rejected")
        return (
            tuple(getattr(batch, f"{name}_count") for name in counts),
            sorted((e["row"], e["reason"]) for e in batch.errors),
        )

    assert shape(parallel) == shape(serial)
    assert shape(parallel)[0] == (90, 120, 15, 8, 1)
    assert _contents(session, manager.account_id) == _contents(session, alone.account_id)
    mine = stored(session, manager.account_id)
    renamed, kept = mine["+5511900120012"], mine["+5511900020002"]
    assert (renamed.name, renamed.label_names) == ("Renamed 12", ["gold", "lead", "vip"])
    assert (kept.name, kept.custom_attributes) == ("Last word", {"city": "City 2", "plan": "p2"})
    folded, late = mine["+5511903100310"], mine["+5511903010301"]
    assert (folded.name, folded.label_names) == ("New 310", ["extra", "fresh"])
    assert folded.custom_attributes == {"plan": "p9"}
    assert late.label_names == ["fresh", "late"]


def test_command_line_import(
    session: Session, account: Account, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main

    source = tmp_path / "contacts.csv"
    source.write_bytes(_sample_file(50))
    rejected_out = tmp_path / "rejected.csv"

    code = main(
        [
            "import-contacts",
            str(source),
            "--account",
            str(account.id),
            "--rejected-out",
            str(rejected_out),
        ]
    )

    out = capsys.readouterr()
    assert code == 0
    assert "created 45, updated 0, unchanged 0, merged duplicates 1, rejected 5" in out.out
    assert "row 2: phone '123': too short for BR (+55)" in out.err
    assert rejected_out.read_text(encoding="utf-8-sig").count("\n") == 6
    assert len(stored(session, account.id)) == 45


def test_command_line_refuses_a_file_without_phone_column(
    session: Session, account: Account, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main

    source = tmp_path / "contacts.csv"
    source.write_text("name,email\nAna,a@b.c\n")

    assert main(["import-contacts", str(source), "--account", str(account.id)]) == 2
    assert "no phone column" in capsys.readouterr().err
    assert stored(session, account.id) == {}
