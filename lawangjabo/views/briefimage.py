"""The daily brief as one A4 page (PNG, 150 dpi), drawn on the server with Pillow.

Map, numbers, open P1 incidents and camera outages: something a leader can forward in a chat.
The map is drawn from our own geometry (districts, the Musi, cameras by state), so it needs no
tile server and no browser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont
from shapely.geometry.base import BaseGeometry

from lawangjabo.i18n import Translator
from lawangjabo.server.services import Services
from lawangjabo.views.brief import Brief
from lawangjabo.views.healthview import STATE_COLOURS, Tile, state_label
from lawangjabo.views.mapview import cached_river

PAGE = (1240, 1754)
MARGIN = 60
MAP_BOX = (MARGIN, 420, PAGE[0] - MARGIN, 1100)
INK = (30, 30, 30)
MUTED = (110, 110, 110)
ACCENT = (200, 16, 46)
SIMULATED = (214, 40, 40)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Projection:
    """lon/lat → pixels inside ``box`` (equirectangular with cos(lat): fine for one city)."""

    def __init__(self, bbox: tuple[float, float, float, float], box: tuple[int, int, int, int]):
        west, south, east, north = bbox
        self.kx = math.cos(math.radians((south + north) / 2))
        width, height = (east - west) * self.kx, north - south
        scale = min((box[2] - box[0]) / width, (box[3] - box[1]) / height)
        self.scale, self.west, self.north = scale, west, north
        self.x0 = box[0] + ((box[2] - box[0]) - width * scale) / 2
        self.y0 = box[1] + ((box[3] - box[1]) - height * scale) / 2

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            self.x0 + (lon - self.west) * self.kx * self.scale,
            self.y0 + (self.north - lat) * self.scale,
        )


def _polygons(geometry: BaseGeometry) -> Iterable[list[tuple[float, float]]]:
    parts = getattr(geometry, "geoms", [geometry])
    for part in parts:
        if part.geom_type == "Polygon":
            yield list(part.exterior.coords)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
          fill: tuple[int, int, int] = INK) -> None:  # fmt: skip
    draw.text(xy, text, font=_font(size), fill=fill)


def draw_map(
    draw: ImageDraw.ImageDraw,
    services: Services,
    tiles: list[Tile],
    box: tuple[int, int, int, int],
    dot_px: int,
) -> None:
    """The city in ``box``: districts, the river, and the cameras (``tiles``) by state."""
    settings = services.settings
    bbox = settings.city.bbox
    project = _Projection((bbox.west, bbox.south, bbox.east, bbox.north), box)
    draw.rectangle(box, fill=(246, 246, 243))
    for district in services.snapshot().districts.districts:
        for ring in _polygons(district.geometry):
            draw.polygon([project(x, y) for x, y in ring], outline=(150, 150, 150),
                         width=max(1, dot_px // 5))  # fmt: skip
    if settings.city.river is not None:
        river = cached_river(settings.city.river, settings.city.metric_crs)  # lon/lat
        for ring in _polygons(river):
            draw.polygon([project(x, y) for x, y in ring], fill=(120, 170, 220))
    cameras = {c.id: c for c in services.snapshot().registry.cameras}
    for tile in tiles:
        camera = cameras.get(tile.camera_id)
        if camera is None:
            continue
        cx, cy = project(camera.lon, camera.lat)
        draw.ellipse((cx - dot_px, cy - dot_px, cx + dot_px, cy + dot_px),
                     fill=tuple(STATE_COLOURS[tile.state]), outline="white",
                     width=max(1, dot_px // 4))  # fmt: skip


def compact_map_png(
    services: Services, tiles: list[Tile], size: tuple[int, int] = (720, 480)
) -> bytes:
    """The phone brief's map: a small palette PNG (a few tens of KB) drawn on the server, so a
    slow link carries no map tiles and no map library."""
    image = Image.new("RGB", size, "white")
    draw_map(ImageDraw.Draw(image), services, tiles, (0, 0, size[0] - 1, size[1] - 1), dot_px=7)
    out = BytesIO()
    image.quantize(colors=48).save(out, format="PNG", optimize=True)
    return out.getvalue()


def daily_brief_png(services: Services, brief: Brief, t: Translator) -> bytes:
    """One A4 page: header, three numbers, the map, open P1 incidents and outages."""
    _ = t.gettext
    settings = services.settings
    image = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(image)
    _text(draw, (MARGIN, 50), _("Lawang Jabo · daily brief · {city}").format(
        city=settings.city.name), 40)  # fmt: skip
    _text(draw, (MARGIN, 105), f"{t.day(brief.at)} · {t.clock(brief.at)} {t.zone_label}", 28,
          MUTED)  # fmt: skip
    if settings.cameras.simulate:  # a forwarded demo brief must never pass for the real city
        mark = _("SIMULATED FEEDS · demo data, not real cameras")
        draw.rounded_rectangle((MARGIN, 142, PAGE[0] - MARGIN, 166), 6, fill=SIMULATED)
        _text(draw, (MARGIN + 12, 144), mark, 20, (255, 255, 255))
    kpis = (
        (_("Cameras online"), f"{t.number(brief.online_pct)} %",
         _("{online} of {total}").format(online=brief.online, total=brief.total)),
        (_("Open P1 incidents"), str(brief.open_by_priority["P1"]),
         _("P2 {p2} · P3 {p3}").format(p2=brief.open_by_priority["P2"],
                                       p3=brief.open_by_priority["P3"])),
        (_("Incidents today"), str(brief.today),
         _("usual for a {weekday}: {usual}").format(
             weekday=t.weekday(brief.at), usual=t.number(brief.usual_today, 1))),
    )  # fmt: skip
    width = (PAGE[0] - 2 * MARGIN - 40) // 3
    for i, (label, value, note) in enumerate(kpis):
        x = MARGIN + i * (width + 20)
        draw.rounded_rectangle((x, 170, x + width, 380), 12, outline=(200, 200, 200), width=2)
        _text(draw, (x + 20, 190), label, 26, MUTED)
        _text(draw, (x + 20, 235), value, 72, ACCENT if i == 1 and value != "0" else INK)
        _text(draw, (x + 20, 330), note, 22, MUTED)

    draw_map(draw, services, brief.tiles, MAP_BOX, dot_px=9)

    y = MAP_BOX[3] + 30
    _text(draw, (MARGIN, y), _("Open P1 incidents"), 30)
    y += 45
    p1_lines = [
        f"#{row['id']} {row['category']} · {row['kecamatan']} · {_(row['status'])} · "
        f"{t.when(row['reported_at'])}"
        for row in brief.p1_open[:8]
    ]
    for line in p1_lines or [_("None.")]:
        _text(draw, (MARGIN + 10, y), line, 24)
        y += 34
    y += 20
    _text(draw, (MARGIN, y), _("Camera outages now"), 30)
    y += 45
    outage_lines = [
        f"{state_label(tile.state, t)} · {tile.name} · {tile.picture_text(t)}"
        for tile in brief.outages[:10]
    ]
    for line in outage_lines or [_("None.")]:
        _text(draw, (MARGIN + 10, y), line, 24)
        y += 34
    _text(draw, (MARGIN, PAGE[1] - 60), _("Generated by Lawang Jabo on the server."), 20, MUTED)
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
