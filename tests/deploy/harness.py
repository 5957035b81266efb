"""Real ``python -m bot run`` webhook replicas for the deployment tests and the load bench.

Each replica is its own process on its own 127.0.0.1 port, all sharing one database and one
fake Bot API. Updates are POSTed with the secret header, as Telegram would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.webhook import SECRET_HEADER

ROOT = Path(__file__).resolve().parents[2]
SECRET = "deploy-test-secret_0123456789"
TOKEN = "7000000001:FAKE-token-for-loopback-tests-only-000"
HOUSEHOLDER_REGION_CODE = "370102"  # 济南市历下区: ordered settlement, no relative maximum


def replica_config(path: Path, db_url: str, port: int, *, pool_size: int = 5) -> Path:
    path.write_text(
        "database:\n"
        f"  url: \"{db_url}\"\n"
        f"  pool_size: {pool_size}\n"
        "  max_overflow: 5\n"
        "staff_ids: [900001]\n"
        "telegram:\n"
        "  mode: webhook\n"
        "  webhook:\n"
        "    listen: 127.0.0.1\n"
        f"    port: {port}\n"
        "    path: /telegram\n"
        "    secret_token_env: GONGJI_TEST_WEBHOOK_SECRET\n"
        "    max_body_bytes: 65536\n"
        "demo:\n"
        "  load_when_empty: false\n"
        "logging:\n"
        "  level: WARNING\n",
        encoding="utf-8",
    )
    return path


def run_as_telegram(client: httpx.Client, api_base_url: str, call: dict[str, Any]) -> None:
    """Make the Bot API call a webhook response carried, as Telegram does once it has the
    response (bot.context.answer_press)."""
    params = dict(call)
    client.post(f"{api_base_url}{TOKEN}/{params.pop('method')}", json=params)


@dataclass
class Replica:
    """One bot process serving the webhook on ``port``."""

    name: str
    port: int
    config: Path
    log_path: Path
    api_base_url: str
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("-m", "bot", "run")
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    replied: dict[str, Any] | None = None  # the Bot API call the last response carried

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=self.api_base_url,
                   GONGJI_TEST_WEBHOOK_SECRET=SECRET, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.command, "--config", str(self.config)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def wait_healthy(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log()[-2000:]}")
            try:
                resp = self.client.get(f"{self.url}/healthz", timeout=2)
                if resp.status_code == 200:
                    return dict(resp.json())
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s: {self.log()[-2000:]}")

    def post(self, update: dict[str, Any] | bytes, *, secret: str | None = SECRET,
             timeout: float = 30) -> int:
        """POST one update; the HTTP status (the update is processed when this returns)."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        if isinstance(update, bytes):
            resp = self.client.post(f"{self.url}/telegram", content=update, headers=headers,
                                    timeout=timeout)
        else:
            resp = self.client.post(f"{self.url}/telegram", json=update, headers=headers,
                                    timeout=timeout)
        self.replied = None
        if resp.status_code == 200 and resp.headers.get("content-type") == "application/json":
            self.replied = resp.json()
            run_as_telegram(self.client, self.api_base_url, self.replied)
        return resp.status_code

    def kill(self) -> None:
        """SIGKILL: no goodbye, in-flight requests get no response."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait for the graceful exit; the exit code (None if it was killed)."""
        self.client.close()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                return None
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_replicas(tmp: Path, db_url: str, api_base_url: str, ports: Iterable[int],
                   *, pool_size: int = 5, command: tuple[str, ...] = ("-m", "bot", "run"),
                   ) -> list[Replica]:
    """Start one replica per port and wait until every one answers /healthz."""
    replicas = []
    for i, port in enumerate(ports):
        name = f"replica-{'ABCDEFGH'[i]}"
        cfg = replica_config(tmp / f"{name}.yaml", db_url, port, pool_size=pool_size)
        replicas.append(Replica(name, port, cfg, tmp / f"{name}.log", api_base_url,
                                command=command).start())
    try:
        for r in replicas:
            r.wait_healthy()
    except BaseException:
        for r in replicas:
            r.kill()
        raise
    return replicas


def cpu_by_pid(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds each live process has used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone
        out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots by the processes alive at the second one."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (for "everything else")."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    """Local processes whose command name is ``name`` (e.g. every PostgreSQL backend)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class LoopbackHttp:
    """A minimal keep-alive HTTP/1.1 client for the load generator's hot path.

    httpx spends ~2 ms of CPU per request; on a 2-core box shared with the replicas that is
    a large share of the measurement, so the bench speaks plain HTTP/1.1 itself (127.0.0.1,
    Content-Length bodies only — what uvicorn and the fake send).
    """

    def __init__(self, port: int, connections: int = 64) -> None:
        self.port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                status, data, keep = await self._exchange(conn, method, path, body, headers or {})
            except ConnectionError:
                conn[1].close()
                if not reused:
                    raise
                # The server closed an idle keep-alive connection before reading our request.
                conn = await self._connect()
                status, data, keep = await self._exchange(conn, method, path, body, headers or {})
            except BaseException:
                conn[1].close()
                raise
            if keep:
                self._idle.append(conn)
            else:
                conn[1].close()
            return status, data

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    @staticmethod
    async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], method: str,
                        path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        reader, writer = conn
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status_line = (await reader.readline()).split()
        if len(status_line) < 2:
            raise ConnectionResetError("connection closed before a response")
        status = int(status_line[1])
        length, keep = 0, True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value == "close":
                keep = False
            elif name == "transfer-encoding":
                raise ValueError("chunked responses are not supported")
        return status, await reader.readexactly(length) if length else b"", keep

    async def close(self) -> None:
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()
