"""schemathesis against the app's own OpenAPI, over real HTTP: no 5xx, every status and body as documented.

Bounded: a few dozen examples per operation (binary uploads are random bytes, so they exercise the
refusal paths; the other tests cover real clips).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import serve_in_thread


@pytest.fixture(scope="module")
def api_schema(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    app_settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=2,
        max_wait_ms=2.0,
        max_upload_bytes=1024 * 1024,
    )
    with serve_in_thread(create_app(app_settings)) as base_url:
        yield schemathesis.openapi.from_url(f"{base_url}/openapi.json")


def excluded_for(path: str) -> list[Any]:
    """Any bytes are schema-valid for a binary upload, but random bytes are not a video: refusing them
    (415/422) is correct, so "schema-valid data must be accepted" cannot apply to the upload."""
    return [positive_data_acceptance] if path in ("/v1/predictions", "/v1/timelines") else []


def test_api_matches_its_openapi(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {
        "POST /v1/predictions",
        "GET /v1/predictions/{prediction_id}/heatmap.png",
        "GET /metrics",
    } <= labels
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call_and_validate(timeout=60, excluded_checks=excluded_for(case.operation.path))
            calls[f"{case.method.upper()} {case.operation.path}"] += 1
            statuses[response.status_code] += 1

        check()
    assert all(calls[label] >= 1 for label in labels), calls  # operations without inputs have one case
    assert all(calls[label] >= 20 for label in labels if "predictions" in label), calls
    assert not any(status >= 500 for status in statuses), statuses
