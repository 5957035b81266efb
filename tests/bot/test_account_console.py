"""The account and money commands through the real CLI console (``console --script --json``),
with every handler of the application registered and the bundled demo people."""

from __future__ import annotations

from collections.abc import Callable

from rules.clock import SystemClock, china_month
from rules.identity import mask_id
from tests.bot.conftest import HOLDER, STAFF, WIFE, Turn, link_script

HH, REL = 201, 202


def setup() -> str:
    return link_script(HOLDER, HH) + link_script(WIFE, REL)


def test_bind_settle_unbind_transcript(console_run: Callable[[str], list[Turn]]) -> None:
    turns = console_run(setup() + f""":as {HH}
/open
:tap 同意
/bind {WIFE.id_number} {WIFE.name} 老婆
:tap 确认
:as {REL}
/settle 120
:sleep 60
/settle 120
:tap 确认
:as {HH}
/unbind 1
:tap 确认
""")
    by_input = {(t.sender, t.text): t for t in turns}
    bind = by_input[(HH, f"/bind {WIFE.id_number} {WIFE.name} 老婆")]
    assert bind.buttons() == ["确认绑定", "取消"] and WIFE.id_number not in bind.all_text
    bound = turns[[t.text for t in turns].index(":tap 确认")]
    assert {r["to"] for r in bound.replies} == {HH, REL}  # the wife is told who bound her
    notice = next(r["text"] for r in bound.replies if r["to"] == REL)
    assert HOLDER.name in notice and mask_id(HOLDER.id_number) in notice

    settles = [t for t in turns if t.text == "/settle 120"]
    assert settles[0].codes == ["INSUFFICIENT_BALANCE"] and "5分钟内" in settles[0].all_text
    assert settles[1].buttons() == ["确认支付", "取消"]
    paid = turns[turns.index(settles[1]) + 1]
    assert any(r["to"] == HH and "¥120.00" in r["text"] for r in paid.replies)
    assert any(r["to"] == REL and "结算成功" in r["text"] for r in paid.replies)

    unbound = turns[-1]
    assert any(r["to"] == REL and "解除" in r["text"] for r in unbound.replies)


def test_staff_commands_through_the_console(console_run: Callable[[str], list[Turn]]) -> None:
    month = china_month(SystemClock().now())  # the console's clock starts now
    turns = console_run(f""":as {STAFF}
/lookup {HOLDER.id_number}
/credit {month}
/audit
:as {HH}
/audit
""")
    lookup, credit, audit, forbidden = turns[1], turns[2], turns[3], turns[5]
    assert mask_id(HOLDER.id_number) in lookup.all_text
    assert HOLDER.id_number not in lookup.all_text
    assert month in credit.all_text and "核查通过" in audit.all_text
    assert forbidden.codes == ["FORBIDDEN"]
