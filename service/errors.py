"""The project's domain errors: one base class, a stable machine-readable ``code`` per error.

Every error the service can answer with derives from :class:`ServiceError`. Each subclass carries two
class attributes that clients and the HTTP layer rely on:

* ``code``: a stable snake_case string that goes into the JSON error body (never renamed);
* ``retryable``: whether the same request may succeed if sent again (a server-side hiccup such as a
  crashed or timed-out decoder worker) or will fail again (the upload itself is the problem).

HTTP statuses are deliberately *not* defined here: the service maps these classes to HTTP once, in its
exception handlers. Messages are written for clients: they never contain decoder stderr, file paths or
exception text from third-party libraries.

Errors must survive pickling (decoder worker processes send them back to the parent), so subclasses keep
the single-``message`` constructor of the base class.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """Base of every domain error. ``message`` is safe to show to the client."""

    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message: str = message if message is not None else self.default_message
        super().__init__(self.message)

    def __reduce__(self) -> tuple[type[ServiceError], tuple[str]]:
        return (type(self), (self.message,))

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: ``{"code": ..., "message": ..., "retryable": ...}``."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


# --- decoding: the upload is the problem (client errors, not retryable) -------------------------------


class VideoDecodeError(ServiceError):
    """Base of the errors raised while probing or decoding an uploaded clip."""

    code = "undecodable"
    default_message = "the video could not be decoded"


class UnsupportedMedia(VideoDecodeError):
    """The bytes are not a container we accept (unknown format, image, playlist, HTML, ...)."""

    code = "unsupported_media"
    default_message = "unsupported media: the upload is not a video in an accepted container"


class NoVideoStream(VideoDecodeError):
    """The container is fine but holds no (usable) video stream, e.g. an audio-only file."""

    code = "no_video_stream"
    default_message = "the upload contains no video stream"


class Undecodable(VideoDecodeError):
    """The video stream exists but no frame of it could be decoded."""

    code = "undecodable"
    default_message = "the video could not be decoded"


class ClipTooLarge(VideoDecodeError):
    """The upload exceeds a size limit: bytes, width×height, or frames to decode."""

    code = "clip_too_large"
    default_message = "the clip is too large"


class ClipTooLong(VideoDecodeError):
    """The clip's duration exceeds the configured maximum."""

    code = "clip_too_long"
    default_message = "the clip is too long"


class ClipTooShort(VideoDecodeError):
    """The clip has fewer frames than the configured minimum."""

    code = "clip_too_short"
    default_message = "the clip is too short"


# --- decoding: the server is the problem (retryable) ------------------------------------------------


class DecodeTimeout(VideoDecodeError):
    """Decoding did not finish within the wall-clock limit; the worker was killed and replaced."""

    code = "decode_timeout"
    retryable = True
    default_message = "decoding timed out"


class DecoderCrashed(VideoDecodeError):
    """The decoder worker process died (signal, resource limit); it was replaced."""

    code = "decoder_crashed"
    retryable = True
    default_message = "the decoder failed; the request may be retried"


# --- service: admission, lookup, auth and inference --------------------------------------------------


class BadRequest(ServiceError):
    """The request itself is malformed (no file part, empty body, broken multipart)."""

    code = "bad_request"
    default_message = "the request is malformed"


class UnsupportedContentType(ServiceError):
    """The request's Content-Type is not multipart/form-data, video/* or application/octet-stream."""

    code = "unsupported_content_type"
    default_message = (
        "send the clip as multipart/form-data (field `file`), video/* or application/octet-stream"
    )


class PayloadTooLarge(ServiceError):
    """The upload exceeds the configured maximum number of bytes."""

    code = "payload_too_large"
    default_message = "the upload is too large"


class Unauthorized(ServiceError):
    """An API key is configured and the request did not carry it as a bearer token."""

    code = "unauthorized"
    default_message = "a valid API key is required (Authorization: Bearer <key>)"


class ModelNotFound(ServiceError):
    code = "model_not_found"
    default_message = "no such model"


class ResultNotFound(ServiceError):
    """Unknown and expired result ids are indistinguishable on purpose."""

    code = "result_not_found"
    default_message = "no such prediction (unknown or expired)"


class Overloaded(ServiceError):
    """The model's queue is full; the request was refused without being queued."""

    code = "overloaded"
    retryable = True
    default_message = "the server is overloaded; retry later"


class NotReady(ServiceError):
    """Models are still loading or warming up, or the server is draining before shutdown."""

    code = "not_ready"
    retryable = True
    default_message = "the server is not ready (starting up or shutting down); retry later"


class InferenceFailed(ServiceError):
    """The runtime raised while running the batch this request was in. Details go to the log only."""

    code = "inference_failed"
    retryable = True
    default_message = "inference failed for this request's batch"


class InferenceTimeout(ServiceError):
    code = "inference_timeout"
    retryable = True
    default_message = "inference did not finish in time"


class InvalidRequest(ServiceError):
    """A parameter is out of range for this particular result or model (e.g. `frame` past the last one)."""

    code = "invalid_request"
    default_message = "invalid request"


class StoreUnavailable(ServiceError):
    """The shared result store did not answer in time (down, unreachable, too slow); details are logged."""

    code = "store_unavailable"
    retryable = True
    default_message = "the result store is unavailable; retry later"


class TooManyWindows(ServiceError):
    """A timeline would have more windows than the configured limit (`timeline_max_windows`)."""

    code = "too_many_windows"
    default_message = "the timeline would have too many windows; use a longer stride_s"
