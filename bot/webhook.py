"""The webhook endpoint: a small Starlette app that feeds Telegram updates to the Application.

Each update is processed *inline*: the HTTP response is sent only after the handlers finish.
Telegram redelivers an update whose request failed or timed out, so an update is either fully
handled (and idempotent on redelivery, thanks to the processed-updates table and idempotency
keys) or retried; and a graceful shutdown only has to let in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.context import update_marker, webhook_reply
from bot.handlers.errors import take_failure

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
KNOWN_UPDATE_FIELDS = frozenset(Update.ALL_TYPES)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
"""Returns the health facts; raises when the replica must not receive traffic."""


MAX_UPDATE_ID = 2**63 - 1  # a BIGINT


def valid_update_id(value: object) -> bool:
    """An int (not a bool) that fits the database's BIGINT and is not negative."""
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID


class BodyTooLarge(Exception):
    """The request body passed ``max_body_bytes``."""


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_webhook_app(
    application: Application, *, path: str, secret: str, max_body_bytes: int,
    health: HealthCheck,
) -> Starlette:
    """The ASGI app: POST ``path`` for updates, GET ``/healthz`` for the load balancer.

    Redelivered updates are dropped by the Application's own duplicate filter
    (bot/handlers/errors.py), so polling and webhook behave alike.
    """
    if not secret:
        raise ValueError("a webhook secret token is required")
    expected = secret.encode("utf-8")
    inflight: dict[int, asyncio.Future[Response]] = {}

    async def telegram_update(request: Request) -> Response:
        """Check the secret, bound and parse the body, then process the update inline."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(given, expected):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            return PlainTextResponse("payload too large", status_code=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[…
            return PlainTextResponse("malformed JSON", status_code=400)
        if not isinstance(data, dict) or not valid_update_id(data.get("update_id")):
            return PlainTextResponse("not an update", status_code=400)
        if not KNOWN_UPDATE_FIELDS.intersection(data):
            log.info("ignoring update %s of an unknown type", data["update_id"])
            return PlainTextResponse("ignored")
        try:
            update = Update.de_json(data, application.bot)
        except Exception:  # noqa: BLE001 — a known field holding a malformed object
            log.warning("update %s could not be parsed", data["update_id"])
            return PlainTextResponse("malformed update", status_code=400)
        return await process_once(update)

    async def process_once(update: Update) -> Response:
        """Handle an update; a concurrent duplicate of one in flight here waits for it and
        answers the same. A failed update gets 500, so Telegram delivers it again. A done one
        gets 200, with the answer to a pressed button as the body for Telegram to run
        (:func:`bot.context.answer_press`)."""
        marker = update_marker(update)
        running = inflight.get(marker)
        if running is not None:
            return await asyncio.shield(running)
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        inflight[marker] = done
        try:
            # Handler errors reach the application's error handler (bot/handlers/errors.py),
            # which notes the update as failed; the processed marker is then not written.
            with webhook_reply() as method:
                await application.process_update(update)
            failed = take_failure(application, marker)
            response: Response = (PlainTextResponse("failed", status_code=500) if failed
                                  else JSONResponse(method[0]) if method
                                  else PlainTextResponse("ok"))
        except Exception:  # noqa: BLE001 — anything else: not done, let Telegram retry
            log.exception("update %s could not be processed", update.update_id)
            response = PlainTextResponse("failed", status_code=500)
        finally:
            del inflight[marker]
        done.set_result(response)
        return response

    async def healthz(_request: Request) -> Response:
        """200 with the facts when the database and knowledge base answer, else 503."""
        try:
            facts = await health()
        except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
        return JSONResponse(facts)

    return Starlette(routes=[
        Route(path, telegram_update, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


class WebhookServer(uvicorn.Server):
    """uvicorn without its own signal capture: the runtime owns SIGTERM/SIGINT.

    uvicorn re-raises a captured signal once it stops, which would kill the process before
    the Application is stopped; the runtime instead calls :meth:`request_stop`.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_stop(self) -> None:
        """Stop accepting connections; in-flight requests finish before ``serve`` returns."""
        self.should_exit = True


def make_server(app: Starlette, *, host: str, port: int,
                grace_seconds: int = 30) -> WebhookServer:
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="off", log_level="warning", access_log=False,
        timeout_graceful_shutdown=grace_seconds, server_header=False,
    )
    return WebhookServer(config)
