"""One place for configuration: a city TOML file plus ``LAWANGJABO_*`` environment overrides.

The file is chosen by ``LAWANGJABO_CONFIG`` (default ``config/palembang.toml``). Nested
values can be overridden from the environment with a double underscore, e.g.
``LAWANGJABO_MAP__BASEMAP=none`` or ``LAWANGJABO_PATHS__STATE_DIR=/srv/lawangjabo``.
Unknown keys are rejected everywhere.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "palembang.toml"
CONFIG_ENV = "LAWANGJABO_CONFIG"
_toml_file: ContextVar[Path] = ContextVar("lawangjabo_toml_file", default=DEFAULT_CONFIG)


class StrictModel(BaseModel):
    """Base for every config record: unknown keys are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class LatLon(StrictModel):
    lat: Latitude
    lon: Longitude


class BBox(StrictModel):
    west: Longitude
    south: Latitude
    east: Longitude
    north: Latitude

    @model_validator(mode="after")
    def _ordered(self) -> BBox:
        if not (self.west < self.east and self.south < self.north):
            raise ValueError("bbox must have west < east and south < north")
        return self

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


class DistrictFact(StrictModel):
    """A district (kecamatan) known from reference facts: its code, name and an interior point."""

    code: str
    name: str
    aliases: list[str] = []
    area_km2: float | None = None
    point: LatLon


class RiverFact(StrictModel):
    name: str
    width_m: Annotated[float, Field(gt=0, le=5000)]
    source: str
    centreline: Annotated[list[LatLon], Field(min_length=2)]


class SiteFact(StrictModel):
    id: str
    name: str
    category: str
    point: LatLon
    source: str


class SubLevelConfig(StrictModel):
    """A finer administrative level inside the districts (kelurahan/desa). It has no
    approximation: it exists once its official boundaries are installed
    (``import-districts FILE --level kelurahan``)."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")] = "kelurahan"
    label: str = "kelurahan"
    # How many the official list has: the boundary guard compares the file's areas with the
    # districts' total area divided by this.
    count: Annotated[int, Field(ge=2, le=100_000)]


class CityConfig(StrictModel):
    name: str
    province: str = ""
    timezone: str = "UTC"
    centre: LatLon
    bbox: BBox
    metric_crs: str = "EPSG:32748"
    district_label: str = "district"
    language: Literal["id", "en"] = "en"  # the UI's default; each user may switch
    districts: list[DistrictFact] = []
    sublevel: SubLevelConfig | None = None  # a second, finer level (kelurahan)
    river: RiverFact | None = None
    sites: list[SiteFact] = []

    @field_validator("metric_crs")
    @classmethod
    def _epsg(cls, value: str) -> str:
        if not re.fullmatch(r"EPSG:\d{4,5}", value):
            raise ValueError("metric_crs must look like 'EPSG:32748'")
        return value

    @model_validator(mode="after")
    def _unique(self) -> CityConfig:
        codes = [d.code for d in self.districts]
        if len(codes) != len(set(codes)):
            raise ValueError("district codes must be unique")
        ids = [s.id for s in self.sites]
        if len(ids) != len(set(ids)):
            raise ValueError("site ids must be unique")
        return self


class AgencyConfig(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    name: str
    colour: Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]
    # Other ways files name it ("Dinas Perhubungan", "ATCS"): an import matches the id, the
    # name and these, ignoring case, spaces and punctuation.
    aliases: list[str] = []


class MapConfig(StrictModel):
    basemap: str = "carto"
    carto_style: Literal["light", "dark", "road"] = "light"
    zoom: Annotated[float, Field(ge=1, le=20)] = 12.0
    pitch: Annotated[float, Field(ge=0, le=60)] = 0
    camera_radius_px: Annotated[int, Field(ge=2, le=30)] = 7
    fov_opacity: Annotated[int, Field(ge=0, le=255)] = 60

    @field_validator("basemap")
    @classmethod
    def _basemap(cls, value: str) -> str:
        if value in ("carto", "none") or re.match(r"^(https?://|/)", value):
            return value
        raise ValueError("basemap must be 'carto', 'none' or a style URL (http(s)://… or /path)")


class CamerasConfig(StrictModel):
    """Snapshot polling and health.

    ``poller``: ``embedded`` runs it in the app process, ``external`` expects
    ``python -m lawangjabo poller`` (for 500+ cameras), ``zones`` (cluster mode) expects
    ``python -m lawangjabo poller --zone Z`` in the agencies' networks, reporting through
    PostgreSQL, ``off`` polls nothing.
    """

    simulate: bool = False
    poller: Literal["embedded", "external", "zones", "off"] = "embedded"
    interval_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    workers: Annotated[int, Field(ge=1, le=256)] = 32
    fast_workers: Annotated[int, Field(ge=1, le=16)] = 2
    frozen_after_polls: Annotated[int, Field(ge=2, le=100)] = 3
    offline_after_s: Annotated[float, Field(ge=10)] = 600.0
    max_backoff_s: Annotated[float, Field(ge=1)] = 900.0
    thumb_width: Annotated[int, Field(ge=64, le=1280)] = 320
    history_every_s: Annotated[float, Field(ge=0)] = 60.0
    history_per_camera: Annotated[int, Field(ge=1)] = 240
    history_total_mb: Annotated[int, Field(ge=1)] = 512
    # Cluster mode: the zone (agency network with its own pollers) of each owner agency whose
    # cameras are not polled in a zone of its own name.
    zones: dict[str, str] = {}
    # Cluster mode: what a zone poller may keep on its own disk while the center is away
    # (outcomes not yet delivered). Past it the oldest are dropped, counted and reported.
    zone_spool_max_mb: Annotated[int, Field(ge=1)] = 2048
    # A camera that refused our credentials (or locked the account) is not asked again for this
    # long: vendor cameras lock an account after a few wrong passwords.
    auth_backoff_s: Annotated[float, Field(ge=60)] = 1800.0
    # An outage shorter than this is a blip: left out of outage lists (the state at the moment
    # still shows what was observed). 0 keeps every outage.
    min_outage_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    # Tamper checks (moved, blurred, covered) on each good thumbnail, against the camera's
    # reference learnt from its good pictures (``cameras/tamper.py``).
    tamper_checks: bool = True


SimFault = Literal["dead", "hang", "frozen", "dark", "badauth", "moved", "blurred", "covered"]


class SimulatorConfig(StrictModel):
    """The built-in camera simulator (demo and tests): scripted faults and protocols by camera."""

    host: str = "127.0.0.1"
    faults: dict[str, SimFault] = {}
    # moved / blurred / covered cameras look normal for this long after the simulator starts
    # (so their references are learnt), then tampered
    tamper_after_s: Annotated[float, Field(ge=0)] = 240.0
    protocols: dict[
        str, Literal["mjpeg", "jpeg", "hls", "hikvision", "dahua", "onvif", "portal"]
    ] = {}


class IncidentCategory(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    name: str  # in the city's language
    names: dict[Literal["id", "en"], str] = {}  # in the other UI languages
    lead: str
    support: list[str] = []
    rate_per_day: Annotated[float, Field(ge=0)] = 0.0
    # The words other systems (a 112 call center, Damkar, BPBD) use for it; an import matches
    # them ignoring case, spaces and punctuation.
    synonyms: list[str] = []


class IncidentsConfig(StrictModel):
    """Where incidents cluster (for the synthetic history) and coverage settings."""

    flood_spots: list[LatLon] = []
    junctions: list[LatLon] = []
    coverage_radius_m: Annotated[float, Field(gt=0, le=2000)] = 150.0
    demo_history_days: Annotated[int, Field(ge=0, le=3650)] = 0  # seed an empty store (demo)
    # More names a file may give our import columns (added to the built-in Indonesian and
    # English ones), e.g. { external_id = ["id_tiket"] }.
    columns: dict[str, list[str]] = {}


class AlertsConfig(StrictModel):
    """Alert rules and the outgoing webhook (a city's WhatsApp/Telegram gateway)."""

    camera_down_minutes: Annotated[int, Field(ge=1, le=1440)] = 10
    camera_frozen_minutes: Annotated[int, Field(ge=1, le=1440)] = 30
    camera_tampered_minutes: Annotated[int, Field(ge=1, le=1440)] = 5  # moved, blurred, covered
    agency_uptime_below_pct: Annotated[float, Field(gt=0, le=100)] = 80.0
    agency_uptime_window_min: Annotated[int, Field(ge=5, le=1440)] = 60
    surge_window_h: Annotated[float, Field(gt=0, le=23)] = 6.0
    surge_baseline_days: Annotated[int, Field(ge=7, le=365)] = 28
    surge_min_count: Annotated[int, Field(ge=1, le=1000)] = 4
    p1_within_h: Annotated[float, Field(gt=0, le=168)] = 24.0
    poller_silent_minutes: Annotated[int, Field(ge=1, le=1440)] = 3
    evaluate_every_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    # http(s) URL, or env://NAME / secret://NAME when it carries a token. Empty: no webhook.
    webhook_url: str = ""
    webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=50)] = 6
    webhook_backoff_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("webhook_url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and value.split("://", 1)[0].lower() not in ("http", "https", "env", "secret"):
            raise ValueError("webhook_url must be http(s)://, env://NAME or secret://NAME")
        return value


class AuthConfig(StrictModel):
    """Sign-in. Disabling it opens every page and route to anyone who can reach the server."""

    enabled: bool = True
    # Failed sign-ins from one address (any accounts) before it must wait out the window.
    failures_per_address: Annotated[int, Field(ge=1, le=10_000)] = 20
    failure_window_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    # A session ends after this long without a person acting (pages that refresh themselves
    # do not count), and after the absolute limit whatever happens.
    idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30.0
    absolute_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 12.0
    # Addresses (or networks, CIDR) of reverse proxies whose X-Forwarded-For / -Proto headers
    # are believed; from anyone else those headers are ignored. Empty: no proxy.
    trusted_proxies: list[str] = []
    # Camera refreshes one account may ask for per minute (the fast lane is shared).
    refreshes_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 60
    # Requests one agency service token may make to /api/incidents per minute, and the most
    # incidents one request may carry.
    feed_requests_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 120
    feed_max_items: Annotated[int, Field(ge=1, le=10_000)] = 500

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value


class StorageConfig(StrictModel):
    """The state folder's disk: warn before it fills, and make room."""

    # Below this much free space /api/health says degraded and the snapshot history shrinks.
    min_free_mb: Annotated[float, Field(ge=0)] = 500.0
    # Audit entries older than this are deleted (once a day); 0 keeps them forever.
    audit_retention_days: Annotated[int, Field(ge=0, le=36_500)] = 400
    # Cluster mode: whole days of the poll ledger older than this are dropped (hourly check).
    ledger_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 400
    # Cluster mode (in progress): a PostgreSQL URL, e.g. postgresql://lj@db.local/lawangjabo.
    # Set, sign-in sessions live there, so every app replica honours a sign-in or sign-out
    # at once. Unset (the default), everything stays in this one process.
    postgres_url: str | None = None


class LiveConfig(StrictModel):
    """Live video from the camera panel (``[live]``): one upstream per camera, relayed."""

    enabled: bool = True
    max_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10.0  # a session stops after this
    max_viewers_per_camera: Annotated[int, Field(ge=1, le=1000)] = 10
    max_viewers: Annotated[int, Field(ge=1, le=10_000)] = 50  # in this process, all cameras
    linger_s: Annotated[float, Field(ge=0, le=600)] = 5.0  # upstream kept after the last viewer
    jpeg_fps: Annotated[float, Field(gt=0, le=25)] = 4.0  # picture-only cameras, MJPEG fallback


class PathsConfig(StrictModel):
    """Files the app reads and writes. Relative paths are relative to the project root."""

    registry: Path = Path("cameras.geojson")
    state_dir: Path = Path("var")

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def registry_file(self) -> Path:
        return self.resolve(self.registry)

    @property
    def state(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def database_file(self) -> Path:
        return self.state / "lawangjabo.duckdb"

    @property
    def districts_file(self) -> Path:
        return self.state / "districts.geojson"

    @property
    def users_file(self) -> Path:
        return self.state / "users.json"

    @property
    def sublevel_file(self) -> Path:
        return self.state / "boundaries-sublevel.geojson"

    @property
    def tokens_file(self) -> Path:
        return self.state / "service-tokens.json"

    @property
    def snapshots(self) -> Path:
        return self.state / "snapshots"

    @property
    def spool(self) -> Path:
        return self.state / "spool"

    @property
    def audit_spool(self) -> Path:
        return self.state / "audit-spool"

    @property
    def heartbeat_file(self) -> Path:
        return self.state / "poller.json"

    @property
    def refresh_requests(self) -> Path:
        return self.state / "refresh"


class PortalProfile(StrictModel):
    """How a city portal's HLS restreamer must be asked (``[portals.NAME]``; a registry
    stream names it with ``portal = "NAME"``): the headers it checks (``Referer``,
    ``Origin``), a session-cookie path on the stream's host fetched before the first playlist
    and again after a refusal, whether its TLS certificate is checked, and the least time
    between two requests to one host (the Palembang portal throttles to about 1 per second)."""

    headers: dict[str, str] = {}
    cookie_path: Annotated[str, Field(pattern=r"^/")] | None = None
    verify_tls: bool = True
    min_interval_s: Annotated[float, Field(ge=0, le=60)] = 0.0


class Settings(BaseSettings):
    """Everything configurable. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="LAWANGJABO_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    city: CityConfig
    agencies: Annotated[list[AgencyConfig], Field(min_length=1)]
    map: MapConfig = MapConfig()
    paths: PathsConfig = PathsConfig()
    cameras: CamerasConfig = CamerasConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    incident_categories: list[IncidentCategory] = []
    incidents: IncidentsConfig = IncidentsConfig()
    auth: AuthConfig = AuthConfig()
    storage: StorageConfig = StorageConfig()
    alerts: AlertsConfig = AlertsConfig()
    live: LiveConfig = LiveConfig()
    portals: dict[str, PortalProfile] = {}
    config_file: Path = DEFAULT_CONFIG

    @model_validator(mode="after")
    def _unique_agencies(self) -> Settings:
        ids = [a.id for a in self.agencies]
        if len(ids) != len(set(ids)):
            raise ValueError("agency ids must be unique")
        for category in self.incident_categories:
            for agency in (category.lead, *category.support):
                if agency not in ids:
                    raise ValueError(f"category {category.id}: unknown agency {agency!r}")
        return self

    def category_names(self, lang: str) -> dict[str, str]:
        """Each incident category's name in ``lang`` (the city file's name where it has none)."""
        return {
            c.id: next((name for key, name in c.names.items() if key == lang), c.name)
            for c in self.incident_categories
        }

    def category(self, category_id: str) -> IncidentCategory | None:
        return next((c for c in self.incident_categories if c.id == category_id), None)

    def agency(self, agency_id: str) -> AgencyConfig | None:
        return next((a for a in self.agencies if a.id == agency_id), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_file.get()),
        )


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read the city TOML (``config_file`` or ``$LAWANGJABO_CONFIG``) with environment overrides."""
    path = Path(config_file or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    token = _toml_file.set(path)
    try:
        return Settings(config_file=path, **overrides)
    finally:
        _toml_file.reset(token)


_settings_lock = threading.Lock()
_settings_cache: dict[tuple[Any, ...], Settings] = {}


def current_settings() -> Settings:
    """The configured settings, parsed once per process and again only when the city file or a
    ``LAWANGJABO_*`` variable changes (a page rerun asks for them dozens of times)."""
    path = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = None
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("LAWANGJABO_")))
    key = (str(path), mtime, env)
    with _settings_lock:
        cached = _settings_cache.get(key)
        last_good = next(iter(_settings_cache.values()), None)
    if cached is None:
        try:
            cached = load_settings(path)
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            if last_good is None:
                raise  # nothing to fall back on: the server cannot start on it
            _note_settings_problem(key, exc)
            return last_good  # an edit that broke the file does not take the city down
        with _settings_lock:
            _settings_cache.clear()  # the old key's settings are stale now
            _settings_cache[key] = cached
            _settings_problem.clear()
    return cached


_settings_problem: dict[str, Any] = {}


def _note_settings_problem(key: tuple[Any, ...], exc: Exception) -> None:
    with _settings_lock:
        if _settings_problem.get("key") == key:
            return  # already said, once per broken version of the file
        first = str(exc).splitlines()
        _settings_problem.update(
            key=key,
            message=f"city file not reloaded ({' '.join(first[:3])[:200]}); still using the last "
            "good version",
            since=datetime.now(UTC),
        )
    log.error("city file %s not reloaded, keeping the last good settings: %s", key[0], exc)


def settings_problem() -> tuple[str, datetime] | None:
    """Why the city file on disk is not the one in use (an edit broke it), and since when."""
    with _settings_lock:
        if not _settings_problem:
            return None
        return str(_settings_problem["message"]), _settings_problem["since"]
