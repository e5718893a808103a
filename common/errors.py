"""The OpenAI error body and the exception that carries it to the HTTP edge."""

from __future__ import annotations

from typing import Any

_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "service_unavailable",
    504: "timeout",
}


#: The code of the error event that ends a stream whose worker died mid-answer (common/inflight.py rescues it).
WORKER_LOST = "worker_lost"


def error_body(status: int, message: str, code: str | None = None, param: str | None = None,
               type_: str | None = None) -> dict[str, Any]:
    """`{"error": {...}}` as the OpenAI API returns it."""
    return {"error": {"message": message, "type": type_ or _TYPE_FOR_STATUS.get(status, "api_error"),
                      "code": code, "param": param}}


class GatewayError(Exception):
    """A request that ends in an OpenAI-format error with this status."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 retry_after: float | None = None, type_: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.type_ = type_

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param, self.type_)

    def to_event(self) -> dict[str, Any]:
        """The shape a worker publishes on the job channel."""
        event: dict[str, Any] = {"status": self.status, "error": self.body()["error"]}
        if self.retry_after is not None:
            event["retry_after"] = self.retry_after
        return event

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> GatewayError:
        err = event["error"]
        return cls(event["status"], err["message"], err.get("code"), err.get("param"),
                   event.get("retry_after"), err.get("type"))


def deadline_exceeded() -> GatewayError:
    """The job did not end before its deadline (the API's 504 and the worker's error event alike)."""
    return GatewayError(504, "the request did not finish before its deadline", "deadline_exceeded")


def queue_unavailable() -> GatewayError:
    """Redis, and so the job queue, cannot be reached: fail fast rather than hang."""
    return GatewayError(503, "the job queue is unavailable", "queue_unavailable", retry_after=2)


def records_unavailable() -> GatewayError:
    """The database of records cannot be reached (a key never seen before, an admin write, a usage read)."""
    return GatewayError(503, "the database of records is unavailable; retry shortly", "records_unavailable",
                        retry_after=2)


def internal_failure(request_id: str) -> GatewayError:
    """A failure nobody expected, in the API or in a worker's job: a bug, logged with its traceback."""
    return GatewayError(500, f"the gateway failed to handle this request (request id {request_id}); it has been "
                             "logged", "internal_error")
