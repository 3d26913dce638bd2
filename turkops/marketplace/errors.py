"""MTurk's error shapes: RequestError (HTTP 400), ServiceFault (HTTP 500), ThrottlingException.

Real MTurk messages end with the server time in epoch milliseconds in parentheses, e.g.
"Hit 36818Z1KV5CDQ807J1UQ45304AOA3Z does not exist. (1619128282649)"; we do the same so
clients that parse messages meet the real format.
"""

from __future__ import annotations

import time

REQUEST_ERROR = "RequestError"
SERVICE_FAULT = "ServiceFault"
THROTTLING = "ThrottlingException"

# TurkErrorCode values. HITDoesNotExist, AssignmentDoesNotExist and HitAlreadyExists are the
# codes MTurk documents/returns; the others are ours, named in the same style.
HIT_DOES_NOT_EXIST = "AWS.MechanicalTurk.HITDoesNotExist"
HIT_TYPE_DOES_NOT_EXIST = "AWS.MechanicalTurk.HITTypeDoesNotExist"
ASSIGNMENT_DOES_NOT_EXIST = "AWS.MechanicalTurk.AssignmentDoesNotExist"
HIT_ALREADY_EXISTS = "AWS.MechanicalTurk.HitAlreadyExists"
TOKEN_ALREADY_PROCESSED = "AWS.MechanicalTurk.IdempotencyTokenAlreadyProcessed"
INVALID_ASSIGNMENT_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
INVALID_HIT_STATE = "AWS.MechanicalTurk.InvalidHITState"
INSUFFICIENT_FUNDS = "AWS.MechanicalTurk.InsufficientFunds"
INVALID_PARAMETER = "AWS.MechanicalTurk.InvalidParameterValue"
XML_PARSE_ERROR = "AWS.MechanicalTurk.XMLParseError"
UNSUPPORTED_OPERATION = "AWS.MechanicalTurk.UnsupportedOperation"
SERVICE_UNAVAILABLE = "AWS.MechanicalTurk.ServiceUnavailable"


class MTurkError(Exception):
    """An error the API answers with; `kind` is the JSON `__type` (RequestError/ServiceFault)."""

    def __init__(self, message: str, turk_error_code: str, kind: str = REQUEST_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.turk_error_code = turk_error_code
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.kind} {self.turk_error_code}: {self.message}"

    @property
    def http_status(self) -> int:
        return 500 if self.kind == SERVICE_FAULT else 400

    def to_json(self) -> dict[str, str]:
        return {
            "__type": self.kind,
            "Message": f"{self.message} ({int(time.time() * 1000)})",
            "TurkErrorCode": self.turk_error_code,
        }


def request_error(message: str, code: str = INVALID_PARAMETER) -> MTurkError:
    return MTurkError(message, code, REQUEST_ERROR)


def service_fault(message: str = "The service is temporarily unavailable.") -> MTurkError:
    return MTurkError(message, SERVICE_UNAVAILABLE, SERVICE_FAULT)


def throttling_body() -> dict[str, str]:
    # botocore's standard/adaptive retry treat the code "ThrottlingException" as throttling
    # (botocore/retries/standard.py, ThrottledRetryableChecker) and back off for it.
    return {"__type": THROTTLING, "message": "Rate exceeded"}
