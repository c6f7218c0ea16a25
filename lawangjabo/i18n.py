"""Languages: gettext catalogs (managed with Babel) and Indonesian/English time formats.

Source strings are English and marked with ``_()`` (or ``N_()`` where a constant is defined and
translated later). The catalog lives in ``lawangjabo/locales/<lang>/LC_MESSAGES/messages.po``;
it is compiled in memory when first used, so there is no binary file to forget to rebuild.
Maintain it with ``bash scripts/i18n.sh`` (pybabel extract + update); ``tests/test_i18n.py``
fails when a marked string has no translation or a page shows an unmarked one.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = Path(__file__).parent / "locales"
LANGUAGES: dict[str, str] = {"id": "Bahasa Indonesia", "en": "English"}
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for the catalog without translating it here."""
    return message


class Message(str):
    """A text for a person, built in the core, that a page can show in that person's language.

    It is the English text (so logs, the CLI and JSON get it as a plain string); ``template``
    and ``params`` let :meth:`text` translate it later. ``Message`` is an extraction keyword
    (scripts/i18n.sh): its first argument goes to the catalog."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        made = super().__new__(cls, template.format(**params) if params else template)
        made.template, made.params = template, params
        return made

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (and copies) as a plain string
        return (str, (str(self),))

    def text(self, gettext: Any = None) -> str:
        """In the language of ``gettext`` (a catalog's or a Translator's), English without."""
        if gettext is None:
            return str(self)
        params = {
            k: v.text(gettext) if isinstance(v, Message) else v for k, v in self.params.items()
        }
        return (
            str(gettext(self.template)).format(**params) if params else str(gettext(self.template))
        )


_PLAIN = "{text}"  # a variable, so the extractor does not catalog it


def as_message(value: object) -> Message:
    """``value`` (a Message, an exception carrying one, any text) as a Message: what the
    core did not phrase for translation stays English."""
    if isinstance(value, Message):
        return value
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], Message):
        return value.args[0]
    return Message(_PLAIN, text=str(value))


@lru_cache(maxsize=8)
def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalog for ``lang`` (English: the source strings themselves)."""
    if lang == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        messages = read_po(handle, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# Texts Streamlit's frontend hard-codes in English (no API sets them). The pages translate
# them in the browser (``Translator.frontend_texts`` → uikit's text shim): exact texts here,
# texts with a number or a list in ``FRONTEND_PATTERNS``.
FRONTEND_TEXTS = (
    N_("No results"),
    N_("Select all"),
    N_("Clear all"),
    N_("Choose an option"),
    N_("Choose options"),
    N_("No options to select"),
    N_("Drag and drop a file here"),
    N_("Drag and drop files here"),
    N_("Upload"),
    N_("Remove file"),
    N_("Download as CSV"),
    N_("Search"),
    N_("Fullscreen"),
    N_("Close fullscreen"),
    N_("Running..."),
    N_("Stop"),
    N_("Connection error"),
    N_(
        "Is Streamlit still running? If you accidentally stopped Streamlit, just restart it in your terminal:"  # noqa: E501
    ),
    N_("Copied to clipboard"),
    N_("Date range"),
    N_("Select..."),
    N_("Quick select a date range"),
    N_("Choose date"),
    N_("Choose date range"),
    N_("Clear date"),
    N_("Clear dates"),
    N_("Past Week"),
    N_("Past Month"),
    N_("Past 3 Months"),
    N_("Past 6 Months"),
    N_("Past Year"),
    N_("Past 2 Years"),
    N_("Previous month"),
    N_("Next month"),
    N_("Streamlit server is not responding. Are you connected to the internet?"),
)
# (a JavaScript regular expression over a whole text, its translation with $1 … groups)
FRONTEND_PATTERNS = ((r"^(\S+) per file$", N_("$1 per file")),)


@dataclass(frozen=True)
class Translator:
    """One language and time zone: translated strings, times, dates and numbers."""

    lang: str
    timezone: str = "Asia/Jakarta"

    def gettext(self, message: str) -> str:
        return catalog(self.lang).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return catalog(self.lang).ngettext(singular, plural, n)

    @property
    def zone_label(self) -> str:
        """'WIB' for Asia/Jakarta (and the zone's own abbreviation elsewhere)."""
        return datetime.now(ZoneInfo(self.timezone)).strftime("%Z")

    def when(self, moment: datetime, seconds: bool = False) -> str:
        """'28 Nov 2026 07.42 WIB' (id) or '28 Nov 2026 07:42 WIB' (en)."""
        clock = ("HH.mm" if self.lang == "id" else "HH:mm") + (
            (".ss" if self.lang == "id" else ":ss") if seconds else ""
        )
        text = format_datetime(
            moment, f"d MMM y {clock}", tzinfo=ZoneInfo(self.timezone), locale=self.lang
        )
        return f"{text} {self.zone_label}"

    def recent(self, moment: datetime) -> str:
        """'22:28 WIB' within the last 20 hours, else the full :meth:`when`."""
        if abs((datetime.now(moment.tzinfo) - moment).total_seconds()) < 20 * 3600:
            return f"{self.clock(moment)} {self.zone_label}"
        return self.when(moment)

    def clock(self, moment: datetime) -> str:
        """Time of day only: '07.42' (id) / '07:42' (en)."""
        pattern = "HH.mm" if self.lang == "id" else "HH:mm"
        return format_datetime(moment, pattern, tzinfo=ZoneInfo(self.timezone), locale=self.lang)

    def day(self, when: date | datetime) -> str:
        """'Sabtu, 28 November 2026' / 'Saturday, 28 November 2026'."""
        if isinstance(when, datetime):
            when = when.astimezone(ZoneInfo(self.timezone)).date()
        return format_date(when, "EEEE, d MMMM y", locale=self.lang)

    def weekday(self, when: date | datetime) -> str:
        """'Selasa' / 'Tuesday'; a moment counts in the city's time zone, not UTC's."""
        if isinstance(when, datetime):
            when = when.astimezone(ZoneInfo(self.timezone)).date()
        return format_date(when, "EEEE", locale=self.lang)

    def number(self, value: float, digits: int = 0) -> str:
        """'1.234,5' (id) / '1,234.5' (en)."""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def age(self, seconds: float | None) -> str:
        """How long ago: '12 s ago' / '12 dtk lalu'; 'never' / 'belum pernah'."""
        _ = self.gettext
        if seconds is None:
            return _("never")
        s = max(0, int(seconds))
        if s < 90:
            return _("{n} s ago").format(n=s)
        if s < 90 * 60:
            return _("{n} min ago").format(n=round(s / 60))
        if s < 36 * 3600:
            return _("{n} h ago").format(n=round(s / 3600))
        return _("{n} d ago").format(n=round(s / 86400))

    def chart_locale(self) -> dict[str, Any]:
        """Vega-Lite's ``config.locale`` for this language (CLDR names via Babel, 24-hour): chart
        axes name days and months as the rest of the page does, not in the browser's English."""
        locale = Locale.parse(self.lang)
        days = [locale.days["format"]["wide"][i] for i in (6, 0, 1, 2, 3, 4, 5)]  # Sunday first
        short_days = [locale.days["format"]["abbreviated"][i] for i in (6, 0, 1, 2, 3, 4, 5)]
        months = [locale.months["format"]["wide"][i] for i in range(1, 13)]
        short_months = [locale.months["format"]["abbreviated"][i] for i in range(1, 13)]
        separator = "." if self.lang == "id" else ":"
        decimal, group = (",", ".") if self.lang == "id" else (".", ",")
        return {
            "time": {
                "dateTime": f"%A, %e %B %Y %H{separator}%M{separator}%S",
                "date": "%d/%m/%Y",
                "time": f"%H{separator}%M{separator}%S",
                "periods": ["", ""],
                "days": days,
                "shortDays": short_days,
                "months": months,
                "shortMonths": short_months,
            },
            "number": {
                "decimal": decimal,
                "thousands": group,
                "grouping": [3],
                "currency": ["", ""],
            },
        }

    @property
    def browser_locale(self) -> str:
        """The locale Streamlit's frontend is told to use (24-hour English, or Indonesian)."""
        return "en-GB" if self.lang == SOURCE_LANGUAGE else f"{self.lang}-ID"

    def frontend_texts(self) -> dict[str, Any]:
        """Streamlit's own English texts in this language (exact texts and patterns), and the
        locale its calendar and number widgets should use instead of the browser's."""
        locale = self.browser_locale
        if self.lang == SOURCE_LANGUAGE:
            return {"words": {}, "patterns": [], "locale": locale}
        words = {text: self.gettext(text) for text in FRONTEND_TEXTS}
        patterns = [[source, self.gettext(text)] for source, text in FRONTEND_PATTERNS]
        return {"words": {k: v for k, v in words.items() if k != v}, "patterns": patterns,
                "locale": locale}  # fmt: skip

    @property
    def language_name(self) -> str:
        return Locale.parse(self.lang).get_display_name(self.lang) or self.lang
