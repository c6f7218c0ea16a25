"""Districts (kecamatan): an approximate layer built from facts, and import of official boundaries.

Official boundary files (BIG, or any GeoJSON / GeoPackage / Shapefile that pyogrio reads) cannot be
shipped with the project. Until one is imported the app shows Voronoi cells of the districts'
reference points clipped to the city bbox, clearly labelled *approximate*. ``import_boundaries``
validates a file, maps its features onto the configured districts by code or name, repairs invalid
rings and writes the result atomically to the state folder, where the app picks it up.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from lawangjabo.config import CityConfig, DistrictFact
from lawangjabo.fileio import write_text_atomic
from lawangjabo.geo.geometry import to_lonlat, to_metric

log = logging.getLogger(__name__)


def normalise_name(name: str) -> str:
    """Fold a district name for matching: case, accents, spaces, hyphens and dots ignored."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


@dataclass(frozen=True)
class District:
    code: str
    name: str
    geometry: BaseGeometry  # lon/lat


@dataclass
class DistrictLayer:
    """The districts in use, with where they came from."""

    districts: list[District]
    official: bool
    source: str
    _tree: STRtree | None = field(default=None, repr=False)

    def _index(self) -> STRtree:
        if self._tree is None:
            self._tree = STRtree([d.geometry for d in self.districts])
        return self._tree

    def lookup(self, lon: float, lat: float) -> District | None:
        """The district containing a point (on a shared edge: the first by code)."""
        hits = self._index().query(Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return min((self.districts[int(i)] for i in hits), key=lambda d: d.code)


class DistrictCatalog:
    """Maps names, aliases and codes to the configured districts."""

    def __init__(self, facts: list[DistrictFact]) -> None:
        self.facts = facts
        self._by_code = {f.code: f for f in facts}
        self._by_name: dict[str, DistrictFact] = {}
        for fact in facts:
            for alias in (fact.name, *fact.aliases):
                self._by_name[normalise_name(alias)] = fact

    def by_code(self, code: str) -> DistrictFact | None:
        return self._by_code.get(code.strip())

    def by_name(self, name: str) -> DistrictFact | None:
        return self._by_name.get(normalise_name(name))

    def canonical_name(self, name: str) -> str | None:
        fact = self.by_name(name)
        return fact.name if fact else None


def approximate_districts(city: CityConfig) -> DistrictLayer:
    """Voronoi cells of the districts' reference points, clipped to the city bbox (metric CRS)."""
    if not city.districts:
        return DistrictLayer([], official=False, source="none configured")
    crs = city.metric_crs
    bbox = box(city.bbox.west, city.bbox.south, city.bbox.east, city.bbox.north)
    bbox_m = to_metric(bbox, crs)
    points_m = [to_metric(Point(d.point.lon, d.point.lat), crs) for d in city.districts]
    cells = shapely.voronoi_polygons(MultiPoint(points_m), extend_to=bbox_m)
    districts = []
    for fact, point in zip(city.districts, points_m, strict=True):
        cell = next(c for c in cells.geoms if c.contains(point))
        districts.append(District(fact.code, fact.name, to_lonlat(cell.intersection(bbox_m), crs)))
    return DistrictLayer(
        districts,
        official=False,
        source="approximate: Voronoi cells of the districts' reference points",
    )


@dataclass
class BoundaryReject:
    feature: int
    reason: str


@dataclass
class BoundaryImport:
    """What an import found: accepted districts, rejected features, notes (repairs, gaps)."""

    districts: list[District]
    rejects: list[BoundaryReject]
    notes: list[str]
    written: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.rejects


def _polygonal(geom: BaseGeometry) -> MultiPolygon | Polygon | None:
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
        if polys:
            merged = shapely.union_all(polys)
            if isinstance(merged, Polygon | MultiPolygon):
                return merged
    return None


def read_boundaries(
    path: Path,
    city: CityConfig,
    name_field: str | None = None,
    code_field: str | None = None,
    layer: str | None = None,
    assume_crs: str | None = None,
    sublevel: bool = False,
) -> BoundaryImport:
    """Read and validate an official boundary file; nothing is written here. ``sublevel``: the
    city's finer level (kelurahan), named as the file names them (codes must be unique)."""
    catalog = DistrictCatalog(city.districts)
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        return BoundaryImport([], [BoundaryReject(-1, f"cannot read {path.name}: {exc}")], [])
    notes: list[str] = []
    if frame.crs is None:
        if assume_crs is None:
            return BoundaryImport(
                [], [BoundaryReject(-1, "file has no CRS; pass --assume-crs (e.g. EPSG:4326)")], []
            )
        frame = frame.set_crs(assume_crs)
        notes.append(f"no CRS in file; assumed {assume_crs}")
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        notes.append(f"reprojected from {frame.crs.to_string()} to EPSG:4326")
        frame = frame.to_crs(4326)
    columns = [c for c in frame.columns if c != "geometry"]
    for wanted, label in ((name_field, "name"), (code_field, "code")):
        if wanted is not None and wanted not in columns:
            return BoundaryImport(
                [], [BoundaryReject(-1, f"{label} field {wanted!r} not in {columns}")], []
            )
    if name_field is None and code_field is None:
        return BoundaryImport(
            [],
            [BoundaryReject(-1, f"give --name-field and/or --code-field; fields: {columns}")],
            [],
        )

    city_box = box(city.bbox.west, city.bbox.south, city.bbox.east, city.bbox.north)
    accepted: dict[str, District] = {}
    rejects: list[BoundaryReject] = []
    for index, row in enumerate(frame.itertuples(index=False)):
        record: dict[str, Any] = row._asdict()
        shown = record.get(name_field or "") or record.get(code_field or "")
        fact: _Named | DistrictFact | None
        if sublevel:
            fact = _named(record, name_field, code_field)
            if fact is None:
                rejects.append(BoundaryReject(index, "no name (or code) in this feature"))
                continue
        else:
            fact = None
            if code_field is not None and record.get(code_field) not in (None, ""):
                fact = catalog.by_code(str(record[code_field]))
            if fact is None and name_field is not None and record.get(name_field) not in (None, ""):
                fact = catalog.by_name(str(record[name_field]))
            if fact is None:
                rejects.append(BoundaryReject(index, f"{shown!r} matches no configured district"))
                continue
        geom = record.get("geometry")
        if geom is None or geom.is_empty:
            rejects.append(BoundaryReject(index, f"{fact.name}: missing geometry"))
            continue
        geom = shapely.force_2d(geom)
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            geom = shapely.make_valid(geom)
            notes.append(f"feature {index} ({fact.name}): repaired invalid geometry ({reason})")
        poly = _polygonal(geom)
        if poly is None:
            rejects.append(
                BoundaryReject(index, f"{fact.name}: geometry is {geom.geom_type}, not a polygon")
            )
            continue
        if not poly.intersects(city_box):
            rejects.append(
                BoundaryReject(
                    index,
                    f"{fact.name}: polygon lies outside the city bbox (wrong CRS or axis order?)",
                )
            )
            continue
        if fact.code in accepted:
            rejects.append(
                BoundaryReject(index, f"{fact.name}: duplicate district (code {fact.code})")
            )
            continue
        accepted[fact.code] = District(fact.code, fact.name, poly)
    missing = [] if sublevel else [f.name for f in city.districts if f.code not in accepted]
    if missing:
        notes.append(f"districts missing from the file: {', '.join(missing)}")
    districts = sorted(accepted.values(), key=lambda d: d.code)
    if sublevel:
        districts = _unique_names(districts)
        level = city.sublevel
        if level is not None and len(districts) != level.count:
            notes.append(f"{len(districts)} {level.label} in the file; the city file expects "
                         f"{level.count}")  # fmt: skip
    return BoundaryImport(districts, rejects, notes)


@dataclass(frozen=True)
class _Named:
    code: str
    name: str


def _text(value: Any) -> str:
    """An attribute as text; empty for none (a file's missing value may read as NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _named(record: dict[str, Any], name_field: str | None, code_field: str | None) -> _Named | None:
    name = _text(record.get(name_field or ""))
    code = _text(record.get(code_field or "")) or name
    return _Named(code, name or code) if code else None


def _unique_names(districts: list[District]) -> list[District]:
    """Names as shown; two places of one name (in different districts) get their code."""
    counts: dict[str, int] = {}
    for d in districts:
        counts[d.name] = counts.get(d.name, 0) + 1
    return [d if counts[d.name] == 1 else District(d.code, f"{d.name} ({d.code})", d.geometry)
            for d in districts]  # fmt: skip


LEVEL_RATIO = 2.0  # a polygon's area may differ from the configured one by this factor


SUBLEVEL_RATIOS = (0.2, 2.0)  # median area / (districts' total area / count): kelurahan 0.40


def sublevel_mismatch(places: list[District], city: CityConfig) -> str | None:
    """Why these polygons cannot be the city's finer level by their areas, or None: their
    median area (EPSG:32748) against the districts' total area shared by the configured count
    must lie within ×0.2 … ×2 (BIG 2023 kelurahan: ×0.40; its kecamatan: ×4.5)."""
    level = city.sublevel
    total = sum(d.area_km2 or 0.0 for d in city.districts)
    if level is None or not places or not total:
        return None
    areas = sorted(to_metric(p.geometry, city.metric_crs).area / 1e6 for p in places)
    median, typical = areas[len(areas) // 2], total / level.count
    low, high = SUBLEVEL_RATIOS
    if low <= median / typical <= high:
        return None
    return (
        f"the polygons' areas disagree with {level.count} {level.label}: median {median:.2f} km² "
        f"against about {typical:.2f} km² each (×{median / typical:.2f}); is this another level "
        f"({city.district_label}?) — nothing installed"
    )


def level_mismatch(districts: list[District], city: CityConfig) -> str | None:
    """Why these polygons cannot be this city's districts by their areas, or None: the median
    of measured/configured area (EPSG:32748) must lie within ×1/2 … ×2."""
    configured = {d.code: d.area_km2 for d in city.districts if d.area_km2}
    ratios = []
    worst: tuple[float, str, float, float] | None = None
    for district in districts:
        expected = configured.get(district.code)
        if not expected:
            continue
        measured = to_metric(district.geometry, city.metric_crs).area / 1e6
        ratio = measured / expected
        ratios.append(ratio)
        if worst is None or abs(math.log(ratio)) > abs(math.log(worst[0])):
            worst = (ratio, district.name, measured, expected)
    if not ratios or worst is None:
        return None
    median = sorted(ratios)[len(ratios) // 2]
    if 1 / LEVEL_RATIO <= median <= LEVEL_RATIO:
        return None
    return (
        f"the polygons' areas disagree with the configured {city.district_label}: median "
        f"×{median:.2f} of the configured areas (e.g. {worst[1]} {worst[2]:.2f} km² against "
        f"{worst[3]:.2f} km²); is this another level (kelurahan?) — nothing installed"
    )


def import_boundaries(
    path: Path,
    city: CityConfig,
    destination: Path,
    name_field: str | None = None,
    code_field: str | None = None,
    layer: str | None = None,
    assume_crs: str | None = None,
    allow_partial: bool = False,
    sublevel: bool = False,
) -> BoundaryImport:
    """Validate a boundary file; if clean (or ``allow_partial``) install it atomically. A file
    whose polygons are far smaller or larger than the configured level (another level, e.g.
    kelurahan given as kecamatan or the reverse) is refused whole, ``allow_partial`` or not."""
    if sublevel and city.sublevel is None:
        return BoundaryImport(
            [], [BoundaryReject(-1, "the city file declares no [city.sublevel]")], []
        )
    result = read_boundaries(path, city, name_field, code_field, layer, assume_crs, sublevel)
    check = sublevel_mismatch if sublevel else level_mismatch
    wrong_level = check(result.districts, city)
    if wrong_level is not None:
        result.rejects.insert(0, BoundaryReject(-1, wrong_level))
        result.districts = []
        return result
    if not result.districts or (result.rejects and not allow_partial):
        return result
    collection = {
        "type": "FeatureCollection",
        "lawangjabo": {
            "kind": city.sublevel.id if sublevel and city.sublevel else "districts",
            "source": path.name,
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "features": [
            {
                "type": "Feature",
                "properties": {"code": d.code, "name": d.name},
                "geometry": mapping(d.geometry),
            }
            for d in result.districts
        ],
    }
    write_text_atomic(destination, json.dumps(collection))
    result.written = destination
    log.info("installed %d official districts from %s", len(result.districts), path.name)
    return result


def load_sublevel_layer(city: CityConfig, installed: Path) -> DistrictLayer | None:
    """The finer level's official polygons if installed and readable, else None (it has no
    approximation: a place the city has not installed is not shown)."""
    if city.sublevel is None or not installed.is_file():
        return None
    try:
        data = json.loads(installed.read_text(encoding="utf-8"))
        places = [
            District(f["properties"]["code"], f["properties"]["name"], shape(f["geometry"]))
            for f in data["features"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("installed %s %s unreadable (%s)", city.sublevel.label, installed, exc)
        return None
    meta = data.get("lawangjabo", {})
    source = f"official: {meta.get('source', installed.name)} ({meta.get('imported_at', '')})"
    return DistrictLayer(places, official=True, source=source)


def load_district_layer(city: CityConfig, installed: Path) -> DistrictLayer:
    """The official districts if imported (and readable), else the approximate layer."""
    if installed.is_file():
        try:
            data = json.loads(installed.read_text(encoding="utf-8"))
            districts = [
                District(f["properties"]["code"], f["properties"]["name"], shape(f["geometry"]))
                for f in data["features"]
            ]
            meta = data.get("lawangjabo", {})
            source = (
                f"official: {meta.get('source', installed.name)} ({meta.get('imported_at', '')})"
            )
            return DistrictLayer(districts, official=True, source=source)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error(
                "installed districts %s unreadable (%s); using approximate layer", installed, exc
            )
    return approximate_districts(city)
