"""Bot API calls over aiohttp: a :class:`telegram.request.BaseRequest` for the networked bot.

PTB's default ``HTTPXRequest`` spends 1.3–2.3 ms of CPU per Bot API call (httpx + httpcore
scan the connection pool and re-import ``sniffio`` on every request); aiohttp spends about
0.25 ms on the same call (``bench/bench_http.py`` prints both). A settlement's 确认 makes
three or four calls (answer the tap, edit the summary, notify the payers), so on a webhook
replica the HTTP client was the largest single cost. Behaviour matches ``HTTPXRequest``:
form-encoded parameters (multipart when a file is sent), PTB's timeouts, ``TimedOut`` and
``NetworkError`` for transport failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Files = Mapping[str, tuple[str, bytes | IO[bytes], str]]
"""PTB's multipart parts: field name → (file name, content, MIME type)."""


def _seconds(value: object, default: float | None) -> float | None:
    """A PTB timeout argument: DEFAULT_NONE means ours; None means no limit."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return value if isinstance(value, (int, float)) else None


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool, opened in :meth:`initialize`."""

    def __init__(self, *, connections: int = 64, read_timeout: float | None = DEFAULT_TIMEOUT,
                 write_timeout: float | None = DEFAULT_TIMEOUT,
                 connect_timeout: float | None = DEFAULT_TIMEOUT,
                 pool_timeout: float | None = POOL_TIMEOUT,
                 media_write_timeout: float | None = 20.0) -> None:
        self._connections = connections
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        write = _seconds(write_timeout, self._media_write if files else self._write)
        read = _seconds(read_timeout, self._read)
        # aiohttp has no separate write timeout: a request may take write + read in all
        total = None if read is None or write is None else read + write
        pool = _seconds(pool_timeout, self._pool)
        connect = _seconds(connect_timeout, self._connect)
        # aiohttp's ``connect`` is the wait for a pooled connection plus opening a new one
        timeout = aiohttp.ClientTimeout(
            total=total, sock_read=read, sock_connect=connect,
            connect=None if pool is None or connect is None else pool + connect)
        body = _body(request_data, files)
        headers = FORM if isinstance(body, bytes) else None
        try:
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as res:
                return res.status, await res.read()
        except TimeoutError as err:  # asyncio's is the builtin since 3.11
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


def _body(request_data: RequestData | None, files: Files | None) -> aiohttp.FormData | bytes | None:
    """Form fields as PTB encodes them (urlencoded here: aiohttp's own form encoding cost more
    than the rest of the call); multipart with the files when there are any."""
    if request_data is None:
        return None
    if not files:
        return request_data.url_encoded_parameters().encode("ascii")
    fields = request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form
