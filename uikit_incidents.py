"""UI helpers for incidents: the incident header, the place picker and form, import (preview,
turns, progress) and export, and "Was it on camera?" (split from uikit by concern)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from lawangjabo.cameras.capture import error_label
from lawangjabo.cameras.registry import Camera
from lawangjabo.i18n import N_, as_message
from lawangjabo.incidents.analytics import Filters
from lawangjabo.incidents.evidence import evidence_zip
from lawangjabo.incidents.files import (
    COLUMN_NOTES,
    EXPORT_FORMATS,
    READABLE_COLUMNS,
    ImportChoices,
    ImportResult,
    export_incidents,
    import_incidents,
    read_incidents,
    rejects_csv,
)
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.incidents.store import PRIORITIES, IncidentError, IncidentStore, NewIncident
from lawangjabo.labels import COLUMN_LABELS
from lawangjabo.server.services import Services
from lawangjabo.views.incidentview import cell_centre, incident_witnesses, level_layer, pick_deck
from uikit import _, camera_name, labelled, local_time, multiselect, services, tr


def incident_header(incident: dict[str, Any], category: str, agencies: dict[str, str]) -> None:
    """The selected incident's one-line summary and where it is."""
    lead = agencies.get(incident["lead_agency"], incident["lead_agency"])
    st.markdown(
        _("**Incident {id}** · {category} · {priority} · **{status}** · lead: {agency}").format(
            id=incident["id"],
            category=category,
            priority=incident["priority"],
            status=_(incident["status"]),
            agency=lead,
        )
    )
    st.caption(
        _("{kecamatan} · {lat:.5f}, {lon:.5f} · nearest camera {camera} ({metres} m)").format(
            kecamatan=" · ".join(p for p in (incident["kelurahan"], incident["kecamatan"]) if p)
            or "—",
            lat=incident["lat"],
            lon=incident["lon"],
            camera=camera_name(incident["nearest_camera"]),
            metres=incident["camera_distance_m"],
        )
    )


def incident_import(store: IncidentStore, actor: str) -> None:
    """Import a file of incidents in two steps. The preview says what was found (format,
    encoding, separator), how each column is read (editable), which category words are unknown
    (mapped here once, remembered) and every row's problems, in the reader's language; then
    all rows are written or none, or only the valid rows, as the person chooses."""
    upload = st.file_uploader(
        _("Import incidents"), type=["csv", "xlsx", "geojson", "json", "parquet"]
    )
    if upload is None:
        return
    data = upload.getbuffer()  # Streamlit's own copy, not another one
    state = st.session_state.setdefault("import-choices", {})
    file_key = f"{upload.name}:{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"
    choices: ImportChoices = state.get(file_key, ImportChoices())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(data)
        preview = _preview(store, path, file_key, choices)
        st.markdown("**" + _("Preview") + "**")
        for note in preview.notes:
            if as_message(note).template not in COLUMN_NOTES:  # the table below shows those
                st.caption(as_message(note).text(_))
        if preview.columns:
            choices = _column_choices(preview.columns, choices, str(abs(hash(file_key))))
        if preview.unknown_words or choices.words:
            choices = _word_choices(store, preview.unknown_words, choices)
        if choices != state.get(file_key, ImportChoices()):
            state.clear()  # one file's choices at a time
            state[file_key] = choices
            st.rerun()
        good, bad = preview.valid, preview.problems
        _show_rejects(preview)
        if bad:
            st.warning(_("{good} rows can be imported; {bad} problems.").format(good=good, bad=bad))
        else:
            st.success(_("All {good} rows can be imported.").format(good=good))
        left, right = st.columns(2)
        whole = left.button(_("Import all rows"), key="import-incidents", disabled=bool(bad))
        valid = right.button(
            _("Import only the {n} valid rows").format(n=good),
            key="import-valid",
            disabled=not (bad and good),
        )
        if not (whole or valid):
            return
        if choices.words and st.session_state.get("remember-words", True):
            store.remember_category_words(choices.words, actor)
            services().audit(actor, "category_words_remembered", dict(choices.words))
        result = _import_in_turn(store, path, actor, valid, choices, preview.rows)
    st.session_state.pop("import-preview", None)  # the stored ids changed
    services().audit(
        actor,
        "incident_import",
        {"file": upload.name, "written": result.written, "rejected": result.problems},
    )
    if result.written:
        st.success(_("{n} incidents imported.").format(n=result.written))
    if result.problems and not result.written:
        st.error(_("Nothing was imported."))


def _preview(
    store: IncidentStore, path: Path, file_key: str, choices: ImportChoices
) -> ImportResult:
    """The file checked with these choices (nothing kept but counts and the first problems),
    once: a widget change elsewhere on the page does not read a large file again."""
    cached = st.session_state.get("import-preview")
    if cached is not None and cached[0] == file_key and cached[1] == choices:
        found: ImportResult = cached[2]
        return found
    with st.spinner(_("Reading and checking every row …")):
        preview = read_incidents(path, store.settings, store, choices=choices, keep_items=False)
    st.session_state["import-preview"] = (file_key, choices, preview)
    return preview


def _import_in_turn(
    store: IncidentStore, path: Path, actor: str, partial: bool, choices: ImportChoices, rows: int
) -> ImportResult:
    """Import once no other import runs in this process (saying how many are ahead), with a
    progress bar; leaving the page rolls the import back."""
    waiting = st.empty()
    bar = st.progress(0.0, text=_("Importing …"))

    def wait(ahead: int) -> None:
        waiting.info(_("Waiting: {n} import(s) ahead of this one.").format(n=ahead))

    def progress(so_far: ImportResult) -> None:
        said = _("{n} of {total} rows read, checked and written")
        bar.progress(min(1.0, so_far.rows / max(1, rows)), said.format(n=so_far.rows, total=rows))

    with services().import_turns.turn(wait):
        waiting.empty()
        result = import_incidents(store, path, actor, allow_partial=partial, choices=choices,
                                  progress=progress)  # fmt: skip
    bar.empty()
    return result


def _column_choices(columns: dict[str, str], choices: ImportChoices, key: str) -> ImportChoices:
    """The file's columns and what each is read as; a change is the person's choice."""
    rows = pd.DataFrame({"column": list(columns), "read_as": list(columns.values())})
    labels = {k: COLUMN_LABELS.get(k, k) for k in READABLE_COLUMNS}
    heads = {k: _(COLUMN_LABELS[k]) for k in ("column", "read_as")}
    edited = st.data_editor(
        rows,
        hide_index=True,
        disabled=["column"],
        key=f"import-columns-{key}",
        column_config={
            "column": st.column_config.TextColumn(heads["column"]),
            "read_as": st.column_config.SelectboxColumn(
                heads["read_as"],
                options=["", *READABLE_COLUMNS],
                format_func=lambda k: _(labels[str(k)]) if k else _("(not used)"),
            ),
        },
    )
    frame: pd.DataFrame = edited
    chosen = {
        r["column"]: r["read_as"] or ""
        for r in frame.to_dict(orient="records")
        if (r["read_as"] or "") != columns[r["column"]]
    }
    if not chosen:
        return choices
    return ImportChoices({**choices.columns, **chosen}, choices.words)


def _word_choices(
    store: IncidentStore, unknown: dict[str, int], choices: ImportChoices
) -> ImportChoices:
    """A category for each unknown word of the file, remembered for later files if wanted."""
    names = store.settings.category_names(tr().lang)
    st.markdown("**" + _("Category words this system does not know") + "**")
    words = dict(choices.words)
    asked = {**dict.fromkeys(choices.words, 0), **unknown}  # chosen ones stay, to be changed
    for word, count in sorted(asked.items(), key=lambda item: -item[1]):
        label = _("{word!r} ({n} rows) means") if count else _("{word!r} means")
        picked = st.selectbox(
            label.format(word=word, n=count),
            ["", *names],
            format_func=lambda c: names.get(c, _("(choose a category)")),
            key=f"word-{word}",
        )
        if picked:
            words[word] = picked
        else:  # set back to "choose": the word is unknown again
            words.pop(word, None)
    st.checkbox(_("Remember these words for later imports"), value=True, key="remember-words")
    return choices if words == choices.words else ImportChoices(choices.columns, words)


def _show_rejects(preview: ImportResult, shown: int = 50) -> None:
    """Every problem (the first ``shown`` on the page, all in the report), in this language."""
    if not preview.problems:
        return
    rows = [
        {"row": r.row, "field": _(COLUMN_LABELS.get(r.field, r.field)),
         "reason": as_message(r.reason).text(_)}
        for r in preview.rejects
    ]  # fmt: skip
    st.table(labelled(rows[:shown]))  # text, not a canvas: read aloud, found, copied
    if preview.problems > shown:
        st.caption(_("{n} more in the rejects report").format(n=len(rows) - shown))
    st.download_button(
        _("Download the rejects report"),
        rejects_csv(preview.rejects, _),
        file_name="rejects.csv",
        mime="text/csv",
    )


def was_it_on_camera(
    svc: Services, incident: dict[str, Any], cameras: list[Camera], actor: str
) -> None:
    """The cameras (of this account's) whose view covers the incident's spot: their state at
    its time and their stored picture nearest it, best first; and the evidence ZIP (audited)."""
    found = incident_witnesses(svc, incident, cameras)
    st.markdown("**" + _("Was it on camera?") + "**")
    if not found:
        st.caption(_("No camera's field of view covers this spot."))
        return
    when = incident["occurred_at"]
    rows = [
        {
            "camera": w.camera.props.name,
            "distance_m": w.distance_m,
            "state_at_time": _(STATE_AT.get(w.state) or error_label(w.state)),
            "picture_at": local_time(w.picture_at) if w.picture_at else _("no picture kept"),
            "gap": _age_words(w.gap_s(when)),
            "note": _("PTZ: may have pointed elsewhere") if w.pointing_unknown else "",
        }
        for w in found
    ]
    st.dataframe(labelled(rows), hide_index=True, width="stretch", key="witnesses")
    shown = [w for w in found if w.picture is not None][:4]
    for column, w in zip(st.columns(max(1, len(shown))), shown, strict=False):
        assert w.picture is not None and w.picture_at is not None
        try:
            column.image(w.picture.read_bytes(), caption=_("{camera} at {when}").format(
                camera=w.camera.props.name, when=local_time(w.picture_at)))  # fmt: skip
        except OSError:  # pruned since it was listed
            column.caption(_("{camera}: picture no longer kept").format(camera=w.camera.props.name))

    def build() -> bytes:
        svc.audit(actor, "evidence_export", {"incident": incident["id"],
                                             "cameras": [w.camera.id for w in found]})  # fmt: skip
        agencies = {a.id: a.name for a in svc.settings.agencies}
        return evidence_zip(incident, found, agencies, actor, datetime.now(UTC))

    st.download_button(
        _("Export the evidence (ZIP with SHA-256 of each picture)"),
        build,
        file_name=f"incident-{incident['id']}-evidence.zip",
        mime="application/zip",
        key="evidence-export",
        on_click="ignore",  # audited when built; no rerun of the page
    )


STATE_AT = {"online": N_("online"), "dark": N_("dark"), "frozen": N_("frozen"),
            "unknown": N_("unknown: no poll then")}  # fmt: skip


def _age_words(seconds: float | None) -> str:
    """How far a picture is from the incident's time, in words."""
    if seconds is None:
        return ""
    if seconds < 90:
        return _("{n} s from the incident").format(n=round(seconds))
    if seconds < 90 * 60:
        return _("{n} min from the incident").format(n=round(seconds / 60))
    return _("{n} h from the incident").format(n=round(seconds / 3600))


def place_filter(svc: Services) -> tuple[str, tuple[str, ...]]:
    """The level the analytics count by (the districts, or the city's finer level once its
    boundaries are installed) and the places picked at it (none: all)."""
    city = svc.settings.city
    levels = {"kecamatan": city.district_label}
    if city.sublevel is not None:
        levels["kelurahan"] = city.sublevel.label
    level = "kecamatan"
    if len(levels) > 1:
        level = st.radio(
            _("Count by"), list(levels), format_func=lambda k: _(levels[k]), horizontal=True
        )
    layer = level_layer(svc, level)
    if level == "kelurahan" and not layer.districts:
        st.info(
            _("{label} boundaries are not installed yet, so nothing is counted by {label}; "
              "an administrator installs the official file with import-districts --level "
              "{level}.").format(label=_(levels[level]), level=city.sublevel.id if city.sublevel
                                 else level)
        )  # fmt: skip
        return "kecamatan", ()
    waiting = svc.places_waiting if level == "kelurahan" else None
    if waiting:
        st.caption(
            _("{n} older incidents are still being given their {label}; they count once done.")
            .format(n=waiting, label=_(levels[level]))
        )  # fmt: skip
    names = sorted(d.name for d in layer.districts)
    picked = multiselect(_(levels[level]).capitalize(), names)
    return level, tuple(picked)


def incident_export(store: IncidentStore, filters: Filters, actor: str, scope: CameraScope) -> None:
    """Download the filtered incidents; each file is built (and audited) only when clicked.
    ``scope``: what this account may know of cameras (another agency's internal camera is
    neither named nor measured in the file)."""

    def builder(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            services().audit(actor, "incident_export", {"format": fmt})
            return export_incidents(store, filters, fmt, scope)

        return build

    formats = tuple(EXPORT_FORMATS.items())
    for column, (fmt, mime) in zip(st.columns(len(formats)), formats, strict=True):
        column.download_button(
            _("Export {format}").format(format=fmt.upper()),
            builder(fmt),
            file_name=f"incidents.{fmt}",
            mime=mime,
            key=f"export-{fmt}",
            on_click="ignore",  # audited when built: a rerun after each file would redraw
        )  # the page (and replace the other buttons' files while one is being fetched)


def incident_place_picker(svc: Services, cameras: list[Camera]) -> None:
    """A map to click where a new incident is; the choice goes to the form's coordinates."""
    with st.expander(_("New incident: click the map, or pick a site, a camera or coordinates")):
        clicked = st.pydeck_chart(
            pick_deck(svc, st.session_state.get("picked_cell"), cameras, tr()),
            on_select="rerun",
            selection_mode="single-object",
            key="pick-map",
            height=360,
        )
        chosen = clicked.selection.objects.get("pick-grid") or []
        if chosen and chosen[0]["hex"] != st.session_state.get("picked_cell"):
            st.session_state.picked_cell = chosen[0]["hex"]
            st.session_state["incident-where"] = "coordinates"
        cell = st.session_state.get("picked_cell")
        if cell:
            lat, lon = cell_centre(cell)
            st.caption(_("Picked on the map: {lat:.5f}, {lon:.5f}").format(lat=lat, lon=lon))


def incident_form(svc: Services, store: IncidentStore, actor: str, cameras: list[Camera]) -> None:
    """Log a new incident: only the fields for the chosen 'where'; the form clears once the
    incident is logged; a likely second report of the same thing asks first."""
    settings = svc.settings
    state = st.session_state
    categories = {c.id: c for c in settings.incident_categories}
    category_names = settings.category_names(tr().lang)
    sites = {s.id: s for s in settings.city.sites}
    by_id = {c.id: c for c in cameras}
    agencies = {a.id: a.name for a in settings.agencies}
    labels = {"site": _("Site"), "camera": _("Camera"), "coordinates": _("Coordinates")}
    where = st.radio(
        _("Where"), list(labels), format_func=labels.__getitem__, horizontal=True,
        key="incident-where",
    )  # fmt: skip

    def log(item: NewIncident) -> None:
        new_id = store.create(item, actor)
        state.incident = new_id
        state.pop("picked_cell", None)
        svc.audit(actor, "incident_created", {"id": new_id, "category": item.category})
        state["incident-logged"] = _("Incident {id} logged; lead agency: {agency}.").format(
            id=new_id, agency=agencies[categories[item.category].lead]
        )
        state["incident-form"] = state.get("incident-form", 0) + 1  # a new, empty form
        st.rerun()

    logged = state.pop("incident-logged", None)
    if logged:
        st.success(logged)
    with st.form(f"new-incident-{state.get('incident-form', 0)}", clear_on_submit=True):
        category = st.selectbox(
            _("Category"), list(categories), format_func=category_names.__getitem__
        )
        st.caption(_("The lead agency follows the category (it can be changed after)."))
        priority = st.radio(_("Priority"), PRIORITIES, index=1, horizontal=True)
        if where == "site":
            site = sites[st.selectbox(_("Site"), list(sites), format_func=lambda s: sites[s].name)]
            lat, lon = site.point.lat, site.point.lon
        elif where == "camera" and by_id:
            chosen = st.selectbox(
                _("Camera"), list(by_id), format_func=lambda c: by_id[c].props.name
            )
            lat, lon = by_id[chosen].lat, by_id[chosen].lon
        else:
            cell = state.get("picked_cell")
            start = cell_centre(cell) if cell else (settings.city.centre.lat,
                                                    settings.city.centre.lon)  # fmt: skip
            lat = st.number_input(_("Latitude"), value=start[0], format="%.5f")
            lon = st.number_input(_("Longitude"), value=start[1], format="%.5f")
        description = st.text_area(_("Description"))
        submitted = st.form_submit_button(_("Log incident"), type="primary")
    if submitted:
        item = NewIncident(datetime.now(UTC), category, priority, lat, lon,
                           description=description)  # fmt: skip
        try:
            store.validate(item)
        except IncidentError as error:
            st.error(str(error))
            return
        duplicates = store.likely_duplicates(item)
        if duplicates:
            state["incident-pending"] = (item, duplicates)
        else:
            log(item)
    pending = state.get("incident-pending")
    if pending:
        item, duplicates = pending
        first = duplicates[0]
        st.warning(
            _(
                "Likely already logged: incident {id} ({category}, {metres} m away, {when}). "
                "Log this one too?"
            ).format(
                id=first["id"],
                category=category_names[item.category],
                metres=first["metres"],
                when=tr().when(first["occurred_at"]),
            ),
            icon=":material/content_copy:",
        )
        yes, no = st.columns(2)
        if yes.button(_("Log it anyway"), key="log-duplicate"):
            state.pop("incident-pending")
            log(item)
        if no.button(_("Do not log it"), key="drop-duplicate"):
            state.pop("incident-pending")
            state.incident = first["id"]
            st.rerun()
