"""The camera registry: pydantic records, tolerant loading with per-feature rejects, CSV import.

A registry is a GeoJSON FeatureCollection of Point features whose properties follow
:class:`CameraProperties`. Loading never raises on bad content: every valid camera loads and
each rejected feature is reported with its index, id (when readable) and reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lawangjabo.config import Settings
from lawangjabo.fileio import write_text_atomic
from lawangjabo.geo.districts import DistrictCatalog, DistrictLayer, normalise_name

log = logging.getLogger(__name__)

Protocol = Literal["hls", "rtsp", "mjpeg", "jpeg", "hikvision", "dahua", "onvif"]
# A vendor camera's snapshot endpoint, appended to its base address: (sweep, operator click).
# Hikvision: the sub-stream's small JPEG for the sweep, the main stream's for a click.
VENDOR_PATHS: dict[str, tuple[str, str]] = {
    "hikvision": ("/ISAPI/Streaming/channels/{channel}02/picture",
                  "/ISAPI/Streaming/channels/{channel}01/picture"),
    "dahua": ("/cgi-bin/snapshot.cgi?channel={channel}", "/cgi-bin/snapshot.cgi?channel={channel}"),
}  # fmt: skip
EstimatedField = Literal["position", "heading_deg", "fov_deg", "range_m"]


def _checked_url(value: str) -> str:
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("http", "https", "rtsp", "rtsps", "env", "secret"):
        raise ValueError("stream url scheme must be http, https, rtsp, rtsps, env or secret")
    if scheme.lower() not in ("env", "secret") and "@" in rest.split("/", 1)[0]:
        # Never stored, never echoed: the registry is a file many people read and copy.
        raise ValueError(
            "a user name or password inside the stream URL is refused: give the whole URL "
            "as env://NAME (an environment variable of the poller) or secret://NAME (the "
            "[streams] table of the secrets file)"
        )
    return value


class SharpSource(BaseModel):
    """A sharper picture for an operator's click (the main stream), when the sweep reads a
    cheap one (a sub-stream or a thumbnail endpoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1)]
    protocol: Literal["hls", "rtsp", "mjpeg", "jpeg"]

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return _checked_url(value)


class Stream(BaseModel):
    """Where a camera's pictures come from. Server-side only: never sent to a browser.

    ``hikvision``, ``dahua`` and ``onvif`` take the camera's base address (``http://10.2.3.4``
    or, with its account, ``env://NAME`` / ``secret://NAME``) and read the vendor's snapshot
    endpoint (ONVIF: the one the camera announces) with HTTP Digest; ``channel`` picks the
    camera channel (NVRs have many)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1)]
    protocol: Protocol
    channel: Annotated[int, Field(ge=1, le=64)] = 1
    sharp: SharpSource | None = None
    # The camera's video for the live view when the sweep reads pictures (a Hikvision's
    # rtsp://HOST:554/Streaming/Channels/101, as env:// or secret://); else the live view
    # uses a video source the camera already has, or its pictures.
    live: SharpSource | None = None
    # An HLS stream behind a city portal: the [portals] profile (headers, cookie, TLS, pacing).
    portal: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    # An RTSP camera that needs one transport (many need TCP through NAT or a firewall);
    # default: FFmpeg's own choice (UDP, then TCP).
    transport: Literal["tcp", "udp"] | None = None

    @model_validator(mode="after")
    def _vendor_base(self) -> Stream:
        if self.portal is not None and self.protocol != "hls":
            raise ValueError("a portal profile is for HLS streams (protocol = 'hls')")
        if self.transport is not None and self.protocol != "rtsp":
            raise ValueError("a transport is for RTSP streams (protocol = 'rtsp')")
        based = (*VENDOR_PATHS, "onvif")
        if self.protocol in based and self.url.split("://", 1)[0] in ("http", "https"):
            path = self.url.split("://", 1)[1].partition("/")[2]
            if path.strip("/"):
                raise ValueError(
                    f"a {self.protocol} camera's url is its base address (scheme, host, port); "
                    "the snapshot path is added for it"
                )
        return self

    def source(self, sharp: bool = False) -> tuple[str, str]:
        """(url, protocol) to capture: for the sweep, or the sharper one for a click. A vendor
        camera's path follows a secret reference and is added after it is resolved."""
        if sharp and self.sharp is not None:
            return self.sharp.url, self.sharp.protocol
        if self.protocol in VENDOR_PATHS:
            path = VENDOR_PATHS[self.protocol][int(sharp)].format(channel=self.channel)
            return self.url.rstrip("/") + path, self.protocol
        if self.portal is not None:
            return self.url, f"portal-hls:{self.portal}"
        if self.transport is not None:
            return self.url, f"rtsp-{self.transport}"
        if self.protocol == "onvif":  # the camera says where: its first profile is the sharp one
            return self.url, "onvif-main" if sharp else "onvif"
        return self.url, self.protocol

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return _checked_url(value)


class CameraProperties(BaseModel):
    """One camera's record (the GeoJSON feature's properties)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    owner: Annotated[str, Field(min_length=1)]
    kind: Literal["fixed", "ptz"]
    heading_deg: Annotated[float, Field(ge=0, lt=360, strict=True)]
    fov_deg: Annotated[float, Field(gt=0, le=360, strict=True)]
    range_m: Annotated[float, Field(gt=0, le=2000, strict=True)]
    estimated: list[EstimatedField] = []
    stream: Stream | None
    source: Annotated[str, Field(min_length=3)]
    verified: Annotated[bool, Field(strict=True)]
    kecamatan: str | None = None
    scope: Literal["publik", "internal"] = "publik"
    confidence: Literal["high", "medium", "low"] = "medium"
    tags: list[str] = []
    note: str | None = None

    @field_validator("heading_deg", "fov_deg", "range_m")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


@dataclass(frozen=True)
class Camera:
    """A validated camera with its position (WGS84)."""

    props: CameraProperties
    lon: float
    lat: float

    @property
    def id(self) -> str:
        return self.props.id

    def public_row(self, agency_name: str) -> dict[str, Any]:
        """The fields a browser may see. The stream never leaves the server."""
        p = self.props
        return {
            "id": p.id,
            "name": p.name,
            "owner": p.owner,
            "agency": agency_name,
            "kecamatan": p.kecamatan or "",
            "kind": p.kind,
            "heading_deg": p.heading_deg,
            "fov_deg": p.fov_deg,
            "range_m": p.range_m,
            "lon": self.lon,
            "lat": self.lat,
            "verified": p.verified,
            "has_stream": p.stream is not None,
            "estimated": list(p.estimated),
            "confidence": p.confidence,
            "scope": p.scope,
            "source": p.source,
        }

    def to_feature(self) -> dict[str, Any]:
        props = self.props.model_dump(mode="json")
        for optional in ("kecamatan", "note"):  # ``stream: null`` stays: "none known" is a fact
            if props[optional] is None:
                del props[optional]
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": props,
        }


@dataclass(frozen=True)
class Reject:
    """A feature (or row) that did not load, and why."""

    index: int | None  # feature index (GeoJSON) or line number (CSV); None for the whole file
    camera_id: str | None
    reason: str

    def __str__(self) -> str:
        where = "file" if self.index is None else f"#{self.index}"
        who = f" ({self.camera_id})" if self.camera_id else ""
        return f"{where}{who}: {self.reason}"


@dataclass
class RegistryLoad:
    """The outcome of loading a registry: what loaded, what was rejected, what looks odd."""

    cameras: list[Camera] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source: str = ""

    def by_id(self, camera_id: str) -> Camera | None:
        return next((c for c in self.cameras if c.id == camera_id), None)


def agency_lookup(settings: Settings) -> dict[str, str]:
    """Every accepted spelling of every agency (id, name, aliases) → the agency's id."""
    found: dict[str, str] = {}
    for agency in settings.agencies:
        for spelling in (agency.id, agency.name, *agency.aliases):
            found.setdefault(normalise_name(spelling), agency.id)
    return found


def _short(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = ".".join(str(x) for x in item["loc"]) or "record"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _point(geometry: Any, bbox_contains: Any) -> tuple[float, float] | str:
    """(lon, lat) of a GeoJSON Point inside the city, or the reason it is not usable."""
    if geometry is None:
        return "missing geometry"
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return f"geometry must be a Point, got {kind}"
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or len(coords) not in (2, 3)
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
    ):
        return f"coordinates must be [lon, lat] numbers, got {coords!r}"
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return "coordinates must be finite"
    if bbox_contains(lon, lat):
        return lon, lat
    if bbox_contains(lat, lon):
        return f"lat/lon swapped: [{lon}, {lat}] — GeoJSON order is [lon, lat]"
    return f"position lon={lon}, lat={lat} is outside the city bbox"


class RegistryValidator:
    """Validates camera features against the city: owners, kecamatan names, position."""

    def __init__(self, settings: Settings, districts: DistrictLayer | None = None) -> None:
        self.settings = settings
        self.catalog = DistrictCatalog(settings.city.districts)
        self.districts = districts
        self.agencies = {a.id for a in settings.agencies}
        self.agency_spellings = agency_lookup(settings)

    def validate_features(self, features: Sequence[Any], source: str = "") -> RegistryLoad:
        result = RegistryLoad(source=source)
        first_seen: dict[str, int] = {}
        bbox = self.settings.city.bbox
        for index, feature in enumerate(features):
            outcome = self._validate_one(index, feature, bbox.contains)
            if isinstance(outcome, Reject):
                result.rejects.append(outcome)
                continue
            camera = outcome
            if camera.id in first_seen:
                result.rejects.append(
                    Reject(index, camera.id, f"duplicate id (first at #{first_seen[camera.id]})")
                )
                continue
            first_seen[camera.id] = index
            camera = self._place(camera, result.warnings)
            result.cameras.append(camera)
        for reject in result.rejects:
            log.warning("registry %s: rejected %s", source or "(memory)", reject)
        return result

    def _validate_one(self, index: int, feature: Any, inside: Any) -> Camera | Reject:
        """The camera, or every problem of the feature at once (one fix round, not five)."""
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            return Reject(index, None, "not a GeoJSON Feature")
        props = feature.get("properties")
        if not isinstance(props, dict):
            return Reject(index, None, "properties missing or not an object")
        raw_id = props.get("id")
        camera_id = raw_id if isinstance(raw_id, str) else None
        problems: list[str] = []
        extra = set(feature) - {"type", "geometry", "properties", "id", "bbox"}
        if extra:
            problems.append(f"unknown feature keys: {sorted(extra)}")
        where = _point(feature.get("geometry"), inside)
        if isinstance(where, str):
            problems.append(where)
        props = dict(props)
        owner = props.get("owner")
        if isinstance(owner, str) and owner:
            known = self.agency_spellings.get(normalise_name(owner))
            if known is None:
                problems.append(
                    f"owner {owner!r} is not a configured agency ({sorted(self.agencies)})"
                )
            else:
                props["owner"] = known
        stream = props.get("stream")
        portal = stream.get("portal") if isinstance(stream, dict) else None
        if isinstance(portal, str) and portal not in self.settings.portals:
            known = ", ".join(sorted(self.settings.portals)) or "none configured"
            problems.append(f"portal profile {portal!r} is not in [portals] ({known})")
        kecamatan = props.get("kecamatan")
        if isinstance(kecamatan, str):
            canonical = self.catalog.canonical_name(kecamatan)
            if canonical is None:
                label = self.settings.city.district_label
                problems.append(f"unknown {label} {kecamatan!r}")
            else:
                props["kecamatan"] = canonical
        try:
            model = CameraProperties.model_validate(props)
        except ValidationError as exc:
            problems.append(_short(exc))
            return Reject(index, camera_id, "; ".join(problems))
        if problems or isinstance(where, str):
            return Reject(index, camera_id, "; ".join(problems))
        return Camera(model, where[0], where[1])

    def _place(self, camera: Camera, warnings: list[str]) -> Camera:
        """Fill a missing kecamatan from the district layer; warn where official ones disagree.

        Approximate (Voronoi) districts are not authoritative, so they only fill gaps.
        """
        if self.districts is None:
            return camera
        found = self.districts.lookup(camera.lon, camera.lat)
        if found is None:
            warnings.append(f"{camera.id}: inside no district polygon")
            return camera
        if camera.props.kecamatan is None:
            props = camera.props.model_copy(update={"kecamatan": found.name})
            return Camera(props, camera.lon, camera.lat)
        if self.districts.official and found.name != camera.props.kecamatan:
            warnings.append(
                f"{camera.id}: registry says {camera.props.kecamatan}, "
                f"official districts say {found.name}"
            )
        return camera


def parse_geojson(text: str) -> list[Any] | Reject:
    """The features of a FeatureCollection, or a file-level reject."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Reject(
            None, None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        )
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return Reject(None, None, "not a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        return Reject(None, None, "'features' must be a list")
    return features


def load_registry(
    path: Path, settings: Settings, districts: DistrictLayer | None = None
) -> RegistryLoad:
    """Load a registry file. Never raises for bad content; see ``rejects``."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is harmless
    except (OSError, UnicodeDecodeError) as exc:
        reject = Reject(None, None, f"cannot read {path.name}: {exc}")
        log.error("registry: %s", reject)
        return RegistryLoad(rejects=[reject], source=str(path))
    features = parse_geojson(text)
    if isinstance(features, Reject):
        log.error("registry %s: %s", path, features)
        return RegistryLoad(rejects=[features], source=str(path))
    return RegistryValidator(settings, districts).validate_features(features, source=str(path))


_CSV_REQUIRED = (
    "id",
    "name",
    "owner",
    "kind",
    "lat",
    "lon",
    "heading_deg",
    "fov_deg",
    "range_m",
    "source",
    "verified",
)
CSV_COLUMNS = (
    *_CSV_REQUIRED,
    "stream_url",
    "stream_protocol",
    "kecamatan",
    "estimated",
    "scope",
    "confidence",
    "tags",
    "note",
)


def _csv_number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value  # left as text so validation names the field


def _csv_bool(value: str) -> bool | str:
    folded = value.strip().lower()
    if folded in ("true", "yes", "1", "ya"):
        return True
    if folded in ("false", "no", "0", "tidak"):
        return False
    return value


class FieldMapping(BaseModel):
    """How another portal's camera export maps onto our fields (a small TOML file, see
    ``data/mappings/``): ``fields`` maps their column to ours (``"lat,lon"`` splits one
    "lat, lon" text in two), ``defaults`` fills what their file lacks, ``ignore`` names their
    columns we do not keep (any other unmapped column is refused, not silently dropped), and
    ``id_prefix`` makes ids from the names when their file has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, str]
    defaults: dict[str, str | int | float | bool | list[str]] = {}
    ignore: list[str] = []
    id_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")] | None = None

    @field_validator("fields")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        ours = {*CSV_COLUMNS, *CameraProperties.model_fields}
        wrong = sorted({t for target in value.values() for t in target.split(",")} - ours)
        if wrong:
            raise ValueError(f"unknown target fields {wrong}")
        return value

    def header(self, theirs: Sequence[str]) -> list[str]:
        """Our column names for their header (unmapped ones kept, so they are reported)."""
        out: list[str] = []
        for name in theirs:
            if name in self.ignore:
                continue
            out.extend(self.fields.get(name, name).split(","))
        for name in self.defaults:
            if name not in out:
                out.append(name)
        if self.id_prefix and "id" not in out:
            out.append("id")
        return out

    def apply(self, record: dict[str, Any], as_text: bool) -> dict[str, Any]:
        """Their record as ours (``as_text``: CSV, where every value is text)."""
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key in self.ignore:
                continue
            target = self.fields.get(key, key) if isinstance(key, str) else key
            if isinstance(target, str) and "," in target:
                names = target.split(",")
                parts = [p.strip() for p in str(value or "").split(",")]
                out.update(zip(names, parts if len(parts) == len(names) else [value] * len(names),
                               strict=True))  # fmt: skip
            else:
                out[target] = value
        for key, default in self.defaults.items():
            if out.get(key) in (None, ""):
                if as_text:
                    out[key] = ";".join(default) if isinstance(default, list) else str(default)
                else:
                    out[key] = default
        if self.id_prefix and not out.get("id") and isinstance(out.get("name"), str):
            slug = "".join(ch if ch.isalnum() else "-" for ch in out["name"].casefold())
            out["id"] = (self.id_prefix + "-".join(filter(None, slug.split("-"))))[:64]
        return out


def load_mapping(path: Path) -> FieldMapping:
    """A field mapping from TOML; raises ValueError naming the problem."""
    import tomllib

    try:
        return FieldMapping.model_validate(tomllib.loads(path.read_text(encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read mapping {path.name}: {exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"mapping {path.name}: {_short(exc)}") from exc


def csv_rows_to_features(
    text: str, mapping: FieldMapping | None = None
) -> tuple[list[Any], list[int], list[Reject]]:
    """Camera CSV rows as GeoJSON features: (features, their line numbers, rejects)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if mapping is not None:
        header = mapping.header(header)
    missing = [c for c in _CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        reason = "; ".join(
            part
            for part in (
                f"missing columns {missing}" if missing else "",
                f"unknown columns {unknown}" if unknown else "",
            )
            if part
        )
        return [], [], [Reject(None, None, f"CSV header: {reason}")]
    features: list[Any] = []
    lines: list[int] = []
    for raw in reader:
        line = reader.line_num
        row = mapping.apply(dict(raw), as_text=True) if mapping is not None else raw
        props: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                return [], [], [Reject(line, None, "row has more fields than the header")]
            if (
                value is None
                or value == ""
                or key in ("lat", "lon", "stream_url", "stream_protocol")
            ):
                continue
            if key in ("heading_deg", "fov_deg", "range_m"):
                props[key] = _csv_number(value)
            elif key == "verified":
                props[key] = _csv_bool(value)
            elif key in ("estimated", "tags"):
                props[key] = [v.strip() for v in value.split(";") if v.strip()]
            else:
                props[key] = value
        if row.get("stream_url"):
            props["stream"] = {"url": row["stream_url"], "protocol": row.get("stream_protocol", "")}
        else:
            props["stream"] = None
        lat, lon = _csv_number(row.get("lat") or ""), _csv_number(row.get("lon") or "")
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
        lines.append(line)
    return features, lines, []


CAMERA_FILE_TYPES = (".geojson", ".json", ".csv")


def _unsupported(path: Path) -> str | None:
    """Why ``path`` is not a camera file we read, or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        return f"cannot read {path.name}: {exc}"
    wanted = "give GeoJSON (.geojson, .json) or CSV (.csv)"
    if head.startswith(b"PK"):
        return f"{path.name} is a ZIP archive (a zipped Shapefile or a workbook?): {wanted}"
    if path.suffix.lower() not in CAMERA_FILE_TYPES:
        return f"unsupported file type {path.suffix or '(none)'}: {wanted}"
    return None


def read_camera_file(
    path: Path,
    settings: Settings,
    districts: DistrictLayer | None = None,
    mapping: FieldMapping | None = None,
) -> RegistryLoad:
    """Read cameras from GeoJSON or CSV (another portal's, through ``mapping``). CSV rejects
    are reported by line number."""
    refused = _unsupported(path)
    if refused is not None:
        return RegistryLoad(rejects=[Reject(None, None, refused)], source=str(path))
    if path.suffix.lower() != ".csv":
        if mapping is None:
            return load_registry(path, settings, districts)
        try:
            features = parse_geojson(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            features = Reject(None, None, f"cannot read {path.name}: {exc}")
        if isinstance(features, Reject):
            return RegistryLoad(rejects=[features], source=str(path))
        for feature in features:
            if isinstance(feature, dict) and isinstance(feature.get("properties"), dict):
                feature["properties"] = mapping.apply(feature["properties"], as_text=False)
        return RegistryValidator(settings, districts).validate_features(features, str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return RegistryLoad(rejects=[Reject(None, None, f"cannot read {path.name}: {exc}")])
    features, lines, header_rejects = csv_rows_to_features(text, mapping)
    if header_rejects:
        return RegistryLoad(rejects=header_rejects, source=str(path))
    result = RegistryValidator(settings, districts).validate_features(features, source=str(path))
    result.rejects = [
        Reject(
            lines[r.index] if r.index is not None else None,
            r.camera_id,
            r.reason.replace("(first at #", "(first at feature #"),
        )
        for r in result.rejects
    ]
    return result


@dataclass
class ImportOutcome:
    incoming: RegistryLoad
    added: list[str]
    updated: list[str]
    written: bool


def import_cameras(
    source: Path,
    registry: Path,
    settings: Settings,
    districts: DistrictLayer | None = None,
    allow_partial: bool = False,
    mapping: FieldMapping | None = None,
) -> ImportOutcome:
    """Merge cameras from ``source`` into ``registry`` by id, all-or-nothing unless allowed.

    The registry file is rewritten atomically; an existing registry that does not load cleanly
    is never overwritten (its rejects would be lost).
    """
    incoming = read_camera_file(source, settings, districts, mapping)
    if not incoming.cameras or (incoming.rejects and not allow_partial):
        return ImportOutcome(incoming, [], [], written=False)
    current = load_registry(registry, settings, districts) if registry.exists() else RegistryLoad()
    if current.rejects:
        incoming.rejects.append(
            Reject(None, None, f"target registry {registry.name} has rejects; fix it first")
        )
        return ImportOutcome(incoming, [], [], written=False)
    merged = {c.id: c for c in current.cameras}
    added = [c.id for c in incoming.cameras if c.id not in merged]
    updated = [c.id for c in incoming.cameras if c.id in merged]
    merged.update({c.id: c for c in incoming.cameras})
    write_registry(registry, merged.values())
    return ImportOutcome(incoming, added, updated, written=True)


def write_registry(path: Path, cameras: Iterable[Camera], name: str = "cameras") -> None:
    collection = {
        "type": "FeatureCollection",
        "name": name,
        "features": [c.to_feature() for c in cameras],
    }
    write_text_atomic(path, json.dumps(collection, indent=1, ensure_ascii=False) + "\n")
