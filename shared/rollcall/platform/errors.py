"""The domain error hierarchy.

Every error the API can answer with is a subclass of :class:`RollcallError` with a stable
``code``. The HTTP status is decided in exactly one place, :data:`STATUS_BY_CATEGORY`, by the
error's category (its base class); nothing anywhere matches on message text.

An error body is always ``{"error", "code", "detail", "request_id"}``: ``error`` is the short
human title of the category, ``code`` the machine-readable code, ``detail`` always a JSON object
(``{"message": ...}`` for a sentence, else the numbers behind the error; never a token, photo or
embedding).
"""

from __future__ import annotations

from typing import Any, ClassVar


class RollcallError(Exception):
    """Base of every error that maps to an HTTP answer."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "internal error"

    def __init__(self, detail: Any = None, *, code: str | None = None) -> None:
        self.detail: Any = detail if detail is not None else self.title
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may carry a more specific code
        super().__init__(self.detail if isinstance(self.detail, str) else self.code)

    @property
    def status(self) -> int:
        return status_for(self)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return {
            "error": self.title,
            "code": self.code,
            "detail": detail_object(self.detail),
            "request_id": request_id,
        }


def detail_object(detail: Any) -> dict[str, Any]:
    """``detail`` as the envelope carries it: always an object (a sentence becomes its ``message``)."""
    if isinstance(detail, dict):
        return detail
    if detail is None:
        return {}
    return {"message": str(detail)}


# --- categories (one per HTTP status) -----------------------------------------------------------


class InvalidInput(RollcallError):
    code = "INVALID_REQUEST"
    title = "invalid request"


class Unauthenticated(RollcallError):
    code = "TOKEN_INVALID"
    title = "unauthenticated"


class Forbidden(RollcallError):
    code = "FORBIDDEN"
    title = "forbidden"


class NotFound(RollcallError):
    code = "NOT_FOUND"
    title = "not found"


class MethodNotAllowed(RollcallError):
    code = "METHOD_NOT_ALLOWED"
    title = "method not allowed"


class Conflict(RollcallError):
    code = "CONFLICT"
    title = "conflict"


class TooLarge(RollcallError):
    code = "PAYLOAD_TOO_LARGE"
    title = "payload too large"


class UnsupportedMedia(RollcallError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "unsupported media type"


class Unprocessable(RollcallError):
    code = "VALIDATION_ERROR"
    title = "unprocessable"


class TooManyRequests(RollcallError):
    code = "THROTTLED"
    title = "too many requests"


class Unavailable(RollcallError):
    """A dependency (store, queue, model) failed; the request can be retried."""

    code = "SERVICE_UNAVAILABLE"
    title = "service unavailable"


class ConfigurationError(RollcallError):
    """The function's environment is wrong: raised at start, never at a client."""

    code = "CONFIGURATION_ERROR"
    title = "configuration error"


STATUS_BY_CATEGORY: dict[type[RollcallError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMedia: 415,
    Unprocessable: 422,
    TooManyRequests: 429,
    Unavailable: 503,
    ConfigurationError: 500,
    RollcallError: 500,
}


def status_for(error: RollcallError) -> int:
    """The HTTP status of an error: the first category found in its class's MRO."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_CATEGORY:
            return STATUS_BY_CATEGORY[cls]
    return 500


# --- auth ----------------------------------------------------------------------------------------


class TokenMissing(Unauthenticated):
    code = "TOKEN_MISSING"


class TokenExpired(Unauthenticated):
    code = "TOKEN_EXPIRED"


class TokenInvalid(Unauthenticated):
    code = "TOKEN_INVALID"


class WrongOrganisation(Forbidden):
    code = "WRONG_ORGANISATION"


# --- generic -------------------------------------------------------------------------------------


class ValidationFailed(Unprocessable):
    code = "VALIDATION_ERROR"


class InvalidJson(InvalidInput):
    """The body is not JSON at all (malformed, not UTF-8, nested too deep): 400, not 422."""

    code = "INVALID_JSON"


class InvalidCursor(InvalidInput):
    code = "INVALID_CURSOR"


class RouteNotFound(NotFound):
    code = "ROUTE_NOT_FOUND"


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"


class ConcurrentUpdate(Conflict):
    code = "CONCURRENT_UPDATE"


class StoreUnavailable(Unavailable):
    code = "STORE_UNAVAILABLE"


# --- faces (issue: enrolment and attendance marking) ---------------------------------------------


class InvalidImageEncoding(InvalidInput):
    code = "INVALID_IMAGE_ENCODING"


class ImageTooLarge(TooLarge):
    code = "IMAGE_TOO_LARGE"


class UnsupportedImage(UnsupportedMedia):
    code = "UNSUPPORTED_IMAGE"


class NoFace(Unprocessable):
    code = "NO_FACE"


class MultipleFaces(Unprocessable):
    code = "MULTIPLE_FACES"


class FaceTooSmall(Unprocessable):
    code = "FACE_TOO_SMALL"


class LowQuality(Unprocessable):
    code = "LOW_QUALITY"


class DuplicateFace(Conflict):
    code = "DUPLICATE_FACE"


class FaceLimit(Conflict):
    code = "FACE_LIMIT"


# --- prediction and training ---------------------------------------------------------------------


class InsufficientData(Unprocessable):
    code = "INSUFFICIENT_DATA"


class InvalidCsv(Unprocessable):
    code = "INVALID_CSV"


class ModelUnavailable(Unavailable):
    code = "MODEL_UNAVAILABLE"


class ArtifactIntegrityError(Unavailable):
    code = "ARTIFACT_INTEGRITY"
