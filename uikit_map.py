"""The operations-map component (``st.components.v2``): registered once per process, mounted by
the operations page. Its code is ``assets/opsmap.js``/``.css``; its data is built, in the core,
by :func:`lawangjabo.views.opsmap.map_payload`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

ASSETS = Path(__file__).parent / "assets"
HTML = """<div class="lj-opsmap" tabindex="0" data-ready="false" data-open="false">
<div class="lj-canvas" role="application"></div>
<div class="lj-search"><input type="search" autocomplete="off" role="combobox"
 aria-controls="lj-results"><ul class="lj-results" id="lj-results" role="listbox" hidden></ul></div>
<div class="lj-status" role="status"></div>
<div class="lj-tip" hidden><img alt=""><div></div><div></div><div></div></div>
<div class="lj-banner" role="alert" hidden></div>
<section class="lj-card" hidden aria-live="polite">
<header><div class="lj-name"></div><button class="lj-close" type="button">×</button></header>
<div class="lj-where"></div>
<img alt="" hidden><div class="lj-nopicture" hidden></div><div class="lj-live" hidden></div>
<div class="lj-state"></div><div class="lj-livebar" role="status"></div><div class="lj-note"></div>
<div class="lj-actions"><button class="lj-golive" type="button" hidden></button></div>
</section></div>"""

_component = st.components.v2.component(
    "lawangjabo.opsmap",
    html=HTML,
    css=(ASSETS / "opsmap.css").read_text(encoding="utf-8"),
    # one module: the live player, then the map that uses it
    js="\n".join((ASSETS / f).read_text(encoding="utf-8") for f in ("liveplayer.js", "opsmap.js")),
)


def operations_map(payload: dict[str, Any], key: str, on_change: Any) -> str | None:
    """Mount the map; the camera the operator selected in it (None: none)."""
    result = _component(
        key=key,
        data=payload,
        default={"selected": None},
        on_selected_change=on_change,
        height="content",
    )
    return selected(result)


def selected(value: Any) -> str | None:
    """The ``selected`` state out of the component's session-state entry."""
    if value is None:
        return None
    chosen = value.get("selected") if hasattr(value, "get") else getattr(value, "selected", None)
    return str(chosen) if chosen else None
