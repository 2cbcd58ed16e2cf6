"""`python -m core i18n extract|update|compile|check`: the gettext catalogs under locale/.

extract  — collect `_()`, `ngettext()`, `N_()` and `N_plural()` strings (see babel.cfg) into
           locale/messages.pot
update   — merge the template into every language's messages.po (new strings arrive untranslated)
compile  — write each messages.mo from its messages.po (the .mo files are committed)
check    — list strings a language lacks; exit status 1 when any is missing or a .mo is stale
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from core.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALE_DIR, reload_catalogs

ROOT = LOCALE_DIR.parent
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
BABEL_CFG = ROOT / "babel.cfg"
PROJECT = "WhatsApp API Campaigns"
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None, "N_plural": (1, 2)}
# Two forms, as gettext tools and translators expect (Babel's CLDR rules add a third for millions).
PLURAL_FORMS = {"es": "nplurals=2; plural=(n != 1);", "pt_BR": "nplurals=2; plural=(n > 1);"}
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("i18n", help="extract, update, compile the UI translations")
    actions = parser.add_subparsers(dest="i18n_command", required=True)
    for name, handler, text in (
        ("extract", _extract, "write locale/messages.pot from the source"),
        ("update", _update, "merge messages.pot into every language's messages.po"),
        ("compile", _compile, "write every messages.mo from its messages.po"),
        ("check", _check, "list untranslated strings and stale .mo files"),
    ):
        actions.add_parser(name, help=text).set_defaults(handler=handler)


# -- the work, usable from tests -------------------------------------------------------------------


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg's `[python: pattern]` sections, as extract_from_dir wants them."""
    method_map: list[tuple[str, str]] = []
    options: dict[str, dict[str, str]] = {}
    for line in BABEL_CFG.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            method, _sep, pattern = line[1:-1].partition(":")
            method_map.append((pattern.strip(), method.strip()))
            options[pattern.strip()] = {}
    return method_map, options


def extract_template(root: Path = ROOT) -> Catalog:
    """The template catalog for the source as it is now (nothing written)."""
    method_map, options = _method_map()
    template = Catalog(project=PROJECT, charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root),
        method_map,
        options,
        keywords=KEYWORDS,
        comment_tags=("i18n:",),
        strip_comment_tags=True,
    ):
        template.add(
            message,
            None,
            [(filename.replace("\\", "/"), lineno)],
            auto_comments=comments,
            context=context,
        )
    for filename, lineno, message in core_error_messages(root):
        template.add(message, None, [(filename, lineno)], auto_comments=[ERROR_COMMENT])
    return template


# A domain error of core is raised with a constant English template and keyword params
# (`ValidationError("... {count} ...", "field", count=n)`); pages show it with
# `core.i18n.localize_error`, which translates the template. The template is the msgid, taken
# from the first argument of these calls (tests/test_i18n.py fails on a template built at run time).
DOMAIN_ERRORS = frozenset(
    {
        "DomainError",
        "ValidationError",
        "NotFound",
        "PermissionDenied",
        "Conflict",
        "LoginFailed",
        "AccountLocked",
        "WebhookUnauthorized",
        "MalformedPayload",
        "RowRejected",  # core.contacts._row_parser: why a row of an import was refused
    }
)
ERROR_COMMENT = "an error message of core, shown in the UI"


def error_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """The calls that raise (or build) a domain error: `ValidationError(...)`, `errors.NotFound(...)`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in DOMAIN_ERRORS:
                yield node


def error_message_node(call: ast.Call) -> ast.expr | None:
    """The message argument of a domain error call (the first positional, or `message=`)."""
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "message"), None)


def core_files(root: Path = ROOT) -> Iterator[tuple[str, ast.Module]]:
    """(path, tree) of every module of core/ but the operator's CLI (which speaks English)."""
    for path in sorted((root / "core").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if not relative.startswith("core/cli/"):
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def core_error_messages(root: Path = ROOT) -> Iterator[tuple[str, int, str]]:
    """(file, line, message) of every domain error raised with a constant message in core/
    (the operator's CLI excluded: it speaks English)."""
    for relative, tree in core_files(root):
        for call in error_calls(tree):
            first = error_message_node(call)
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
                yield relative, call.lineno, first.value


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


def write_catalog(path: Path, catalog: Catalog, template: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # No line numbers: every edit of a page would otherwise rewrite the whole catalog.
    write_po(
        buffer,
        catalog,
        width=100,
        sort_output=True,
        include_lineno=False,
        ignore_obsolete=True,
        omit_header=False,
    )
    path.write_bytes(buffer.getvalue())


def new_catalog(language: str, template: Catalog) -> Catalog:
    catalog = Catalog(locale=language, project=PROJECT, charset="utf-8", fuzzy=False)
    headers = [(k, v) for k, v in catalog.mime_headers if k != "Plural-Forms"]
    catalog.mime_headers = [*headers, ("Plural-Forms", PLURAL_FORMS[language])]
    catalog.update(template, no_fuzzy_matching=True)
    return catalog


def updated_catalog(language: str, template: Catalog) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return new_catalog(language, template)
    catalog = read_catalog(path, language)
    # No fuzzy guesses: a near-miss translation shown to users is worse than an empty one.
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    return catalog


def compiled(catalog: Catalog) -> bytes:
    """The .mo of the complete translations only: Babel would also write a plural entry whose
    forms are empty, and gettext would then show users an empty text instead of the English."""
    complete = Catalog(locale=catalog.locale, charset="utf-8", fuzzy=False)
    complete.mime_headers = catalog.mime_headers
    for message in catalog:
        if message.id and is_translated(message):
            complete.add(message.id, message.string, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, complete, use_fuzzy=False)
    return buffer.getvalue()


def translations(catalog: Catalog) -> dict[object, object]:
    """msgid -> msgstr of the complete, non-fuzzy translations (what a .mo holds)."""

    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value  # .mo plurals are lists

    return {key(m.id): key(m.string) for m in catalog if m.id and is_translated(m)}


def is_translated(message: Message) -> bool:
    if message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings)


def missing(language: str, template: Catalog) -> list[str]:
    """The template's msgids (singular) that `language` lacks or has only fuzzily."""
    path = po_path(language)
    catalog = read_catalog(path, language) if path.exists() else Catalog(locale=language)
    lacking: list[str] = []
    for message in template:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        found = catalog.get(message.id, message.context)
        if found is None or not is_translated(found):
            lacking.append(key)
    return lacking


def mo_is_stale(language: str) -> bool:
    path = mo_path(language)
    if not path.exists():
        return True
    with path.open("rb") as file:
        on_disk = read_mo(file)
    return translations(on_disk) != translations(read_catalog(po_path(language), language))


# -- command handlers ------------------------------------------------------------------------------


def _extract(_args: argparse.Namespace | None = None) -> int:
    template = extract_template()
    if TEMPLATE.exists():
        # Keep the creation date, so that extracting unchanged source rewrites nothing (the date
        # travels into every .po and .mo header).
        template.creation_date = read_catalog(TEMPLATE).creation_date
    write_catalog(TEMPLATE, template, template=True)
    print(f"{TEMPLATE.relative_to(ROOT)}: {len(template)} strings")
    return 0


def _update(_args: argparse.Namespace | None = None) -> int:
    template = read_catalog(TEMPLATE)
    for language in TRANSLATED:
        catalog = updated_catalog(language, template)
        write_catalog(po_path(language), catalog)
        lacking = missing(language, template)
        print(f"{po_path(language).relative_to(ROOT)}: {len(lacking)} untranslated")
    return 0


def _compile(_args: argparse.Namespace | None = None) -> int:
    for language in TRANSLATED:
        catalog = read_catalog(po_path(language), language)
        problems = list(_problems(catalog))
        for problem in problems:
            print(f"{language}: {problem}", file=sys.stderr)
        if problems:
            return 1
        mo_path(language).write_bytes(compiled(catalog))
        print(f"{mo_path(language).relative_to(ROOT)}: {len(translations(catalog))} translated")
    reload_catalogs()
    return 0


def _problems(catalog: Catalog) -> Iterable[str]:
    for message, errors in catalog.check():
        for error in errors:
            yield f"{message.id!r}: {error}"


def _check(_args: argparse.Namespace) -> int:
    template = extract_template()
    status = 0
    for language in TRANSLATED:
        lacking = missing(language, template)
        for msgid in lacking:
            print(f"{language}: untranslated: {msgid!r}")
        if mo_is_stale(language):
            print(f"{language}: {mo_path(language).relative_to(ROOT)} is stale: run compile")
            status = 1
        status = status or int(bool(lacking))
    return status


main_update = _update
main_compile = _compile
