"""All of the service's configuration, in one place.

Values come from, highest priority first: keyword arguments (the CLI), `VTSERVE_*` environment
variables, a config file (TOML, YAML or JSON; its path in `VTSERVE_CONFIG` or the `config_file`
argument), then the defaults below. No other module reads the environment.

With no configuration at all the service serves the shipped `motion-timesformer` and `motion-vivit`
models, exporting them into `cache_dir` on first start when no bundle exists yet.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "VTSERVE_"
CONFIG_ENV = "VTSERVE_CONFIG"
SHIPPED_MODELS = ("motion-timesformer", "motion-vivit")
ZOO = "zoo"  # in `models`: every model folder of `zoo_dir` (service.bundles.configured_names)

RuntimeName = Literal["onnxruntime", "tensorrt", "torch"]
ExecutionProvider = Literal["tensorrt", "cuda", "cpu"]
DEFAULT_PROVIDERS: tuple[ExecutionProvider, ...] = ("tensorrt", "cuda", "cpu")


class Settings(BaseSettings):
    """Every knob of `vtserve serve` and `vtserve predict`. Environment: `VTSERVE_<FIELD>` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True, protected_namespaces=()
    )

    # --- server -------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes (each loads the models)")
    api_key: SecretStr | None = Field(default=None, description="when set, requests need `Bearer <key>`")
    metrics_enabled: bool = True
    web_ui: bool = Field(default=True, description="serve the web page at `/` (no build step, works offline)")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    engine: Literal["uvicorn", "ray"] = Field(
        default="uvicorn",
        description="`uvicorn`: this process serves; `ray`: the app on Ray Serve, decoding and each model as "
        "separately scaled deployments (the `ray` extra; service/engines/ray/)",
    )
    ray_address: str | None = Field(
        default=None, description="the Ray cluster `--engine ray` joins (host:port, ray://…); none: start one"
    )

    # --- models -------------------------------------------------------------------------------------
    model_repository: Path | None = Field(
        default=None, description="folder of bundles side by side (`<name>/model.json`)"
    )
    cache_dir: Path = Field(
        default=Path("cache/bundles"), description="where shipped models are exported on first start"
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SHIPPED_MODELS),
        description="models to load: bundle names in the repository or cache, or shipped model names; "
        "`zoo` = every model folder in `zoo_dir`; empty = every bundle in the repository",
    )
    zoo_dir: Path | None = Field(
        default=None,
        description="the folder of checkpoint or bundle folders that `models=zoo` serves; "
        "default: the shipped zoo, models/weights/zoo",
    )
    default_model: str | None = Field(default=None, description="defaults to the first loaded model")
    runtime: RuntimeName = "onnxruntime"
    providers: Annotated[list[ExecutionProvider], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PROVIDERS),
        description="onnxruntime execution providers, in order of preference (unavailable ones are skipped)",
    )
    intra_op_threads: int = Field(default=0, ge=0, description="onnxruntime threads; 0 = its default")
    device: Literal["auto", "cuda", "cpu"] = Field(default="auto", description="torch runtime device")
    warmup: bool = True

    # --- batching -----------------------------------------------------------------------------------
    max_batch_size: int = Field(default=8, ge=1, le=256)
    max_wait_ms: float = Field(default=10.0, ge=0.0, le=10_000.0)
    max_queue: int = Field(default=64, ge=1, description="queued + in-flight clips per model before 503")
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        description="requests in progress per model, admitted from their headers; past it 503 before the "
        "body is read. Unset: max_batch_size × 2 + decoder_workers (bench overload), at most max_queue",
    )
    admission_wait_ms: float = Field(
        default=1000.0,
        ge=0.0,
        le=60_000.0,
        description="how long a request past max_in_flight waits for a slot (its body unread) before its "
        "503: in order, newest first once more wait than max_in_flight (overload); 0 = refuse at once",
    )
    admission_max_waiting: int = Field(
        default=256, ge=0, description="requests per model waiting for a slot; past it 503 at once"
    )
    request_timeout_s: float = Field(default=120.0, gt=0, description="wait for inference before 504")
    retry_after_s: int = Field(default=1, ge=1, description="the Retry-After sent with 503")
    graceful_timeout_s: float = Field(default=60.0, gt=0, description="on SIGTERM, wait this long for work")

    # --- uploads and decoding -----------------------------------------------------------------------
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    decoder_workers: int = Field(default=2, ge=1)
    decode_timeout_s: float = Field(default=30.0, gt=0)
    decoder_memory_mb: int = Field(default=2048, ge=64)
    decoder_cpu_s: int = Field(default=120, ge=1)
    max_pixels: int = Field(default=4096 * 2304, ge=1, description="width × height of the video stream")
    max_duration_s: float = Field(default=600.0, gt=0)
    max_frames_decoded: int = Field(default=3000, ge=1, description="frames one request may decode")
    min_frames: int = Field(default=1, ge=1)

    # --- timelines (POST /v1/timelines) ------------------------------------------------------------
    timeline_max_upload_bytes: int = Field(default=1024**3, ge=1024, description="largest timeline upload")
    timeline_max_duration_s: float = Field(default=1800.0, gt=0, description="longest video a timeline takes")
    timeline_max_windows: int = Field(default=1000, ge=1, description="most windows in one timeline")
    timeline_window_s: float = Field(
        default=4.0, gt=0, le=600, description="window of uniformly sampled models whose card has no window_s"
    )
    max_timelines: int = Field(
        default=1, ge=1, description="timelines decoded at once; each holds one decoder worker meanwhile"
    )
    spool_dir: Path | None = Field(
        default=None, description="where uploads are spooled as they arrive (default: the system temp folder)"
    )

    # --- results ------------------------------------------------------------------------------------
    result_ttl_s: float = Field(default=3600.0, gt=0)
    max_results: int = Field(default=256, ge=1, description="each keeps its sampled frames (~1 MB at 224²)")
    result_store: str = Field(
        default="memory",
        description="`memory` (this process) or a Redis URL shared by replicas: redis://host:port/db, "
        "rediss://…, unix://…",
    )
    result_store_timeout_s: float = Field(
        default=0.5, gt=0, le=30, description="socket timeout of each result-store call (one reconnect)"
    )

    config_file: Path | None = Field(default=None, description="read by the settings sources only")

    @field_validator("models", "providers", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Allow `VTSERVE_MODELS=a,b` as well as JSON lists."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("result_store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if value != "memory" and (scheme not in ("redis", "rediss", "unix") or "://" not in value):
            raise ValueError("result_store must be `memory` or a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        listed = self.models and ZOO not in self.models  # the zoo's names are known once it is listed
        if self.default_model is not None and listed and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models {self.models}")
        if len(set(self.models)) != len(self.models):
            raise ValueError("models must not repeat")
        return self

    @property
    def max_wait_s(self) -> float:
        return self.max_wait_ms / 1000.0

    def api_key_value(self) -> str | None:
        return None if self.api_key is None else self.api_key.get_secret_value()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        path = init_kwargs.get("config_file") or os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path:
            sources.append(config_file_source(settings_cls, Path(path)))
        return tuple(sources)


def config_file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """A settings source for a TOML, YAML or JSON file (by extension); a missing file is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    if suffix == ".json":
        return JsonConfigSettingsSource(settings_cls, json_file=path)
    raise ValueError(f"config file {path}: use .toml, .yaml/.yml or .json")
