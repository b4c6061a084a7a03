"""What an error answer of the api-server says, whichever of its apps answered.

Shared by the client (``amlflow.client``) and the token exchange (``amlflow.core.authentication``), so
neither imports the other.
"""

from __future__ import annotations

from typing import Any


def error_message(answer: Any) -> str:
    """The server's error message: Azure ML's ``error.message`` or Airflow's ``detail``."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:500]
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("message", body))
        if "detail" in body:
            return str(body["detail"])
    return str(body)[:500]
