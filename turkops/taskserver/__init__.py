"""The participant-facing task server (Prolific sends participants here): a Starlette app."""

from turkops.taskserver.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
