"""One settings model for the CLI and the library; environment prefix ``SNOWDAYS_``.

Nothing reads the environment at import time: call :func:`get_settings` where settings are needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from snowdays.season import Season, parse_season


@dataclass(frozen=True)
class LisThresholds:
    """The part of the settings LIS's snow detection needs (``lis_*``: their meaning is there)."""

    ndsi_pass1: float
    red_pass1: float
    ndsi_pass2: float
    red_pass2: float
    dz: int
    fsnow_lim: float
    fclear_lim: float
    fsnow_total_lim: float


@dataclass(frozen=True)
class S3Endpoint:
    """The part of the settings that reaching ``s3://`` needs: the endpoint (None: AWS) and region."""

    url: str | None
    region: str


@dataclass(frozen=True)
class StackPorts:
    """The part of the settings that says where the local stack listens (on 127.0.0.1)."""

    prefect: int
    dask: int
    files: int
    stac_api: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNOWDAYS_", env_file=".env", extra="ignore")

    season_start: str = Field("09-01", pattern=r"^\d{2}-\d{2}$")
    """Month and day a season starts (MM-DD); it ends the day before, one year later."""
    margin_days: int = Field(15, ge=0, le=180)
    """Days before the start and after the stop whose observations still count."""
    pending_max: int = Field(16, ge=0)
    """Products of a season kept in its cube only (pending) before they are folded into its state
    arrays; the latest day's always wait. More: cheaper arrivals, dearer maps."""

    dem: str | None = None
    """Folder or ``s3://`` prefix of elevation models, one per tile named ``<tile>.tif`` (``T31TCH.tif``),
    in metres, on any grid; the L2A products of a tile that has one get LIS's pass 2 (the snowline).
    Empty, or no file for the tile: pass 1 only."""
    polygons: str | None = None
    """GeoJSON FeatureCollection (longitude, latitude) of polygons, catchments or ski areas, by their
    ``name``: a published season whose tile has a DEM carries its statistics by elevation band over
    each polygon meeting the tile, beside the tile's. Empty: the tile's only."""
    snow_rasters: str | None = None
    """Folder or ``s3://`` prefix where the snow raster derived from each L2A product is written,
    LIS-style (``<product>_SNW_R2.tif``, Landsat ``_SNW_XS.tif``: 0 no snow, 100 snow, 205 cloud,
    255 no data); empty: none is written."""
    lis_ndsi_pass1: float = Field(0.4, ge=-1, le=1)
    """LIS pass 1: snow where the NDSI exceeds this (and the red reflectance ``lis_red_pass1``)."""
    lis_red_pass1: float = Field(0.2, ge=0)
    """LIS pass 1: snow where the red reflectance exceeds this (and the NDSI ``lis_ndsi_pass1``)."""
    lis_ndsi_pass2: float = Field(0.15, ge=-1, le=1)
    """LIS pass 2 (above the snowline): snow where the NDSI exceeds this."""
    lis_red_pass2: float = Field(0.04, ge=0)
    """LIS pass 2 (above the snowline): snow where the red reflectance exceeds this."""
    lis_dz: int = Field(100, ge=2, multiple_of=2)
    """LIS snowline: height of an elevation band in metres (even: LIS offsets by half of it)."""
    lis_fsnow_lim: float = Field(0.1, ge=0, le=1)
    """LIS snowline: the lowest band whose clear pixels are snow beyond this fraction sets it."""
    lis_fclear_lim: float = Field(0.1, ge=0, le=1)
    """LIS snowline: bands whose pixels are clear by this fraction or less are passed over."""
    lis_fsnow_total_lim: float = Field(0.001, ge=0, le=1)
    """LIS pass 2 runs only where pass 1 found snow on more than this fraction of the image."""

    station_snow_depth: float = Field(0.1, gt=0)
    """``snowdays validate``: a station's day is a snow day where its snow depth (metres) is at least
    this."""

    threads: int = Field(0, ge=0)
    """Threads decoding products at once in a batch (``snowdays annual``, a backfill), ahead of the
    fold; 0: one per core this process may run on. 1 decodes each product in turn, on one core."""

    history_days: float = Field(30, ge=0)
    """Days of commits ``snowdays compact`` keeps (the store's audit log); older ones are dropped."""

    archive: str = "archive"
    """Folder or ``s3://`` prefix where products land, one entry per product (the pipeline's input)."""
    store: str = "stores"
    """Folder or ``s3://`` prefix of the tile stores (one Icechunk repository per tile)."""
    dask_cluster: str = Field("local", pattern=r"^(local|kubernetes|tcp://.+|tls://.+)$")
    """Where a tile's products are read: ``local`` (a LocalCluster), a scheduler address, or
    ``kubernetes`` (an ephemeral cluster of the dask-kubernetes operator)."""
    backfill_dask_cluster: str = Field("", pattern=r"^(|local|kubernetes|tcp://.+|tls://.+)$")
    """Where a backfill's tile-seasons are built, as ``dask_cluster`` says; empty: the same cluster
    (the chart: ``kubernetes``, an ephemeral cluster of ``dask_workers`` per backfill)."""
    dask_workers: int = Field(2, ge=1)
    """Workers of a local (or ephemeral Kubernetes) Dask cluster."""
    dask_image: str | None = None
    """Container image of an ephemeral Kubernetes Dask cluster's scheduler and workers (the snowdays
    image, ``registry/snowdays:0.1.0``); needed with ``dask_cluster=kubernetes``."""
    dask_worker_cpu: str = "1"
    """CPU requested by each worker of an ephemeral Kubernetes Dask cluster (a Kubernetes quantity)."""
    dask_worker_memory: str = "4Gi"
    """Memory requested by, and the limit of, each worker of an ephemeral Kubernetes Dask cluster
    (ingesting a full-size tile peaks at about 1.2 GB: ``bench/results``)."""
    kubernetes_namespace: str | None = None
    """Namespace of ephemeral Kubernetes Dask clusters; empty: the pod's own (or the kubeconfig's)."""
    kubernetes_service_account: str | None = None
    """Service account of an ephemeral Kubernetes Dask cluster's workers (its S3 role; mounted without
    an API token); empty: the namespace's default. The scheduler always runs under the default."""
    kubernetes_env_from: list[str] = []
    """ConfigMaps and Secrets whose keys become environment variables of an ephemeral Kubernetes Dask
    cluster's workers (the chart's settings, S3 credentials, the Prefect API key; the scheduler gets
    none), as a JSON list of ``configmap/NAME`` and ``secret/NAME``."""
    kubernetes_spec_overrides: dict[str, Any] = {}
    """Merged into the ``DaskCluster`` of an ephemeral Kubernetes Dask cluster (JSON; objects merge
    key by key, anything else replaces), e.g. ``{"spec": {"worker": {"spec": {"nodeSelector":
    {"pool": "dask"}}}}}``."""
    files_url: str | None = None
    """URL where the catalog folder is served (``snowdays up`` serves it), for links in the Prefect UI and
    where the map viewer reads the catalog (for an ``s3://`` catalog: the bucket's HTTP URL); empty: the
    file server of ``snowdays up``."""
    files_port: int = Field(8082, ge=1, le=65535)
    """Port of the file server ``snowdays up`` runs on 127.0.0.1 for the catalog folder (range requests,
    CORS) and the map viewer (``/viewer/``)."""
    dask_port: int = Field(8786, ge=1, le=65535)
    """Port of the Dask scheduler ``snowdays up`` runs on 127.0.0.1 (its workers stay up between runs)."""
    prefect_port: int = Field(4200, ge=1, le=65535)
    """Port of the Prefect server ``snowdays up`` runs on 127.0.0.1."""
    prefect_home: str = ".snowdays/prefect"
    """Folder of the local Prefect server's database and settings (``snowdays up``)."""
    prefect_database_url: str = ""
    """PostgreSQL database of the local Prefect server (``postgresql://user:password@host:port/db``, an
    existing database); empty: SQLite in ``prefect_home``. For a region's backlogs: SQLite has one
    writer, and hundreds of runs with their task runs and events lock it (thousands of "database is
    locked" errors, triggers minutes late, in the outage test on this machine)."""
    trigger_window_seconds: float = Field(10, ge=0)
    """An arrival starts a run of its tile at most once in this many seconds (the run folds the burst)."""
    max_runs: int = Field(4, ge=1)
    """Flow runs the pipeline runs at once (one per tile at most)."""
    lock_lease_seconds: float = Field(300, ge=60)
    """A tile's lock (and a mosaic's) is a lease its holder renews while it lives: a run that dies
    holding it (its process or node killed) blocks that tile's next writer this long at most (Prefect's
    server takes no lease shorter than a minute)."""
    watch_poll_seconds: float = Field(5, gt=0)
    """Seconds between two looks at a local archive for new products (``snowdays up``)."""

    s3_endpoint_url: str | None = None
    """S3-compatible endpoint, e.g. ``http://127.0.0.1:5000``; empty means AWS."""
    s3_region: str = "us-east-1"

    zip_max_total_bytes: int = Field(4 * 1024**3, ge=1)
    """Largest total uncompressed size of a product archive."""
    zip_max_ratio: float = Field(200.0, gt=1)
    """Largest compression ratio of a product archive (total and per member over 1 MiB)."""
    future_days: float = Field(1.0, ge=0)
    """A product acquired later than now plus this many days is rejected (a wrong clock or name)."""

    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    """Level of the library's and the STAC layer's log records in a pipeline run's Prefect page (the
    rejections, commit conflicts, the snowline, pgstac upserts); DEBUG turns it up."""

    cog_compress: str = Field("DEFLATE", pattern=r"^(DEFLATE|ZSTD)$")
    """Compression of every COG written: DEFLATE reads everywhere; ZSTD is smaller and faster, and
    needs GDAL 2.3 or later (QGIS, the viewer's geotiff.js read it)."""
    cog_level: int = Field(3, ge=1, le=22)
    """Its level (DEFLATE 1-12, ZSTD 1-22): 3 writes a full tile's four maps in half the time GDAL's
    default takes (DEFLATE 6), the files about a tenth larger."""
    output_counter: int = Field(1, ge=1)
    """Counter written in output names (LIS ``_<version>_<counter>``)."""

    mosaic_crs: str = "EPSG:3035"
    """CRS of regional mosaics (``snowdays mosaic``)."""
    mosaic_pixel: float = Field(20.0, gt=0)
    """Pixel size of regional mosaics, in units of ``mosaic_crs``."""
    mosaic_block: int = Field(4096, ge=16)
    """Pixels a side of the blocks a mosaic is built in (each a task, its memory about 30 bytes a
    pixel); blocks lie on a lattice of the CRS, so that they stay put when a region grows."""
    mosaic_cache_mb: int = Field(256, ge=16)
    """GDAL's raster cache (MB) while a mosaic's blocks are made into one COG (bounds its memory)."""
    mosaic_regions: list[str] = []
    """Region files (tile lists or GeoJSON polygons, as ``snowdays mosaic --region FILE``) whose
    mosaics the pipeline keeps current, besides the shipped ``alps`` and ``pyrenees``; a JSON list in
    the environment."""
    mosaic_window_seconds: float = Field(60, ge=0)
    """A tile's publish brings each region holding it up to date at most once in this many seconds
    per season: the run starts when the window is over, so it takes every tile the window published."""
    display_min_days: int = Field(60, ge=0)
    """The display variant of a mosaic (``scd-display.tif``) leaves out pixels with fewer snow days."""
    resort_min_days: int = Field(120, ge=0)
    """``snowdays resorts`` gives the share of piste pixels with at least this many snow days."""

    stac_catalog: str = "catalog"
    """Folder or ``s3://`` prefix of the static STAC catalog; published maps are written beside their
    items."""
    stac_database_url: str = "postgresql://postgres@127.0.0.1:5439/snowdays"
    """PostgreSQL database (with PostGIS) of the STAC API; snowdays installs pgstac in it."""
    stac_postgres_data: str = ".snowdays/postgres"
    """Folder of the local PostgreSQL cluster that ``snowdays stac serve`` starts when the database is
    on 127.0.0.1 or localhost; empty: never start one (a managed database)."""
    stac_connect_timeout: float = Field(5.0, gt=0)
    """Seconds to wait for the STAC database before reporting it down."""
    stac_api_port: int = Field(8081, ge=1, le=65535)
    """Port of the STAC API that ``snowdays stac serve`` runs on."""
    stac_api_host: str = "127.0.0.1"
    """Address ``snowdays stac serve`` listens on (``0.0.0.0`` in a container)."""
    stac_api_url: str | None = None
    """STAC API that ``snowdays search`` asks; empty: the local one on ``stac_api_port``."""

    sweep_interval_seconds: float = Field(300, gt=0)
    """Seconds between two sweeps of the archive (the safety net for lost events) in ``snowdays up``."""
    sqs_queue_url: str | None = None
    """SQS queue that receives the archive bucket's S3 notifications; empty: no SQS watcher."""
    sqs_endpoint_url: str | None = None
    """SQS endpoint, e.g. ``http://127.0.0.1:5000``; empty: ``s3_endpoint_url`` (empty there: AWS)."""
    sqs_wait_seconds: int = Field(20, ge=0, le=20)
    """Seconds one long poll of the SQS queue waits for messages (SQS allows 20 at most)."""
    geodes_url: str = "https://geodes-portal.cnes.fr/api/stac"
    """STAC API searched for new products, in the style of CNES GEODES (``POST {url}/search``)."""
    geodes_api_key: SecretStr | None = None
    """API key sent as ``X-API-Key`` to the STAC API and its downloads (GEODES: the portal's user
    settings)."""
    geodes_datasets: list[str] = ["MUSCATE_Snow_SENTINEL2_L2B-SNOW"]
    """Datasets (collections) searched, as a JSON list in the environment."""
    watch_tiles: list[str] = []
    """Tiles searched in the STAC API, as a JSON list in the environment (``["T31TCH"]``); empty:
    no search."""
    geodes_poll_seconds: float = Field(3600, gt=0)
    """Seconds between two searches of the STAC API in ``snowdays up``."""

    @property
    def lis(self) -> LisThresholds:
        """The thresholds of LIS's snow detection, as one value."""
        return LisThresholds(self.lis_ndsi_pass1, self.lis_red_pass1, self.lis_ndsi_pass2, self.lis_red_pass2,
                             self.lis_dz, self.lis_fsnow_lim, self.lis_fclear_lim, self.lis_fsnow_total_lim)

    @property
    def cores(self) -> int:
        """Threads a batch keeps busy: ``threads``, or (0) one per core this process may run on."""
        if self.threads:
            return self.threads
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    @property
    def cog_options(self) -> dict[str, str | int]:
        """The COG driver's compression options of every COG written."""
        return {"COMPRESS": self.cog_compress, "LEVEL": self.cog_level, "PREDICTOR": "YES"}

    @property
    def s3(self) -> S3Endpoint:
        """Where ``s3://`` URLs are read and written, as one value."""
        return S3Endpoint(self.s3_endpoint_url, self.s3_region)

    @property
    def ports(self) -> StackPorts:
        """The local stack's ports, as one value."""
        return StackPorts(self.prefect_port, self.dask_port, self.files_port, self.stac_api_port)

    @model_validator(mode="after")
    def _deflate_level(self) -> Settings:
        if self.cog_compress == "DEFLATE" and self.cog_level > 12:
            raise ValueError(f"cog_level {self.cog_level}: DEFLATE's levels are 1 to 12")
        return self

    def season(self, label: str) -> Season:
        """The season ``label`` (``2017-2018``) as these settings start it and give it a margin."""
        return parse_season(label, self.season_start, self.margin_days)


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]


def for_workers(settings: Settings) -> Settings:
    """The settings sent with tasks to the Dask workers (through their scheduler): without the
    databases' URLs and the GEODES API key, which only flow runs, the watcher and the stack use."""
    return settings.model_copy(update={"stac_database_url": "", "prefect_database_url": "",
                                       "geodes_api_key": None})
