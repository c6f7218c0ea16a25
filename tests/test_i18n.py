"""Languages: every UI string is in the catalog and translated; no page shows an unmarked
string; Indonesian dates, times (WIB) and numbers."""

from __future__ import annotations

import ast
import json
import re
import string
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lawangjabo.config import PROJECT_ROOT
from lawangjabo.i18n import LOCALES, Translator, catalog

UI_FILES = [
    PROJECT_ROOT / "home.py",
    PROJECT_ROOT / "uikit.py",
    PROJECT_ROOT / "uikit_incidents.py",
    PROJECT_ROOT / "uikit_map.py",
    *sorted((PROJECT_ROOT / "pages").glob("*.py")),
]
# Streamlit calls whose first argument (or these keywords) a person reads.
SHOWN = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "error", "warning",
    "info", "success", "button", "link_button", "download_button", "form_submit_button",
    "metric", "toggle", "checkbox", "selectbox", "multiselect", "radio", "slider",
    "select_slider", "text_input", "text_area", "number_input", "date_input", "time_input",
    "file_uploader", "expander", "progress", "Page", "page_link",
}  # fmt: skip
SHOWN_KEYWORDS = {"help", "placeholder", "caption", "text", "label", "title"}


def _extracted() -> set[str]:
    method_map = [
        (line.strip()[1:-1].split(": ", 1)[1], "python")
        for line in (PROJECT_ROOT / "babel.cfg").read_text().splitlines()
        if line.startswith("[python:")
    ]
    keywords = {"_": None, "N_": None, "gettext": None, "Message": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(lang: str) -> dict[str, tuple[str, bool]]:
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        po = read_po(handle, locale=lang)
    return {str(m.id): (str(m.string), m.fuzzy) for m in po if m.id}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def test_every_ui_string_has_an_indonesian_translation() -> None:
    source = _extracted()
    assert len(source) > 200  # the extraction found the UI (not an empty set)
    translated = _catalog("id")
    missing = sorted(m for m in source if not translated.get(m, ("", False))[0])
    fuzzy = sorted(m for m in source if translated.get(m, ("", False))[1])
    assert not missing, f"no translation (run bash scripts/i18n.sh, then translate): {missing}"
    assert not fuzzy, f"fuzzy translations: {fuzzy}"


@pytest.mark.parametrize("lang", ["id"])
def test_translations_keep_their_placeholders(lang: str) -> None:
    for message, (translation, _fuzzy) in _catalog(lang).items():
        assert _fields(translation) == _fields(message), (message, translation)


def test_pages_show_no_unmarked_string() -> None:
    unmarked = _unmarked(UI_FILES)
    assert not unmarked, unmarked


def _unmarked(files: list[Path]) -> list[str]:
    """A string literal handed straight to a Streamlit display call is an untranslated UI
    string; it has to go through ``_()``. Markup-only strings (no words) are fine."""

    def has_words(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return bool(
                re.search(r"[A-Za-z]{2,}", re.sub(r"<[^>]*>|:material/\w+:", "", node.value))
            )
        if isinstance(node, ast.JoinedStr):
            return any(has_words(v) for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, ast.BinOp):
            return has_words(node.left) or has_words(node.right)
        return False

    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr not in SHOWN:
                continue
            shown = node.args[:1] + [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
            if node.func.attr in ("Page", "page_link"):  # the first argument is a file
                shown = [k.value for k in node.keywords if k.arg in ("title", "label")]
            offenders += [
                f"{path.name}:{node.lineno} {ast.unparse(arg)[:60]}"
                for arg in shown
                if has_words(arg)
            ]
    return offenders


def test_the_checker_catches_an_unmarked_string(tmp_path: Path) -> None:
    """The check above is not vacuous: it flags a plain literal in a page."""
    page = tmp_path / "bad.py"
    page.write_text(
        "import streamlit as st\n"
        'st.subheader("Camera wall")\n'
        'st.caption(_("ok"))\n'
        'st.metric(_("x"), 3, help=f"{n} cameras")\n'
        "st.markdown(f'<b>{name}</b>')\n"
    )
    assert _unmarked([page]) == ["bad.py:2 'Camera wall'", "bad.py:4 f'{n} cameras'"]


def test_indonesian_formats() -> None:
    moment = datetime(2026, 11, 28, 0, 42, 5, tzinfo=UTC)  # 07.42 WIB
    id_, en = Translator("id"), Translator("en")
    assert id_.when(moment) == "28 Nov 2026 07.42 WIB"
    assert en.when(moment) == "28 Nov 2026 07:42 WIB"
    assert id_.when(moment, seconds=True) == "28 Nov 2026 07.42.05 WIB"
    assert id_.day(moment) == "Sabtu, 28 November 2026"
    assert en.day(date(2026, 11, 28)) == "Saturday, 28 November 2026"
    assert id_.number(1234.5, 1) == "1.234,5" and en.number(1234.5, 1) == "1,234.5"
    assert id_.age(125) == "2 menit lalu" and en.age(125) == "2 min ago"
    assert id_.gettext("Camera wall") == "Dinding kamera"
    assert en.gettext("Camera wall") == "Camera wall"
    with pytest.raises(ValueError, match="unknown language"):
        catalog("fr")


def test_charts_speak_the_pages_language() -> None:
    """Chart axes get CLDR day and month names and 24-hour times in the user's language."""
    from lawangjabo.i18n import Translator

    id_locale = Translator("id").chart_locale()["time"]
    assert id_locale["days"][0] == "Minggu" and id_locale["months"][7] == "Agustus"
    assert id_locale["time"] == "%H.%M.%S" and "%p" not in id_locale["dateTime"]
    assert Translator("en").chart_locale()["time"]["shortMonths"][0] == "Jan"


def test_map_tooltips_made_in_the_core_are_translated(settings: Any) -> None:
    """The operations map's tooltip texts (built in lawangjabo/, not in a page) follow the
    viewer's language: no English word of ours in an Indonesian map."""
    from lawangjabo.cameras.registry import load_registry
    from lawangjabo.geo.districts import approximate_districts
    from lawangjabo.i18n import Translator
    from lawangjabo.server.services import Snapshot
    from lawangjabo.views.mapview import LayerToggles, operations_deck

    districts = approximate_districts(settings.city)
    registry = load_registry(settings.paths.registry_file, settings, districts)
    deck = operations_deck(
        settings, Snapshot(districts, registry), LayerToggles(), registry.cameras,
        translator=Translator("id"),
    )  # fmt: skip
    layers = {layer["id"]: layer for layer in json.loads(deck.to_json())["layers"]}
    texts = [
        str(row.get(field, ""))
        for layer_id in ("sites", "cameras", "district-labels")
        for row in layers[layer_id]["data"]
        for field in ("subtitle", "label")
    ]
    joined = " ".join(texts)
    assert "lokasi strategis" in joined and "BELUM DIPANTAU" in joined and "perkiraan" in joined
    for english in ("site ·", "NOT POLLED", "approx.", "heritage", "market"):
        assert english not in joined, english


def test_streamlits_page_starts_in_the_ui_locale() -> None:
    """PageLocale puts the locale script at the top of Streamlit's page, plain or gzipped (the
    outer GZip compresses again), and leaves our own CSP-guarded pages alone."""
    import asyncio
    import gzip
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from lawangjabo.server.web import PageLocale

    page = b"<!doctype html><html lang='en'><head><title>x</title></head><body></body></html>"
    fake = SimpleNamespace(
        settings=SimpleNamespace(city=SimpleNamespace(language="id")),
        auth=SimpleNamespace(users=SimpleNamespace(lookup=lambda name: None)),
    )

    def served(body: bytes, *headers: tuple[bytes, bytes]) -> tuple[dict[bytes, bytes], bytes]:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()), *headers]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})

        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/analytics"}
        call = PageLocale(app, services=lambda: fake)(scope, None, send)
        with ThreadPoolExecutor(1) as pool:  # a browser test's event loop may own this thread
            pool.submit(asyncio.run, call).result()
        return dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    plain_headers, plain = served(page)
    assert b'const l="id-ID"' in plain and plain.index(b"<script>") < plain.index(b"<title>")
    assert int(plain_headers[b"content-length"]) == len(plain)
    zipped_headers, unzipped = served(gzip.compress(page), (b"content-encoding", b"gzip"))
    assert b"content-encoding" not in zipped_headers and unzipped == plain
    _, ours = served(page, (b"content-security-policy", b"default-src 'none'"))
    assert ours == page  # our own pages run no inline script
