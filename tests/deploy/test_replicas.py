"""Two real webhook replicas (``python -m bot run``) on one PostgreSQL database.

Eight relatives of one householder settle at once across both replicas; each summary is
confirmed on the *other* replica; updates are redelivered to the other replica; one replica
is SIGKILLed mid-stream and its unanswered updates go to the survivor. Money is neither lost
nor doubled and ``python -m bot audit`` passes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from rules.db import make_engine
from rules.migrate import upgrade
from rules.schema import Base, Binding
from tests.deploy.conftest import free_port
from tests.deploy.family import Family, last_button, money_facts, seed_family
from tests.deploy.harness import ROOT, Replica, start_replicas
from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.updates import UpdateFactory, buttons

Update = dict[str, Any]


@dataclass
class Cluster:
    engine: Engine
    url: str
    family: Family
    replicas: list[Replica]
    fake: FakeBotApi
    updates: UpdateFactory

    def other(self, r: Replica) -> Replica:
        return self.replicas[1 - self.replicas.index(r)]

    def post(self, r: Replica, update: Update) -> None:
        status = r.post(update)
        assert status == 200, f"{r.name} answered {status}: {r.log()[-1500:]}"

    def post_all(self, jobs: list[tuple[Replica, Update]]) -> None:
        """POST concurrently (8 threads), as Telegram delivers to a load balancer."""
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda job: self.post(*job), jobs))

    def bot_output(self) -> int:
        return len(self.fake.calls("sendMessage")) + len(self.fake.calls("editMessageText"))


@pytest.fixture
def cluster(pg_url: str, fake_api: FakeBotApi, tmp_path: Path) -> Iterator[Cluster]:
    upgrade(pg_url, metadata=Base.metadata)
    engine = make_engine(pg_url)
    family = seed_family(engine, tmp_path)
    replicas = start_replicas(tmp_path, pg_url, fake_api.base_url, [free_port(), free_port()])
    try:
        yield Cluster(engine, pg_url, family, replicas, fake_api, UpdateFactory(10_000))
    finally:
        for r in replicas:
            r.stop()
        engine.dispose()


def open_and_bind(c: Cluster) -> None:
    """The householder opens the family account and binds everyone; each button is pressed
    on the other replica from the one that showed it."""
    a, b = c.replicas
    head = c.family.householder.user_id
    c.post(a, c.updates.text(head, "/open"))
    data, mid = last_button(c.fake, head, "open:")
    press = c.updates.press(head, data, mid)
    c.post(b, press)
    # the press is answered in the webhook response, and the harness runs it as Telegram does
    assert b.replied == {"method": "answerCallbackQuery",
                         "callback_query_id": press["callback_query"]["id"]}
    assert [call.params["callback_query_id"] for call in c.fake.calls("answerCallbackQuery")] \
        == [press["callback_query"]["id"]]
    for i, m in enumerate(c.family.relatives):
        shown = c.replicas[i % 2]
        c.post(shown, c.updates.text(head, f"/bind {m.id_number} {m.name} {m.relation}"))
        data, mid = last_button(c.fake, head, "cf:")
        c.post(c.other(shown), c.updates.press(head, data, mid))
    with c.engine.connect() as conn:
        active = conn.scalar(select(func.count()).select_from(Binding)
                             .where(Binding.removed_at.is_(None)))
    assert active == len(c.family.relatives)


Jobs = list[tuple[Replica, Update]]


def settle_everyone(c: Cluster) -> tuple[Jobs, Jobs]:
    """Every relative asks to pay ¥100 at once, half on each replica; returns the /settle
    jobs and the matching 确认 presses (each aimed at the other replica)."""
    asks = [(c.replicas[i % 2], c.updates.text(m.user_id, "/settle 100 购药"))
            for i, m in enumerate(c.family.relatives)]
    c.post_all(asks)
    presses = []
    for (shown, _ask), m in zip(asks, c.family.relatives, strict=True):
        data, mid = last_button(c.fake, m.user_id, "cf:")
        presses.append((c.other(shown), c.updates.press(m.user_id, data, mid)))
    return asks, presses


def confirm_fresh_summaries(c: Cluster, presses: Jobs) -> None:
    """Relatives whose 确认 met a householder already spent got PLAN_CHANGED and a fresh
    summary (cash only); each presses it, on the other replica. For the others the newest
    button is the one they pressed: pressing it again changes nothing."""
    for shown, press in presses:
        user = press["callback_query"]["from"]["id"]
        data, mid = last_button(c.fake, user, "cf:")
        c.post(c.other(shown), c.updates.press(user, data, mid))


def audit_passes(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "audit", "--db", url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def assert_money_right(c: Cluster) -> dict[str, Any]:
    """¥500.00 pays exactly five ¥100 bills in full; the rest is cash; audit passes."""
    facts = money_facts(c.engine, c.family)
    affordable = c.family.householder_fen // 10_000
    assert facts["householder_fen"] == c.family.householder_fen - affordable * 10_000 == 0
    assert facts["family_legs"] == [10_000] * affordable, facts
    assert facts["settle_txns"] == len(c.family.relatives), facts
    done = audit_passes(c.url)
    assert done.returncode == 0, done.stdout + done.stderr
    return facts


def test_settlements_across_replicas_and_redelivery(cluster: Cluster) -> None:
    c = cluster
    open_and_bind(c)
    asks, presses = settle_everyone(c)
    c.post_all(presses)
    changed = [m for m in c.family.relatives
               if any("[PLAN_CHANGED]" in t for t in c.fake.sent_texts(m.user_id))]
    assert len(changed) == len(c.family.relatives) - c.family.householder_fen // 10_000
    confirm_fresh_summaries(c, presses)
    before = assert_money_right(c)
    output = c.bot_output()
    # Redeliver every /settle and every press to the replica that did NOT handle it.
    c.post_all([(c.other(r), u) for r, u in asks] + [(c.other(r), u) for r, u in presses])
    assert money_facts(c.engine, c.family) == before
    assert c.bot_output() == output, "a redelivered update produced a second reply"
    assert audit_passes(c.url).returncode == 0


def test_sigkill_mid_stream_then_redeliver_to_the_survivor(cluster: Cluster) -> None:
    c = cluster
    a, b = c.replicas
    open_and_bind(c)
    _asks, presses = settle_everyone(c)
    questions = [(a if i % 2 else b, c.updates.text(m.user_id, "家庭共济能绑定哪些亲属？"))
                 for i, m in enumerate(c.family.relatives)]
    stream = [job for pair in zip(presses, questions, strict=True) for job in pair]
    unanswered: list[Update] = []
    answered_by_a = threading.Semaphore(0)

    def deliver(job: tuple[Replica, Update]) -> None:
        replica, update = job
        try:
            status = replica.post(update, timeout=10)
        except httpx.TransportError:
            status = 0
        if status != 200:
            assert replica is a, f"the survivor answered {status}"
            unanswered.append(update)
        elif replica is a:
            answered_by_a.release()

    with ThreadPoolExecutor(len(stream)) as pool:
        futures = [pool.submit(deliver, job) for job in stream]
        answered_by_a.acquire(timeout=10)  # A is busy: kill it with updates in flight
        a.kill()
        for f in futures:
            f.result()
    assert unanswered, "the kill should leave some of replica A's updates unanswered"
    for update in unanswered:  # Telegram redelivers them; the load balancer picks B
        c.post(b, update)
    confirm_fresh_summaries(c, [(a, press) for _r, press in presses])  # B presses them
    facts = money_facts(c.engine, c.family)
    # Whatever the kill interrupted: money conserved, nothing paid twice, the audit passes.
    assert facts["householder_fen"] + sum(facts["family_legs"]) == c.family.householder_fen
    assert set(facts["family_legs"]) <= {10_000}
    assert facts["settle_txns"] <= len(c.family.relatives)
    assert audit_passes(c.url).returncode == 0
    assert_money_right(c)
    for m in c.family.relatives:  # everyone's 确认 ended in a settlement they were shown
        texts = c.fake.sent_texts(m.user_id)
        assert any("结算成功" in t for t in texts), texts


def test_bad_input_writes_nothing_and_the_replica_keeps_serving(cluster: Cluster) -> None:
    c = cluster
    a = c.replicas[0]
    user = c.family.relatives[0].user_id
    good = c.updates.text(user, "/balance")
    tables = [t for t in Base.metadata.sorted_tables]

    def counts() -> list[int]:
        with c.engine.connect() as conn:
            return [conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables]

    rows, output = counts(), c.bot_output()
    oversized = {**good, "message": {**good["message"], "text": "x" * 70_000}}
    import json

    cases = [
        (a.post(good, secret="wrong-secret"), 403),
        (a.post(good, secret=None), 403),
        (a.post(b"{\"update_id\": 1, \"message\": ", timeout=10), 400),
        (a.post(json.dumps(oversized).encode()), 413),
        (a.post({"update_id": 99_999, "future_update_kind": {"x": 1}}), 200),
    ]
    assert [got for got, _ in cases] == [want for _, want in cases]
    assert counts() == rows, "bad input wrote to the database"
    assert c.bot_output() == output, "bad input made the bot say something"
    assert a.client.get(f"{a.url}/healthz").json()["database"] == "ok"
    c.post(a, good)  # still serving
    assert c.bot_output() == output + 1
    assert a.stop() == 0  # SIGTERM: a graceful exit


def _give_own_money(c: Cluster, member_index: int, fen: int) -> int:
    """Set a relative's own balance (opening balance too, so the ledger stays sound)."""
    from sqlalchemy import update as sql_update

    from rules.schema import Person

    m = c.family.relatives[member_index]
    with c.engine.begin() as conn:
        conn.execute(sql_update(Person).where(Person.id_number == m.id_number)
                     .values(balance=fen, opening_balance=fen))
    return m.user_id


def test_h1_a_redelivery_after_a_lost_marker_replays_the_receipt(cluster: Cluster) -> None:
    """Security review H1 on two replicas: the settlement committed on A, its processed marker
    was lost (a SIGKILL between the two), the update goes to B: the same receipt, no summary,
    no second charge."""
    from sqlalchemy import delete

    from bot.state import ProcessedUpdate

    c = cluster
    a, b = c.replicas
    open_and_bind(c)
    user = _give_own_money(c, 0, 10_000)
    update = c.updates.text(user, "/settle 80 门诊")
    c.post(a, update)
    with c.engine.begin() as conn:
        conn.execute(delete(ProcessedUpdate))
    c.post(b, update)
    replies = c.fake.sent_texts(user)[-2:]
    assert replies[0] == replies[1] and "结算成功" in replies[0]
    assert not any(data.startswith("cf:") for call in c.fake.calls("sendMessage")
                   if call.params.get("chat_id") == user
                   for _l, data in buttons(call.params.get("reply_markup")))
    assert money_facts(c.engine, c.family)["family_legs"] == []
    assert audit_passes(c.url).returncode == 0


def test_h2_concurrent_swipes_on_two_replicas_spend_no_family_money(cluster: Cluster) -> None:
    """Security review H2: six /settle 20 at once, three on each replica, with ¥20 of own
    money: one is paid from it, the others are summaries; no family money moves."""
    c = cluster
    open_and_bind(c)
    user = _give_own_money(c, 1, 2_000)
    c.post_all([(c.replicas[i % 2], c.updates.text(user, "/settle 20 门诊")) for i in range(6)])
    texts = c.fake.sent_texts(user)
    assert sum("结算成功" in t for t in texts) == 1
    assert sum("请确认结算" in t for t in texts) == 5
    facts = money_facts(c.engine, c.family)
    assert facts["family_legs"] == [] and facts["householder_fen"] == c.family.householder_fen
    assert audit_passes(c.url).returncode == 0
