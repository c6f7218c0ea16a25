#!/usr/bin/env bash
# Install what the tests need, then lint, type-check and run the whole suite (unit, AppTest, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# Debian packages the tests drive for real: a browser, ffmpeg (HLS), HAProxy, PostgreSQL 15,
# GStreamer's RTSP server.
PACKAGES="chromium ffmpeg haproxy openssl postgresql-15 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good
          gstreamer1.0-plugins-ugly"
missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "note: missing Debian packages:" $missing "- install them as root, or the tests" \
         "that need them skip" >&2
  fi
fi
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
