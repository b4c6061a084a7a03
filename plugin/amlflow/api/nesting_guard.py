"""A root middleware of the api-server: a run trigger nested deeper than a run can carry gets a 400.

Airflow 3.3.2's own trigger route (``POST /api/v2/dags/{dag_id}/dagRuns``) parses any JSON its parser
can: a ``conf`` nested about 200 to 255 levels deep creates a run that can never start (the task's
context fails to parse on the worker, every try), and from 256 levels the route answers 500. amlflow's
endpoint refuses more than ``MAX_NESTING`` levels; this middleware gives Airflow's route the same limit.
It reads only trigger requests, and passes every other request through untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from amlflow.runtime.limits import nesting_problem

TRIGGER_PATH = re.compile(r"^/api/v2/dags/[^/]+/dagRuns/?$")


class NestingGuard:
    """Pure ASGI: buffers a trigger's body, answers 400 if it is nested too deeply, else replays it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer 400 to a DAG-run trigger nested deeper than ``MAX_NESTING``; pass every other request on, its body
        replayed.
        """
        if scope["type"] != "http" or scope["method"] != "POST" or not TRIGGER_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        problem = nesting_problem(body)
        if problem:
            answer = json.dumps({"detail": f"body: {problem}"}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
