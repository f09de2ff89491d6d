"""Domain errors map to HTTP once, in service/api/errors.py; a 500 never carries internals."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service import errors
from service.api.errors import STATUS_BY_CODE, install_error_handlers, status_for

EXPECTED = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.ModelNotFound: 404,
    errors.ResultNotFound: 404,
    errors.PayloadTooLarge: 413,
    errors.ClipTooLarge: 413,
    errors.ClipTooLong: 413,
    errors.UnsupportedMedia: 415,
    errors.UnsupportedContentType: 415,
    errors.NoVideoStream: 422,
    errors.Undecodable: 422,
    errors.ClipTooShort: 422,
    errors.InvalidRequest: 422,
    errors.InferenceFailed: 500,
    errors.Overloaded: 503,
    errors.NotReady: 503,
    errors.DecoderCrashed: 503,
    errors.DecodeTimeout: 504,
    errors.InferenceTimeout: 504,
}


def all_service_errors() -> list[type[errors.ServiceError]]:
    found = []
    for value in vars(errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, errors.ServiceError)
            and value is not errors.ServiceError
        ):
            found.append(value)
    return found


@pytest.mark.parametrize("cls", all_service_errors(), ids=lambda c: c.__name__)
def test_every_error_class_has_a_documented_status(cls: type[errors.ServiceError]) -> None:
    assert cls.code in STATUS_BY_CODE, f"{cls.__name__}.code={cls.code!r} has no HTTP status"
    if cls in EXPECTED:
        assert status_for(cls()) == EXPECTED[cls]


def app_raising(exc: BaseException) -> TestClient:
    app = FastAPI()
    install_error_handlers(app, retry_after_s=7)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_error_bodies_and_headers(cls: type[errors.ServiceError]) -> None:
    response = app_raising(cls()).get("/boom")
    assert response.status_code == EXPECTED[cls]
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == cls.code
    assert body["error"]["retryable"] is cls.retryable
    if response.status_code == 503:
        assert response.headers["retry-after"] == "7"
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_unexpected_exceptions_give_a_bare_500() -> None:
    response = app_raising(RuntimeError("/secret/path password=hunter2")).get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal error", "retryable": False}
    }
    assert "hunter2" not in response.text


def test_unknown_routes_and_methods_use_the_same_error_shape() -> None:
    client = app_raising(RuntimeError())
    assert client.get("/nope").json()["error"]["code"] == "not_found"
    assert client.post("/boom").json()["error"]["code"] == "method_not_allowed"
