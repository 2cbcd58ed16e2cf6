"""The UI speaks English, Spanish and Brazilian Portuguese.

(a) every text a Streamlit call shows goes through `_()`/`ngettext()` (an AST scan of the UI files);
(b) every string of the source has a translation in each catalog, and the committed .mo files are
    compiled from the committed .po files;
(c) pages render translated, in each language.

When (a) or (b) fails: wrap the string, then `python -m core i18n extract`, `... update`, translate
the new entries in locale/*/LC_MESSAGES/messages.po, `... compile`.
"""

from __future__ import annotations

import ast
import re
import string
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import i18n as catalogs
from core.i18n import (
    LANGUAGES,
    _,
    localize_entry,
    localize_error,
    ngettext,
    normalize_language,
    set_language,
)
from core.i18n import _catalogs as i18n
from core.models import Role
from core.people import set_user_language
from tests.builders import make_actor

ROOT = Path(__file__).resolve().parent.parent
UI_FILES = sorted(
    [ROOT / "app.py", *(ROOT / "views").glob("*.py"), *(ROOT / "ui").glob("*.py")],
)
TRANSLATED = [language for language in LANGUAGES if language != "en"]


@pytest.fixture(autouse=True)
def no_language_left_over() -> Iterator[None]:
    """AppTest may run scripts in the test's thread: no test sees another's language."""
    token = i18n._current.set(None)
    yield
    i18n._current.reset(token)


# -- (a) unwrapped UI text ---------------------------------------------------------------------------

# Text that is the same in every language. Keys, formats and icons are never checked (they are not
# label arguments); emojis and markup have no letters.
ALLOWED = frozenset({"WhatsApp API Campaigns", "WhatsApp", "Evolution API", "CSV", "JSON", "E.164"})

# method -> positions of the text arguments (None: every positional argument).
TEXT_ARGS: dict[str, tuple[int, ...] | None] = {
    **dict.fromkeys(
        [
            "title",
            "header",
            "subheader",
            "markdown",
            "caption",
            "text",
            "badge",
            "error",
            "warning",
            "info",
            "success",
            "toast",
            "button",
            "form_submit_button",
            "download_button",
            "link_button",
            "text_input",
            "text_area",
            "number_input",
            "selectbox",
            "multiselect",
            "radio",
            "checkbox",
            "toggle",
            "slider",
            "select_slider",
            "date_input",
            "time_input",
            "datetime_input",
            "file_uploader",
            "color_picker",
            "camera_input",
            "audio_input",
            "chat_input",
            "metric",
            "expander",
            "popover",
            "status",
            "spinner",
            "dialog",
            "pills",
            "segmented_control",
            "form_submit",
        ],
        (0,),
    ),
    "write": None,
    "progress": (1,),
    "Page": (1,),
    "page_link": (),
}
TEXT_KEYWORDS = ("label", "help", "placeholder", "body", "text", "title", "caption")
# Plotly figures: go.Bar(name=...), px.line(title=..., labels={...}), fig.update_layout(title=...).
PLOTLY_ROOTS = {"go", "px"}
PLOTLY_METHODS = {
    "update_layout",
    "update_xaxes",
    "update_yaxes",
    "add_annotation",
    "add_hline",
    "add_vline",
}
PLOTLY_KEYWORDS = (
    "title",
    "title_text",
    "name",
    "text",
    "xaxis_title",
    "yaxis_title",
    "legend_title",
    "legend_title_text",
    "hovertemplate",
    "annotation_text",
)
OPTION_METHODS = {
    "selectbox",
    "multiselect",
    "radio",
    "select_slider",
    "pills",
    "segmented_control",
}
TRANSLATING = {"_", "ngettext"}
# Calls whose arguments end up on screen: str(SomeError("...")).
PASS_THROUGH = re.compile(r"^(str|.*Error|.*Denied|NotFound|Conflict|.*Exception)$")
# Not words: {placeholders}, :material/icons:, :emoji_shortcodes:, :color[...] markup, %s, tags, URLs.
NOT_WORDS = re.compile(
    r"\{[^{}]*\}|:material/[a-z0-9_]+:|:[a-z0-9_+-]+:|:[a-z]+\[|%\(?\w*\)?[sdfi]|<[^>]+>|https?://\S*"
)


def _has_words(text: str) -> bool:
    """Two letters in a row outside placeholders and markup ("v2", "#1", "x" are not words)."""
    stripped = NOT_WORDS.sub("", text)
    return bool(re.search(r"[^\W\d_]{2,}", stripped)) and text.strip() not in ALLOWED


def _root_name(node: ast.AST) -> str | None:
    while True:
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def _calls_streamlit(node: ast.AST | None) -> bool:
    return node is not None and any(
        isinstance(n, ast.Call) and _root_name(n.func) == "st" for n in ast.walk(node)
    )


def _streamlit_names(tree: ast.Module) -> set[str]:
    """Names bound to Streamlit containers: `left, right = st.columns(2)`, `with st.form() as f`."""
    names = {"st"}
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign) and _calls_streamlit(node.value):
            targets = list(node.targets)
        elif (
            isinstance(node, ast.AnnAssign | ast.NamedExpr)
            and _calls_streamlit(node.value)
            or isinstance(node, ast.For)
            and _calls_streamlit(node.iter)
        ):
            targets = [node.target]
        elif isinstance(node, ast.With | ast.AsyncWith):
            targets = [
                i.optional_vars
                for i in node.items
                if i.optional_vars is not None and _calls_streamlit(i.context_expr)
            ]
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _literal_texts(node: ast.AST | None) -> Iterator[str]:
    """Text in `node` that reaches the screen without passing through `_()`/`ngettext()`."""
    if node is None:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    elif isinstance(node, ast.BinOp):
        yield from _literal_texts(node.left)
        yield from _literal_texts(node.right)
    elif isinstance(node, ast.IfExp):
        yield from _literal_texts(node.body)
        yield from _literal_texts(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _literal_texts(value)
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for element in node.elts:
            yield from _literal_texts(element)
    elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
        for value in node.value.values:  # {"draft": "Draft", ...}[status]
            yield from _literal_texts(value)
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in TRANSLATING:
            return
        if isinstance(func, ast.Attribute):  # "Sent: {n}".format(n=n), ", ".join(...)
            yield from _literal_texts(func.value)
        elif isinstance(func, ast.Name) and PASS_THROUGH.match(func.id):
            for arg in node.args:
                yield from _literal_texts(arg)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _option_problems(call: ast.Call, method: str) -> Iterator[str]:
    options = _keyword(call, "options") or (call.args[1] if len(call.args) > 1 else None)
    if not isinstance(options, ast.List | ast.Tuple):
        return
    format_func = _keyword(call, "format_func")
    if format_func is None:
        for element in options.elts:
            yield from _literal_texts(element)
    elif isinstance(format_func, ast.Name) and format_func.id == "_":
        # format_func=_ shows each option translated: each must be marked N_("...") to be extracted
        for element in options.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                yield element.value


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _column_titles(call: ast.Call) -> Iterator[str]:
    """Column names a table shows: `pd.DataFrame([{"Phone": ...}])`, `.rename(columns={...})`.
    Lower-case identifiers ("phone", "sent_at") are data keys, not titles."""
    if call.func.attr == "rename":  # type: ignore[attr-defined]
        mapping = _keyword(call, "columns")
        candidates = mapping.values if isinstance(mapping, ast.Dict) else []
    else:
        candidates = [
            key
            for node in call.args
            for sub in ast.walk(node)
            if isinstance(sub, ast.Dict)
            for key in sub.keys
            if key is not None
        ]
    for candidate in candidates:
        for text in _literal_texts(candidate):
            if not re.fullmatch(r"[a-z0-9_]+", text):
                yield text


def unwrapped_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    receivers = _streamlit_names(tree)
    problems: list[str] = []

    def report(node: ast.AST, what: str, texts: Iterator[str]) -> None:
        for text in texts:
            if _has_words(text):
                problems.append(f"{_shown(path)}:{node.lineno}: {what}: {text!r}")

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        root = _root_name(node.func.value)
        if method == "DataFrame" or method == "rename":
            report(node, f"{method} column", _column_titles(node))
            continue
        if root in PLOTLY_ROOTS or method in PLOTLY_METHODS:
            for name in PLOTLY_KEYWORDS:
                report(node, f"{method}({name}=)", _literal_texts(_keyword(node, name)))
            for value in (
                _keyword(node, "xaxis"),
                _keyword(node, "yaxis"),
                _keyword(node, "labels"),
            ):
                if isinstance(value, ast.Dict):  # xaxis={"title": "Day"}, labels={"x": "Day"}
                    report(node, method, (t for v in value.values for t in _literal_texts(v)))
            continue
        if root not in receivers:
            continue
        if method.endswith("Column"):  # st.column_config.TextColumn("Label", help=...)
            positions: tuple[int, ...] | None = (0,)
        elif method in TEXT_ARGS:
            positions = TEXT_ARGS[method]
        elif method in ("tabs", "navigation", "dataframe", "data_editor"):
            positions = ()
        else:
            continue
        args = (
            node.args
            if positions is None
            else [node.args[i] for i in positions if i < len(node.args)]
        )
        for arg in args:
            report(node, method, _literal_texts(arg))
        for name in TEXT_KEYWORDS:
            report(node, f"{method}({name}=)", _literal_texts(_keyword(node, name)))
        if method in OPTION_METHODS:
            report(node, f"{method} options", _option_problems(node, method))
        if method == "tabs" and node.args:
            report(node, "tabs", _literal_texts(node.args[0]))
        if method == "navigation" and node.args and isinstance(node.args[0], ast.Dict):
            report(
                node,
                "navigation section",
                _literal_texts(ast.List(elts=[k for k in node.args[0].keys if k])),
            )
        config = _keyword(node, "column_config")
        if isinstance(config, ast.Dict):
            report(
                node,
                "column_config",
                (
                    t
                    for v in config.values
                    for t in _literal_texts(v)
                    if isinstance(v, ast.Constant)
                ),
            )
    return problems


def test_every_text_a_streamlit_call_shows_goes_through_gettext() -> None:
    problems = [problem for path in UI_FILES for problem in unwrapped_strings(path)]
    assert not problems, "wrap these in _() (or ngettext()):\n" + "\n".join(problems)


def test_the_navigation_titles_and_sections_are_in_the_catalogs(template) -> None:
    """app.py translates its PAGES table with `_(title)`; its literals are marked with N_() in
    ui/labels.py (NAVIGATION) so that extraction puts them in the catalogs."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    table = next(
        (
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets)
        ),
        None,
    )
    assert isinstance(table, ast.List), "app.py's PAGES table moved: point this test at it"
    texts = {
        text
        for row in table.elts
        if isinstance(row, ast.Tuple)
        for index, element in enumerate(row.elts)
        if index in (0, 2)
        for text in _literal_texts(element.args[0] if isinstance(element, ast.Call) else element)
        if _has_words(text)
    }
    known = {m.id for m in template if m.id}
    assert texts <= known, "add to ui/labels.NAVIGATION: " + ", ".join(sorted(texts - known))


def test_the_scan_catches_unwrapped_text_and_lets_wrapped_text_pass(tmp_path: Path) -> None:
    page = tmp_path / "example.py"
    page.write_text(
        "import streamlit as st\n"
        "from core.i18n import _, N_\n"
        "left, right = st.columns(2)\n"
        'st.title("Campaigns")\n'  # 1
        'left.metric("Sent", 3)\n'  # 2
        'st.button(_("Save"), help="Saves it")\n'  # 3 (help)
        'st.error(f"Could not save {name}")\n'  # 4
        'st.caption("{n} sent".format(n=3))\n'  # 5
        'st.radio(_("Mode"), ["Now", "Later"])\n'  # 6, 7
        'st.radio(_("Mode"), ["now", N_("Later")], format_func=_)\n'  # 8
        'st.tabs([_("One"), "Two"])\n'  # 9
        'st.dataframe(df, column_config={"phone": "Phone"})\n'  # 10
        'st.write(_("ok"), ":material/check:", "---", f"**{x}**", "v2", key="k")\n'
        'st.selectbox(_("Lang"), ["en", "es"], format_func=names.get)\n'
        'st.markdown(_("Sent: {n}").format(n=3))\n'
        'logger.error("not streamlit")\n'
        'st.dataframe(pd.DataFrame([{"phone": 1, "Sent at": 2, _("Name"): 3}]))\n'
        'st.dataframe(frame.rename(columns={"phone": "Phone number", "x": _("X")}))\n'
        'fig = go.Figure(go.Bar(x=xs, name="Sent", hovertemplate="%{x}<extra></extra>"))\n'
        'fig.update_layout(title=_("Per day"), xaxis={"title": "Day"}, yaxis_title=_("Messages"))\n'
    )
    problems = unwrapped_strings(page)
    texts = sorted(p.rsplit(": ", 1)[1].strip("'") for p in problems)
    assert texts == sorted(
        ["Campaigns", "Sent", "Saves it", "Could not save {}", "{n} sent"]
        + ["Now", "Later", "now", "Two", "Phone", "Sent", "Day", "Sent at", "Phone number"]
    ), problems


# -- (b) catalogs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template():
    return catalogs.extract_template()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_of_the_source_is_translated(template, language: str) -> None:
    lacking = catalogs.missing(language, template)
    assert not lacking, f"{language} lacks {len(lacking)} translations:\n" + "\n".join(
        map(repr, lacking)
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_of_the_committed_template_is_translated(language: str) -> None:
    lacking = catalogs.missing(language, catalogs.read_catalog(catalogs.TEMPLATE))
    assert not lacking, f"{language} lacks:\n" + "\n".join(map(repr, lacking))


def test_the_committed_template_matches_the_source(template) -> None:
    committed = {m.id for m in catalogs.read_catalog(catalogs.TEMPLATE) if m.id}
    assert committed == {m.id for m in template if m.id}, "run: python -m core i18n extract"


PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def placeholders(text: str) -> list[tuple[str, str, str]] | set[str]:
    """The {fields} of a format string with their conversion and format spec ({name!r},
    {size:.1f}): a translation must keep each exactly. Text that is not a format string falls
    back to the names alone."""
    try:
        return sorted(
            (name, conversion or "", spec or "")
            for _text, name, spec, conversion in string.Formatter().parse(text)
            if name is not None
        )
    except ValueError:
        return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language: str) -> None:
    wrong = []
    for message in catalogs.read_catalog(catalogs.po_path(language), language):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = placeholders(ids[-1])
        for translation in strings:
            if translation and placeholders(translation) != expected:
                wrong.append(f"{ids[0]!r} -> {translation!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_is_compiled_from_the_committed_po(language: str) -> None:
    assert catalogs.mo_path(language).exists()
    assert not catalogs.mo_is_stale(language), "run: python -m core i18n compile"


# -- the machinery -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("es", "es"),
        ("es-419", "es"),
        ("es-MX", "es"),
        ("es_AR", "es"),
        ("ES", "es"),
        ("pt", "pt_BR"),
        ("pt-BR", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("pt_BR", "pt_BR"),
        ("en", "en"),
        ("en-GB", "en"),
        ("fr-FR", None),
        ("", None),
        (None, None),
        ("  ", None),
    ],
)
def test_browser_languages_map_to_ours(tag, language) -> None:
    assert normalize_language(tag) == language


def test_the_language_of_the_run_picks_the_catalog() -> None:
    try:
        set_language("es-MX")
        assert i18n.current_language() == "es"
        assert _("Log in") == "Iniciar sesión"
        set_language("pt-PT")
        assert _("Log in") == "Entrar"
        set_language("fr")
        assert _("Log in") == "Log in"
    finally:
        set_language("en")


def test_unknown_text_stays_as_written_and_plurals_follow_the_language() -> None:
    try:
        set_language("pt_BR")
        assert _("a text nobody translated") == "a text nobody translated"
        # Brazilian Portuguese uses the singular for 0 and 1 (English: plural for 0)
        assert ngettext("{n} recipient", "{n} recipients", 0) == "{n} destinatário"
        assert ngettext("{n} recipient", "{n} recipients", 2) == "{n} destinatários"
        set_language("es")
        assert ngettext("{n} recipient", "{n} recipients", 0) == "{n} destinatarios"
        set_language("en")
        assert ngettext("{n} recipient", "{n} recipients", 0) == "{n} recipients"
    finally:
        set_language("en")


def test_catalogs_are_read_once_per_language(monkeypatch: pytest.MonkeyPatch) -> None:
    i18n.reload_catalogs()
    loads: list[str] = []
    real_load = i18n._load
    monkeypatch.setattr(
        i18n, "_load", lambda language: loads.append(language) or real_load(language)
    )
    try:
        for language in ("es", "pt_BR", "es", "pt_BR", "es"):
            set_language(language)
            _("Log in")
    finally:
        set_language("en")
    assert loads == ["es", "pt_BR"]


def test_each_thread_has_its_own_language() -> None:
    seen: dict[str, str] = {}

    def run(language: str) -> None:
        set_language(language)
        threading.Event().wait(0.01)
        seen[language] = _("Log in")

    threads = [threading.Thread(target=run, args=(lang,)) for lang in ("es", "pt_BR", "en")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"es": "Iniciar sesión", "pt_BR": "Entrar", "en": "Log in"}
    assert i18n.current_language() == "en"  # this thread never chose


# -- (c) pages, rendered -----------------------------------------------------------------------------

BROWSER = {"en": "en-US", "es": "es-419", "pt_BR": "pt-BR"}
PASSWORD = "correct horse battery"  # tests.builders.make_actor's


def translated(language: str, english: str) -> str:
    previous = i18n._current.get()
    set_language(language)
    try:
        return _(english)
    finally:
        i18n._current.set(previous)


def logged_in_app(username: str, browser: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    app.context = {"locale": browser}
    app.run()
    app.text_input[0].input(username)
    app.text_input[1].input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception, app.exception
    return app


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_login_page_speaks_the_browsers_language(
    engine, language: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # As in a fresh server process: only what app.py imports may register the session fallback.
    monkeypatch.delitem(sys.modules, "ui.language", raising=False)
    i18n._fallback = None

    def fallback_of_the_module_in_use() -> None:
        # The ui.language that later imports get (the one app.py imported here, or the one put
        # back) must be the one whose fallback is registered, or later pages read English.
        module = sys.modules.get("ui.language")
        i18n._fallback = module._session_language if module is not None else None

    request.addfinalizer(fallback_of_the_module_in_use)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    app.context = {"locale": BROWSER[language]}
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == translated(language, "Log in")
    assert app.text_input[1].label == translated(language, "Password")
    if language != "en":
        assert app.title[0].value != "Log in"


@pytest.mark.parametrize("language", TRANSLATED)
def test_after_login_the_page_speaks_the_users_saved_language(engine, session, account, language):
    """The gate in app.py sets the language; the page st.navigation runs must see it."""
    english = make_actor(session, account, Role.VIEWER, "edu")
    set_user_language(session, english.user_id, "en")
    actor = make_actor(session, account, Role.VIEWER, "dora")
    set_user_language(session, actor.user_id, language)
    session.commit()

    reference = logged_in_app("edu", BROWSER[language])  # saved English beats the browser
    app = logged_in_app("dora", "en-US")  # saved choice beats the browser

    english_title = reference.title[0].value
    assert app.title[0].value == translated(language, english_title) != english_title
    labels = {button.label for button in app.button}
    assert translated(language, "Log out") in labels
    assert "Log out" in {button.label for button in reference.button}
    captions = " ".join(caption.value for caption in app.sidebar.caption)
    assert translated(language, "viewer") in captions  # the role, shown as `_(actor.role)`


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_page_run_without_app_py_follows_the_session(
    engine, session, account, language, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fragment rerun runs no app.py in its thread: the session's language must still apply."""
    import ui.language

    # what importing ui.language in app.py does (an earlier test may have re-imported it)
    monkeypatch.setattr(i18n, "_fallback", ui.language._session_language)

    actor = make_actor(session, account, Role.VIEWER, "eva")
    session.commit()
    app = AppTest.from_file(str(ROOT / "views" / "profile.py"), default_timeout=30)
    app.context = {"locale": BROWSER[language]}
    app.session_state["actor"] = actor
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == translated(language, "My profile")


def _picker_script() -> None:
    import streamlit as st

    from core.i18n import _
    from ui.language import language_picker

    language_picker()
    st.title(_("Log in"))


def test_the_picker_saves_the_choice_on_the_user_and_the_next_run_uses_it(
    engine, session, account
) -> None:
    from core.people import user_language
    from ui.session import ACTOR_KEY

    actor = make_actor(session, account, Role.MANAGER, "fabi")
    session.commit()
    app = AppTest.from_function(_picker_script, default_timeout=30)
    app.context = {"locale": "es-MX"}
    app.session_state[ACTOR_KEY] = actor
    app.run()
    assert not app.exception, app.exception
    picker = app.sidebar.selectbox[0]
    assert picker.value == "es"  # nothing saved: the browser's language
    assert app.title[0].value == "Iniciar sesión"

    picker.select("pt_BR").run()
    assert app.title[0].value == "Entrar"
    session.expire_all()
    assert user_language(session, actor.user_id) == "pt_BR"
    session.rollback()  # end the read: SQLite would make the app's next write wait on it

    app.context = {"locale": "en-US"}  # another browser: the saved choice follows the user
    app.run()
    assert app.title[0].value == "Entrar"
    assert app.sidebar.selectbox[0].value == "pt_BR"


def test_before_login_the_picker_keeps_the_choice_in_the_session(engine) -> None:
    app = AppTest.from_function(_picker_script, default_timeout=30)
    app.context = {"locale": "fr-FR"}  # not offered: English
    app.run()
    assert app.title[0].value == "Log in"
    app.sidebar.selectbox[0].select("es").run()
    assert app.title[0].value == "Iniciar sesión"
    app.run()
    assert app.title[0].value == "Iniciar sesión"


# -- the catalog commands ----------------------------------------------------------------------------


def test_update_keeps_translations_and_adds_new_strings_untranslated_never_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from babel.messages.catalog import Catalog

    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(catalogs, "TEMPLATE", tmp_path / "locale" / "messages.pot")
    monkeypatch.setattr(catalogs, "ROOT", tmp_path)
    old = Catalog()
    old.add("Save")
    catalogs.write_catalog(catalogs.TEMPLATE, old)
    assert catalogs.main_update() == 0
    spanish = catalogs.read_catalog(catalogs.po_path("es"), "es")
    spanish.get("Save").string = "Guardar"
    catalogs.write_catalog(catalogs.po_path("es"), spanish)

    new = Catalog()
    new.add("Save")
    new.add("Save it")  # close to "Save": Babel would guess "Guardar" unless told not to
    new.add(("{n} file", "{n} files"))
    catalogs.write_catalog(catalogs.TEMPLATE, new)
    assert catalogs.main_update() == 0

    spanish = catalogs.read_catalog(catalogs.po_path("es"), "es")
    assert spanish.get("Save").string == "Guardar"
    assert spanish.get("Save it").string == "" and not spanish.get("Save it").fuzzy
    assert catalogs.missing("es", new) == ["Save it", "{n} file"]
    assert spanish.num_plurals == 2

    assert catalogs.main_compile() == 0
    assert not catalogs.mo_is_stale("es")
    spanish.get("Save it").string = "Guardarlo"
    catalogs.write_catalog(catalogs.po_path("es"), spanish)
    assert catalogs.mo_is_stale("es")


# -- ui/labels ---------------------------------------------------------------------------------------


def test_status_names_are_translated_and_a_campaigns_pending_differs_from_a_recipients() -> None:
    from core.models import CampaignStatus, RecipientStatus
    from ui.labels import count_label, error_kind_label, role_label, status_label

    set_language("es")
    assert status_label(CampaignStatus.PENDING) == "Programada"
    assert status_label(RecipientStatus.PENDING) == "En cola"
    assert status_label("running") == "En curso"  # a plain value: the campaign's name first
    assert status_label("something_new") == "something_new"  # unknown values shown as they are
    assert role_label("viewer") == "Lector"
    assert error_kind_label("not_on_whatsapp") == "No está en WhatsApp"
    assert error_kind_label("failed") == status_label("failed")
    set_language("pt_BR")
    assert count_label(1234, "contact") == "1.234 contatos"
    assert count_label(1, "recipient") == "1 destinatário"
    set_language("en")
    assert count_label(1, "campaign") == "1 campaign"
    assert status_label(CampaignStatus.CANCELLED) == "Cancelled"


def test_a_core_error_with_a_constant_message_is_shown_translated() -> None:
    """A domain error raised with a constant message: its msgid is the message itself."""
    from core.base import ValidationError
    from core.contacts import normalize_phone

    with pytest.raises(ValidationError) as raised:
        normalize_phone("   ")
    set_language("pt_BR")
    assert localize_error(raised.value) == "o telefone está vazio"
    set_language("en")
    assert localize_error(raised.value) == "phone is empty"
    messages = {message for _file, _line, message in catalogs.core_error_messages()}
    assert "phone is empty" in messages
    assert not any(
        file.startswith("core/cli/") for file, _line, _m in catalogs.core_error_messages()
    )


# -- (d) messages of core: constant templates, params that fit, shown in the reader's language ------

# AccountLocked's argument is when the lock ends (its message is fixed); LoginFailed() says
# "wrong username or password". Any other domain error needs a message.
NO_MESSAGE_ARGUMENT = frozenset({"AccountLocked"})
DEFAULT_MESSAGE = frozenset({"LoginFailed"})
NOT_PARAMS = frozenset({"message", "field", "errors", "details"})


def _constant(node: ast.expr | None) -> str | None:
    """The template when `node` is a string literal, or N_("literal")."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "N_":
        node = node.args[0] if len(node.args) == 1 else None
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def _fields(template: str) -> set[str]:
    return {
        re.split(r"[.\[]", name)[0]
        for _text, name, _spec, _conversion in string.Formatter().parse(template)
        if name is not None
    }


def template_problems(root: Path = ROOT) -> list[str]:
    """Domain errors (and import rejections) of core raised with a message built at run time
    (f-string, .format, concatenation, a variable), or whose keyword params do not fit the
    template's {fields}. Re-raising an existing error (`raise error`) builds nothing: not a call.
    `errors.add(field, N_("..."), **params)` (a form's problems in core.campaigns) likewise."""
    problems = []
    for file, tree in catalogs.core_files(root):
        for call in catalogs.error_calls(tree):
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", "")
            where = f"{file}:{call.lineno} {name}"
            if name in NO_MESSAGE_ARGUMENT:
                continue
            node = catalogs.error_message_node(call)
            if node is None:
                if name not in DEFAULT_MESSAGE:
                    problems.append(f"{where}: no message")
                continue
            template = _constant(node)
            if template is None:
                problems.append(f"{where}: message built at run time: {ast.unparse(node)[:70]}")
                continue
            if any(keyword.arg is None for keyword in call.keywords):
                continue  # **params: the template is still a constant, its fields checked at run
            given = {keyword.arg for keyword in call.keywords} - NOT_PARAMS
            if _fields(template) != given:
                problems.append(f"{where}: {template!r} is given {sorted(given)}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "errors"
                and len(node.args) >= 2
                and _constant(node.args[1]) is None
            ):
                problems.append(f"{file}:{node.lineno} errors.add: message built at run time")
    return problems


def test_domain_errors_of_core_are_raised_with_constant_templates_and_fitting_params() -> None:
    problems = template_problems()
    assert not problems, "\n".join(problems)


def test_the_template_scan_catches_messages_built_at_run_time(tmp_path: Path) -> None:
    (tmp_path / "core" / "cli").mkdir(parents=True)
    (tmp_path / "core" / "cli" / "tool.py").write_text('raise Conflict(f"{x} is English here")\n')
    (tmp_path / "core" / "bad.py").write_text(
        "from core import errors\n"
        'raise ValidationError(f"{n} columns", "file")\n'
        'raise NotFound("user {id} is gone".format(id=1))\n'
        'raise Conflict("cannot " + action)\n'
        "raise PermissionDenied(message)\n"
        'raise errors.ValidationError(f"{n} rows")\n'
        'raise RowRejected(f"phone {reason}")\n'
        'raise ValidationError("name is longer than {count} characters", "name")\n'
        'raise NotFound("campaign {id} does not exist", id=1, extra=2)\n'
        "raise NotFound()\n"
        'errors.add("message", f"unknown field {key!r}")\n'
    )
    (tmp_path / "core" / "good.py").write_text(
        'raise ValidationError("choose one phone column, not {count}: {columns}", "mapping",'
        " count=2, columns=cols)\n"
        'raise RowRejected(N_("malformed CSV: {error}"), error=error)\n'
        'raise RowRejected("phone {phone!r}: {problem}", **error.params)\n'
        'raise ValidationError("{name} is required", field, name=field)\n'
        "raise LoginFailed()\n"
        "raise AccountLocked(until)\n"
        "raise error\n"
        'errors.add("message", N_("message must be text"))\n'
    )

    problems = template_problems(tmp_path)

    assert [p.split(":")[1].split(" ")[0] for p in problems] == [str(n) for n in range(2, 12)]
    assert all(p.startswith("core/bad.py:") for p in problems)


def test_a_formatted_error_keeps_its_english_and_is_shown_in_each_language() -> None:
    """The API and logs keep the English; the page shows the same error translated, with the
    user's own data (here a column named like one of our words) left as it is."""
    from core.base import ValidationError
    from core.contacts._columns import check_mapping

    with pytest.raises(ValidationError) as raised:
        check_mapping(["paused", "Celular"], {"paused": "phone", "Celular": "phone"}, None)
    error = raised.value
    english = "choose one phone column, not 2: ['paused', 'Celular']"
    assert str(error) == error.message == english
    assert error.errors == [{"field": "mapping", "message": english}]

    set_language("es")
    assert (
        localize_error(error) == "elige una sola columna de teléfono, no 2: ['paused', 'Celular']"
    )
    set_language("pt_BR")
    assert (
        localize_error(error) == "escolha uma só coluna de telefone, não 2: ['paused', 'Celular']"
    )
    set_language("en")
    assert localize_error(error) == english


def test_words_of_our_vocabulary_are_translated_with_the_sentence(session, account) -> None:
    from core import contacts, people
    from core.base import Conflict, PermissionDenied, ValidationError
    from core.campaigns import _statuses as statuses
    from tests.builders import make_actor

    viewer = make_actor(session, account, Role.VIEWER, "vera")
    with pytest.raises(PermissionDenied) as denied:
        people.require(viewer, "contacts.write")
    cancel = statuses.cannot("cancel", "completed", ("pending", "running", "paused"))
    with pytest.raises(ValidationError) as nested:  # the phone's own reason inside the message
        contacts.create_contact(session, people.Actor.system(account.id), "123")

    assert str(denied.value) == "the viewer role may not do contacts.write"
    assert (
        str(cancel)
        == "cannot cancel a completed campaign (only a pending or running or paused one)"
    )
    assert isinstance(cancel, Conflict)
    assert str(nested.value) == "'123': too short for BR (+55)"
    set_language("es")
    assert localize_error(denied.value) == "el rol lector no puede editar contactos"
    assert localize_error(cancel) == (
        "no se puede cancelar una campaña completada (solo una programada, en curso o en pausa)"
    )
    assert localize_error(nested.value) == "'123': demasiado corto para BR (+55)"
    set_language("pt_BR")
    assert localize_error(denied.value) == "a função leitor não pode editar contatos"
    assert localize_error(cancel) == (
        "não é possível cancelar uma campanha concluída (só uma agendada, em andamento ou pausada)"
    )
    assert localize_error(nested.value) == "'123': curto demais para BR (+55)"


def test_several_problems_of_a_form_are_each_translated(session, admin) -> None:
    from core import people
    from core.base import ValidationError

    with pytest.raises(ValidationError) as raised:
        people.update_account_settings(
            session, admin, {"timezone": "Mars/Base", "confirm_above_recipients": 10**9}
        )
    error = raised.value
    assert [e["field"] for e in error.errors] == ["timezone", "confirm_above_recipients"]
    assert error.message == "; ".join(e["message"] for e in error.errors)  # as the API had it

    set_language("es")
    shown = localize_error(error)
    assert shown.startswith("zona horaria desconocida 'Mars/Base' (usa un nombre IANA")
    assert "; confirm_above_recipients debe estar entre 0 y " in shown
    assert [localize_entry(d) for d in error.details] == shown.split("; ")


def test_every_word_a_message_may_name_is_in_the_catalogs(template) -> None:
    from core.campaigns import TRANSITIONS
    from core.contacts._csv_reading import _NOT_CSV_SIGNATURES
    from core.models import CampaignStatus, MediaType
    from core.people import ALLOWED

    ids = {message.id for message in template if message.id}
    words = {
        *(str(status) for status in CampaignStatus),
        *(str(kind) for kind in MediaType),
        *(str(role) for role in Role),
        *ALLOWED[Role.ADMIN],
        *(action.replace("_", " ") for action in TRANSITIONS),
        *_NOT_CSV_SIGNATURES.values(),
    }
    assert words - ids == set()


def test_a_stored_reason_renders_after_a_round_trip_through_json() -> None:
    import json

    from core.base import ValidationError
    from core.contacts import normalize_phone
    from core.contacts._row_parser import RowRejected

    with pytest.raises(ValidationError) as raised:
        normalize_phone("12 34", None)
    stored = json.loads(
        json.dumps(RowRejected("phone {phone!r}: {problem}", **raised.value.params).stored())
    )

    assert (
        stored["reason"]
        == "phone '12 34': no country code: write it as +<country code> or set a default country"
    )
    set_language("pt_BR")
    assert localize_entry(stored, "reason") == (
        "telefone '12 34': sem código de país: escreva-o como +<código do país> ou defina um país padrão"
    )
    assert (
        localize_entry({"reason": "saved before templates"}, "reason") == "saved before templates"
    )


# -- (e) the Contacts page: a refused file and an import's report, translated ------------------------

IMPORT = b"Nome;Celular\nAna;(11) 98765-4321\nCaio;123\nAna Maria;11987654321\n"
REPORT = {
    "es": {
        "Row": "Fila",
        "Reason": "Motivo",
        "rejected": "teléfono '123': demasiado corto para BR (+55)",
        "merged": "mismo teléfono +5511987654321 que la fila 2: combinadas en un solo contacto",
        "refused": "no hay columna de teléfono: llama a una columna phone",
    },
    "pt_BR": {
        "Row": "Linha",
        "Reason": "Motivo",
        "rejected": "telefone '123': curto demais para BR (+55)",
        "merged": "mesmo telefone +5511987654321 da linha 2: mescladas em um só contato",
        "refused": "não há coluna de telefone: dê a uma coluna o nome phone",
    },
}


def contacts_page(actor, language: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Contacts page alone, in the language the browser asks for (as a page run without
    app.py finds it: through the session fallback)."""
    import ui.language

    monkeypatch.setattr(i18n, "_fallback", ui.language._session_language)
    # AppTest calls a widget's format_func again in the test's thread, when it reads the widget
    set_language(language)
    app = AppTest.from_file(str(ROOT / "views" / "contacts.py"), default_timeout=30)
    app.context = {"locale": BROWSER[language]}
    app.session_state["actor"] = actor
    return app.run()


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_import_report_gives_its_reasons_in_the_readers_language(
    session, manager, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.contacts import recent_batches, rejected_csv

    words = REPORT[language]
    app = contacts_page(manager, language, monkeypatch)
    app.file_uploader(key="contacts_upload").upload("clientes.csv", IMPORT, "text/csv")
    app.run()
    app.button(key="contacts_import").click().run()
    assert not app.exception, app.exception

    tables = [t.value for t in app.dataframe if words["Reason"] in t.value.columns]
    reasons = {row[words["Row"]]: row[words["Reason"]] for t in tables for _i, row in t.iterrows()}
    assert reasons == {3: words["rejected"], 4: words["merged"]}
    batch = recent_batches(session, manager)[0]
    assert "phone '123': too short for BR (+55)" in rejected_csv(batch).decode("utf-8-sig")


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_refused_file_is_explained_in_the_readers_language(
    manager, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = contacts_page(manager, language, monkeypatch)
    app.file_uploader(key="contacts_upload").upload("x.csv", b"name,email\nAna,a@b.c\n", "text/csv")
    app.run()
    app.button(key="contacts_import").click().run()

    assert not app.exception, app.exception
    shown = [error.value for error in app.error]
    assert any(e.startswith(REPORT[language]["refused"]) and "name, email" in e for e in shown), (
        shown
    )
