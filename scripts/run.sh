#!/usr/bin/env bash
# Install (once) and run Lawang Jabo on its embedded Palembang data: http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# A demo account on first run; its password is printed once (or set LAWANGJABO_DEMO_PASSWORD).
.venv/bin/python -m lawangjabo users demo
exec .venv/bin/streamlit run app.py "$@"
