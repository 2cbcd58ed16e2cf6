"""Sentences the worker stores (notifications, a campaign's error, an import's summary) are kept in
English for the API and the webhook, and read in the reader's language on the pages.

Rows written before the messages were stored (their JSON column NULL) still read in English.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import campaigns, notifications
from core.base import stored_text
from core.campaigns import complete_finished
from core.cli import i18n as catalogs
from core.contacts import import_contacts
from core.i18n import LANGUAGES, set_language
from core.i18n import _catalogs as i18n
from core.models import Campaign, CampaignStatus, Notification
from core.sending._outcome_rules import stop_instance
from tests.stats_builders import make_campaign, make_instance, make_recipient

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)
TRANSLATED = [language for language in LANGUAGES if language != "en"]
REASON = "401: the instance's API key was refused"  # what the send path records: shown as is


@pytest.fixture(autouse=True)
def english_unless_told() -> Iterator[None]:
    """AppTest may run scripts in the test's thread: no test sees another's language."""
    token = i18n._current.set(None)
    yield
    i18n._current.reset(token)


def read_in(language: str, stored: object, fallback: str | None = None) -> str:
    set_language(language)
    try:
        return stored_text.localized(stored, fallback)  # type: ignore[arg-type]
    finally:
        set_language("en")


@pytest.fixture
def paused(session, account) -> Campaign:
    """The number 'main' broke while 'Promo' was sending through it: circuit opened by the worker."""
    instance = make_instance(session, account, name="main")
    campaign = make_campaign(session, account, title="Promo", instances=[instance])
    session.commit()
    assert stop_instance(session, instance.id, REASON, NOW)
    session.commit()
    session.refresh(campaign)
    session.commit()  # end the read: SQLite lets one writer in at a time, and pages write
    return campaign


def notification(session, kind: str) -> Notification:
    return session.scalars(select(Notification).where(Notification.kind == kind)).one()


# -- what is stored ----------------------------------------------------------------------------------


def test_the_english_columns_stay_as_the_api_and_webhook_send_them(session, paused):
    down = notification(session, "instance_down")
    pause = notification(session, "campaign_paused")

    assert down.title == "WhatsApp number 'main' stopped sending"
    assert down.body == (
        f"{REASON}. Fix it, then re-enable the number in Settings → WhatsApp numbers."
    )
    assert pause.title == "Campaign 'Promo' was paused"
    assert paused.error_message == f"Paused: the WhatsApp number 'main' is down ({REASON})"
    assert pause.body == paused.error_message
    # ... and the same sentences are stored as messages, read in English as the columns.
    assert read_in("en", down.title_text) == down.title
    assert read_in("en", down.body_text) == down.body
    assert read_in("en", paused.error_text) == paused.error_message


# -- read in the reader's language -------------------------------------------------------------------

PAUSED = {
    "es": f"En pausa: el número de WhatsApp 'main' no funciona ({REASON})",
    "pt_BR": f"Pausada: o número de WhatsApp 'main' está fora do ar ({REASON})",
}
DOWN = {
    "es": (
        "El número de WhatsApp 'main' dejó de enviar",
        f"{REASON}. Corrígelo y luego vuelve a habilitar el número en Configuración → "
        "Números de WhatsApp.",
    ),
    "pt_BR": (
        "O número de WhatsApp 'main' parou de enviar",
        f"{REASON}. Corrija e depois reative o número em Configurações → Números de WhatsApp.",
    ),
}
PAUSED_TITLE = {"es": "Se pausó la campaña 'Promo'", "pt_BR": "A campanha 'Promo' foi pausada"}


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_notification_reads_in_the_readers_language(session, paused, language):
    down = notification(session, "instance_down")
    pause = notification(session, "campaign_paused")

    assert (read_in(language, down.title_text), read_in(language, down.body_text)) == DOWN[language]
    assert read_in(language, pause.title_text) == PAUSED_TITLE[language]
    assert read_in(language, pause.body_text) == PAUSED[language]


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_paused_campaigns_message_reads_in_the_readers_language(paused, language):
    assert paused.status == CampaignStatus.PAUSED
    assert read_in(language, paused.error_text, paused.error_message) == PAUSED[language]


OUTAGE = {
    "en": (
        "Paused: the WhatsApp number 'main' is down (the Evolution server at "
        "https://evo.example.com is not answering (502 Bad Gateway) since 03:12). It resumes by "
        "itself when the number answers again."
    ),
    "es": (
        "En pausa: el número de WhatsApp 'main' no funciona (el servidor Evolution en "
        "https://evo.example.com no responde (502 Bad Gateway) desde las 03:12). Se reanuda sola "
        "cuando el número vuelva a responder."
    ),
    "pt_BR": (
        "Pausada: o número de WhatsApp 'main' está fora do ar (o servidor Evolution em "
        "https://evo.example.com não está respondendo (502 Bad Gateway) desde as 03:12). Ela é "
        "retomada sozinha quando o número voltar a responder."
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_outage_reads_in_the_readers_language_with_the_server_and_the_time(
    session, account, language
):
    from core.models import CircuitCause

    instance = make_instance(session, account, name="main")
    campaign = make_campaign(session, account, title="Promo", instances=[instance])
    session.commit()
    reason = stored_text.text(
        stored_text.SERVER_NOT_ANSWERING,
        url="https://evo.example.com",
        error="502 Bad Gateway",
        since="03:12",
    )
    assert stop_instance(session, instance.id, reason, NOW, CircuitCause.SERVER)
    session.commit()
    session.refresh(campaign)
    session.refresh(instance)

    assert campaign.error_message == OUTAGE["en"]  # what the API and the webhook carry
    assert read_in(language, campaign.error_text, campaign.error_message) == OUTAGE[language]
    down = notification(session, "instance_down")
    assert read_in(language, down.body_text).startswith(
        read_in(language, instance.circuit_reason_text)
    )


def test_a_completed_campaigns_counts_follow_the_languages_plurals(session, account):
    campaign = make_campaign(session, account, title="Promo")
    make_recipient(session, campaign, "sent")
    for _ in range(2):
        make_recipient(session, campaign, "failed")
    session.commit()

    assert complete_finished(session, NOW) == [campaign.id]
    done = notification(session, "campaign_completed")

    assert (done.title, done.body) == ("Campaign 'Promo' completed", "1 sent, 2 failed")
    assert read_in("es", done.title_text) == "Campaña 'Promo' completada"
    assert read_in("es", done.body_text) == "1 enviado, 2 con error"
    assert read_in("pt_BR", done.body_text) == "1 enviado, 2 com falha"
    assert read_in("es", stored_text.counts({"sent": 2, "read": 1})) == "2 enviados, 1 leído"


def test_a_campaign_that_cannot_start_says_why_in_each_language(session, account):
    nobody = make_campaign(
        session, account, title="Lonely", status=CampaignStatus.PENDING, audience={"labels": ["x"]}
    )
    session.commit()
    assert campaigns.start(session, nobody.id, NOW, (CampaignStatus.PENDING,))
    session.commit()
    session.refresh(nobody)

    assert nobody.error_message == "no WhatsApp number was chosen to send through"
    assert read_in("es", nobody.error_text) == "no se eligió ningún número de WhatsApp para enviar"
    assert read_in("pt_BR", nobody.error_text) == (
        "nenhum número de WhatsApp foi escolhido para o envio"
    )
    failed = notification(session, "campaign_failed")
    assert failed.title == "Campaign “Lonely” could not start"
    assert read_in("pt_BR", failed.title_text) == "A campanha “Lonely” não pôde ser iniciada"
    assert read_in("pt_BR", failed.body_text) == read_in("pt_BR", nobody.error_text)


def test_a_domain_error_inside_a_stored_message_is_translated_with_it(session, account):
    instance = make_instance(session, account, name="main")
    broken = make_campaign(
        session,
        account,
        title="Broken",
        status=CampaignStatus.PENDING,
        instances=[instance],
        audience={"colour": "blue"},
    )
    session.commit()
    assert campaigns.start(session, broken.id, NOW, (CampaignStatus.PENDING,))
    session.commit()
    session.refresh(broken)

    inner = broken.error_text["params"]["error"]
    assert broken.error_message == f"the audience is not valid: {stored_text.english(inner)}"
    assert "'colour'" in broken.error_message
    set_language("es")
    expected = "la audiencia no es válida: " + i18n.localize_entry(inner)
    set_language("en")
    assert read_in("es", broken.error_text) == expected


def test_an_imports_summary_reads_in_the_readers_language(session, account, manager):
    csv = "phone;name\n+5511999990001;Ana\n"
    batch = import_contacts(session, manager, io.BytesIO(csv.encode()), "c.csv")
    session.commit()

    assert batch.message == "UTF-8, semicolon-separated; numbers without a country code read as BR"
    assert read_in("es", batch.message_text, batch.message) == (
        "UTF-8, separado por punto y coma; los números sin código de país se leyeron como de BR"
    )
    assert read_in("pt_BR", batch.message_text, batch.message) == (
        "UTF-8, separado por ponto e vírgula; números sem código de país lidos como de BR"
    )


def test_our_own_recipient_errors_are_translated_and_the_servers_are_not():
    set_language("es")
    try:
        assert stored_text.recipient_error(stored_text.CONTACT_OPTED_OUT) == (
            "el contacto se dio de baja"
        )
        assert stored_text.recipient_error("400: number is not on WhatsApp") == (
            "400: number is not on WhatsApp"
        )
        assert stored_text.recipient_error(None) == ""
    finally:
        set_language("en")


# -- older rows, and values this version cannot read ------------------------------------------------


def test_rows_stored_before_the_messages_read_in_their_english(session, account):
    old = Notification(account_id=account.id, kind="campaign_completed", title="Old", body="3 sent")
    session.add(old)
    session.commit()
    set_language("es")
    try:
        assert (notifications.title_of(old), notifications.body_of(old)) == ("Old", "3 sent")
        assert stored_text.localized(None, "Paused: something") == "Paused: something"
        # A message whose params do not fit its template (a later version's) falls back too.
        odd = {"template": stored_text.PAUSED_NUMBER_DOWN, "params": {}, "terms": []}
        assert stored_text.localized(odd, "the English") == "the English"
        assert stored_text.localized({"no": "template"}, "the English") == "the English"
    finally:
        set_language("en")


def test_a_stored_message_can_only_use_a_template_of_stored_text():
    with pytest.raises(ValueError, match="not a template"):
        stored_text.text("Campaign '{title}' exploded", title="x")


# -- the catalogs carry every stored template ---------------------------------------------------------


def _stored_msgids() -> list[str | tuple[str, str]]:
    return [
        *sorted(stored_text.TEMPLATES | stored_text.RECIPIENT_ERRORS),
        *stored_text.PLURAL_TEMPLATES,
    ]


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w*)[^}]*}", text))


@pytest.fixture(scope="module")
def extracted() -> set[object]:
    return {message.id for message in catalogs.extract_template() if message.id}


def test_every_stored_template_is_a_constant_the_extractor_finds(extracted):
    """A template built at run time (or not marked N_/N_plural) is missing from the extraction."""
    missing = [msgid for msgid in _stored_msgids() if msgid not in extracted]
    assert not missing, missing


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_stored_template_is_translated_keeping_its_placeholders(language):
    catalog = catalogs.read_catalog(catalogs.po_path(language), language)
    problems = []
    for msgid in _stored_msgids():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        if message is None or not catalogs.is_translated(message):
            problems.append(f"untranslated: {key!r}")
            continue
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        wanted = set().union(*map(_placeholders, ids))
        if any(_placeholders(s) != wanted for s in strings):
            problems.append(f"placeholders differ: {key!r} -> {message.string!r}")
    assert not problems, "\n".join(problems)


# -- the pages -----------------------------------------------------------------------------------------


def page(name: str, actor, language: str, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    import ui.language

    # what importing ui.language in app.py does (an earlier test may have re-imported it)
    monkeypatch.setattr(i18n, "_fallback", ui.language._session_language)
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    at.session_state[ui.language.RUN_LANGUAGE_KEY] = language
    for key, value in query.items():
        at.query_params[key] = value
    return at


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_notifications_page_shows_them_in_the_readers_language(
    session, account, viewer, paused, language, monkeypatch
):
    session.add(Notification(account_id=account.id, kind="instance_up", title="Written long ago"))
    session.commit()

    at = page("notifications.py", viewer, language, monkeypatch).run()

    assert not at.exception, at.exception
    text = " ".join(block.value for block in at.markdown)
    title, body = DOWN[language]
    assert title in text and body in text
    assert PAUSED_TITLE[language] in text and PAUSED[language] in text
    assert "Written long ago" in text  # an old row, in the English it was stored in
    assert "stopped sending" not in text and "was paused" not in text


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_campaign_page_shows_why_it_paused_in_the_readers_language(
    viewer, paused, language, monkeypatch
):
    at = page("campaign_detail.py", viewer, language, monkeypatch, id=str(paused.id)).run()

    assert not at.exception, at.exception
    warnings = [warning.value for warning in at.warning]
    assert warnings[0] == PAUSED[language]
    # and the number of this fixture has no webhook: receipts cannot arrive, said in that language
    assert len(warnings) == 2 and "PUBLIC_API_URL" in warnings[1]
    assert "Delivered" not in warnings[1]


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_campaigns_list_shows_why_it_paused_in_the_readers_language(
    viewer, paused, language, monkeypatch
):
    at = page("campaigns.py", viewer, language, monkeypatch).run()

    assert not at.exception, at.exception
    assert PAUSED[language] in [warning.value for warning in at.warning]


@pytest.mark.parametrize("language", TRANSLATED)
def test_failure_charts_name_the_kind_in_the_readers_language(language):
    from core.tracking import FailureReason
    from ui import charts
    from ui.labels import ERROR_KIND

    reasons = [
        FailureReason("failed", "not_on_whatsapp", "400: number is not on WhatsApp", 3, []),
        FailureReason("failed", "whatsapp_error", stored_text.WHATSAPP_DELIVERY_ERROR, 1, []),
    ]
    set_language(language)
    try:
        labels = list(charts.failure_reasons(reasons).data[0].y)
        kinds = list(charts.errors_by_type([("retries_exhausted", 2)]).data[0].x)
        wanted = [
            i18n._(ERROR_KIND["whatsapp_error"])
            + ": "
            + i18n._(stored_text.WHATSAPP_DELIVERY_ERROR),
            i18n._(ERROR_KIND["not_on_whatsapp"]) + ": 400: number is not on WhatsApp",
        ]
        assert labels == wanted
        assert kinds == [i18n._(ERROR_KIND["retries_exhausted"])]
        assert "WhatsApp reported" not in labels[0] and kinds != ["retries_exhausted"]
    finally:
        set_language("en")
