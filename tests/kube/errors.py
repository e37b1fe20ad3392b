"""What the emulated API server answers when a request cannot be served, as a Kubernetes
``Status``: the HTTP code, the machine-readable reason and a message."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


def not_found(what: str) -> ApiError:
    return ApiError(404, "NotFound", f"{what} not found")


def already_exists(what: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f"{what} already exists")


def conflict(what: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {what}: the object has been modified; "
        "please apply your changes to the latest version and try again",
    )


def gone(revision: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {revision} ({oldest})")


def invalid(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)
