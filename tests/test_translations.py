"""The catalogues are complete: every string marked for translation in webapp/ (templates, forms,
flash messages, e-mails) has a German and a Spanish translation, with every plural form filled and
the same placeholders, and each committed .mo file is its .po compiled.

When this fails after adding or changing strings: `make translations`, then translate the new empty
entries in webapp/translations/{de,es}/LC_MESSAGES/messages.po and run `make translations` again."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "webapp" / "translations"
LANGUAGES = ("de", "es")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def extracted() -> dict[object, str]:
    """Every msgid marked in the code and templates (what `make translations` extracts), with where."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[object, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def catalogue(language: str) -> Catalog:
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=language)


def problems(catalog: Catalog, wanted: dict[object, str]) -> list[str]:
    """What is missing or wrong in a catalogue for the wanted msgids (empty: complete)."""
    out = []
    for msgid, where in sorted(wanted.items(), key=lambda kv: str(kv[0])):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        if message is None:
            out.append(f"missing: {msgid!r} ({where})")
            continue
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        if message.fuzzy or not all(strings):
            out.append(f"untranslated or fuzzy: {msgid!r} ({where})")
            continue
        if isinstance(msgid, tuple) and len(strings) != catalog.num_plurals:
            out.append(f"needs {catalog.num_plurals} plural forms: {msgid!r} ({where})")
        source = msgid[-1] if isinstance(msgid, tuple) else msgid
        for s in strings:
            if set(PLACEHOLDER.findall(s)) - set(PLACEHOLDER.findall(source)) or (
                    set(PLACEHOLDER.findall(source)) - set(PLACEHOLDER.findall(s)) - {"%(num)d"}):
                out.append(f"placeholders differ: {msgid!r} -> {s!r}")
    return out


def messages(catalog: Catalog) -> dict:
    """{msgid: translation} of a catalogue, plural ids and forms as tuples."""
    def key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return {key(m.id): key(m.string) for m in catalog if m.id}


@pytest.fixture(scope="module")
def wanted() -> dict[object, str]:
    found = extracted()
    assert len(found) > 500, "the extraction found too little: is babel.cfg still right?"
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_string_is_translated(wanted, language):
    found = problems(catalogue(language), wanted)
    assert not found, (f"{len(found)} problems in the {language} catalogue (run `make translations`, translate, "
                       "run it again):\n" + "\n".join(found[:40]))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_is_the_po_file(language):
    """The app reads the .mo: it must be the .po compiled (a .po edited without `make translations` fails)."""
    po = catalogue(language)
    compiled = io.BytesIO()
    write_mo(compiled, po)
    compiled.seek(0)
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as f:
        mo = read_mo(f)
    expect = read_mo(compiled)
    assert messages(mo) == messages(expect), f"webapp/translations/{language}: the .mo is stale; run `make translations`"


def test_the_check_notices_a_new_untranslated_string(wanted):
    """The completeness check itself fails on a string that is not in a catalogue, or is empty there."""
    catalog = catalogue("de")
    assert problems(catalog, {"A sentence nobody translated yet.": "x.html:1"}) == [
        "missing: 'A sentence nobody translated yet.' (x.html:1)"]
    some = next(iter(m for m in catalog if m.id and not m.pluralizable))
    some.string = ""
    assert problems(catalog, {some.id: "y.py:2"}) == [f"untranslated or fuzzy: {some.id!r} (y.py:2)"]
    plural = next(iter(m for m in catalog if m.pluralizable))
    plural.string = (plural.string[0], "")
    assert problems(catalog, {tuple(plural.id): "z.py:3"})[0].startswith("untranslated or fuzzy")


def test_a_template_string_is_extracted(wanted):
    """Strings from templates, forms (lazy), flash messages, the domain's messages and e-mails all count."""
    for msgid, where in (("Total value", "portfolio/_summary.html"), ("Remember me", "auth/login.html"),
                         ("Enter your email address.", "web/forms.py"),
                         ("The quantity must be greater than zero.", "domain/inputs.py"),
                         ("Hello %(name)s,", "mail/"), ("Account renamed.", "blueprints/accounts.py")):
        assert msgid in wanted and where in wanted[msgid], (msgid, wanted.get(msgid))
