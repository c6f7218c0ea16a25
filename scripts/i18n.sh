#!/usr/bin/env bash
# Refresh the message catalog after changing UI strings: extract every marked string into the
# template, merge it into each language's catalog, then translate the new (empty) entries.
# tests/test_i18n.py fails until every entry has a translation.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCALES=lawangjabo/locales
.venv/bin/pybabel extract -F babel.cfg -k N_ -k Message --no-location --sort-output \
    --project "Lawang Jabo" -o "$LOCALES/messages.pot" .
for lang in id; do
    if [ -f "$LOCALES/$lang/LC_MESSAGES/messages.po" ]; then
        .venv/bin/pybabel update -i "$LOCALES/messages.pot" -d "$LOCALES" -l "$lang" \
            --no-fuzzy-matching --ignore-obsolete
    else
        .venv/bin/pybabel init -i "$LOCALES/messages.pot" -d "$LOCALES" -l "$lang"
    fi
done
