"""Confirmation tokens: single use, owner only, expiring, re-authorised at press time."""

from __future__ import annotations

import re

from sqlalchemy import delete

from bot.loopback import Button, Sent
from bot.state import Confirmation, Link
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)
from tests.bot.test_account_bind import HH, OTHER, REL, opened
from tests.bot.test_money_settle import balance, family_of


def start_bind(chat: Chat) -> tuple[object, object]:
    me = opened(chat, HH, place="jinan", name="王志强")
    kid = chat.person(REL, place="jinan", name="王小明", scheme="resident")
    chat.send(HH, f"/bind {kid.id_number} 王小明 儿子")
    return me, kid


def _summary_for(token: str) -> Sent:
    """A stale copy of a summary's 确认 button (e.g. after the edit removed it)."""
    return Sent(HH, 0, "", [[Button("确认", f"cf:{token}")]])


def relatives(chat: Chat, me: object) -> int:
    return len(chat.services.family.family(me.id).relatives)


def test_token_is_short_opaque_and_stored_with_owner_action_payload_expiry(chat: Chat) -> None:
    me, kid = start_bind(chat)
    [row] = chat.pending()
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,16}", row["token"])
    assert row["owner"] == HH and row["action"] == "bind" and not row["used"]
    assert row["payload"]["person_id"] == me.id and row["payload"]["id_number"] == kid.id_number
    button = chat.buttons_message(HH, "确认").buttons[0]
    assert [b.callback_data for b in button] == [f"cf:{row['token']}", f"cx:{row['token']}"]
    with chat.services.sessions() as s:
        c = s.get(Confirmation, row["token"])
        assert (c.expires_at - c.created_at).total_seconds() == 600


def test_double_press_changes_nothing_more(chat: Chat) -> None:
    me, _ = start_bind(chat)
    summary = chat.buttons_message(HH, "确认")
    first = chat.press(HH, summary, "确认")
    assert "已绑定" in texts(first, HH) and len(to(first, REL)) == 1
    second = chat.press(HH, summary, "确认")
    assert [s.kind for s in second] == ["toast"] and "已处理" in second[0].text
    assert "已绑定" in second[0].text  # the first result
    assert relatives(chat, me) == 1


def test_redelivered_callback_update_changes_nothing_more(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100")
    summary = chat.buttons_message(REL, "确认")
    chat.press(REL, summary, "确认", update_id=4242)
    again = chat.press(REL, summary, "确认", update_id=4242)
    # the application drops a redelivered update (processed_updates); were it to reach the
    # button handler, the used token would only answer 已处理
    assert all("已处理" in s.text for s in again) and not to(again, HH)
    assert balance(chat, householder) == 90_000


def test_expired_button(chat: Chat) -> None:
    me, _ = start_bind(chat)
    chat.clock.advance(601)
    done = chat.tap(HH, "确认")
    assert "[EXPIRED]" in texts(done) and to(done, HH)[-1].kind == "edit"
    assert relatives(chat, me) == 0
    [row] = chat.pending()  # a stale copy of the buttons, pressed again
    again = chat.press(HH, _summary_for(row["token"]), "确认")
    assert "已处理" in texts(again) and "[EXPIRED]" in texts(again)


def test_press_just_before_expiry_still_works(chat: Chat) -> None:
    me, _ = start_bind(chat)
    chat.clock.advance(599)
    assert "已绑定" in texts(chat.tap(HH, "确认"))
    assert relatives(chat, me) == 1


def test_presser_who_is_not_the_owner_is_forbidden(chat: Chat) -> None:
    me, _ = start_bind(chat)
    chat.person(OTHER, place="jinan")
    summary = chat.buttons_message(HH, "确认")
    sent = chat.press(OTHER, summary, "确认")
    assert "[FORBIDDEN]" in texts(sent)
    assert relatives(chat, me) == 0
    assert not chat.pending()[0]["used"]
    assert "已绑定" in texts(chat.press(HH, summary, "确认"))  # the owner still can


def test_owner_unlinked_before_pressing(chat: Chat) -> None:
    me, _ = start_bind(chat)
    with chat.services.sessions.begin() as s:
        s.execute(delete(Link).where(Link.user_id == HH))
    assert "[NOT_LINKED]" in texts(chat.tap(HH, "确认"))
    assert relatives(chat, me) == 0


def test_owner_relinked_to_another_person_is_forbidden(chat: Chat) -> None:
    me, _ = start_bind(chat)
    other = chat.person(None, place="jinan")
    with chat.services.sessions.begin() as s:
        s.execute(delete(Link).where(Link.user_id == HH))
    chat.link(HH, other.id)
    assert "[FORBIDDEN]" in texts(chat.tap(HH, "确认"))
    assert relatives(chat, me) == 0


def test_rules_rechecked_at_press_time(chat: Chat) -> None:
    """Two summaries for the same relative: the second 确认 is refused by the rules engine."""
    me, kid = start_bind(chat)
    chat.send(HH, f"/bind {kid.id_number} 王小明 儿子")
    tokens = [c["token"] for c in chat.pending()]
    chat.tap(HH, "确认")  # the newest summary
    [unused] = [c["token"] for c in chat.pending() if not c["used"]]
    assert unused in tokens
    older = _summary_for(unused)
    assert "[ALREADY_BOUND]" in texts(chat.press(HH, older, "确认"))
    assert relatives(chat, me) == 1


def test_unknown_token(chat: Chat) -> None:
    chat.person(HH, place="jinan")
    assert "[EXPIRED]" in texts(chat.press(HH, _summary_for("nope"), "确认"))


def test_cancel_cannot_win_once_confirm_has_claimed(chat: Chat) -> None:
    from bot.confirm import _claim

    start_bind(chat)
    [row] = chat.pending()
    assert _claim(chat.services, row["token"], None)  # a 确认 press is executing right now
    sent = chat.tap(HH, "取消")
    assert [s.kind for s in sent] == ["toast"] and "已处理" in sent[0].text
    assert chat.pending()[0]["result"] is None  # the 确认 press will record its outcome


def test_failed_action_gives_the_token_back(chat: Chat, monkeypatch) -> None:
    me, _ = start_bind(chat)
    real = chat.services.family.bind

    def broken(*a: object, **kw: object) -> object:
        raise RuntimeError("database went away")

    monkeypatch.setattr(chat.services.family, "bind", broken)
    chat.tap(HH, "确认")
    assert not chat.pending()[0]["used"] and relatives(chat, me) == 0
    monkeypatch.setattr(chat.services.family, "bind", real)
    assert "已绑定" in texts(chat.tap(HH, "确认"))
    assert relatives(chat, me) == 1


def _crash_after_claim(chat: Chat, token: str) -> None:
    """What a replica killed mid-action leaves behind: claimed, no outcome recorded."""
    from sqlalchemy import update as sql_update

    with chat.services.sessions.begin() as s:
        s.execute(sql_update(Confirmation).where(Confirmation.token == token)
                  .values(used_at=chat.clock.now(), result=None))


def test_press_after_a_replica_died_mid_action_completes_once(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100")
    summary = chat.buttons_message(REL, "确认")
    [row] = chat.pending()
    _crash_after_claim(chat, row["token"])
    done = chat.press(REL, summary, "确认")
    assert "结算成功" in texts(done, REL) and len(to(done, HH)) == 1
    assert balance(chat, householder) == 90_000
    again = chat.press(REL, summary, "确认")
    assert all("已处理" in s.text for s in again) and not to(again, HH)
    assert balance(chat, householder) == 90_000


def test_press_after_the_action_ran_but_before_its_outcome_was_stored_replays(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100")
    summary = chat.buttons_message(REL, "确认")
    [row] = chat.pending()
    chat.press(REL, summary, "确认")
    assert balance(chat, householder) == 90_000
    _crash_after_claim(chat, row["token"])  # as if the outcome had never been written
    replay = chat.press(REL, summary, "确认")
    assert "结算成功" in texts(replay, REL)
    assert balance(chat, householder) == 90_000  # the same key: no second charge


def _dies_before_showing_the_outcome(chat: Chat, monkeypatch, summary: Sent, update_id: int,
                                     ) -> list[Sent]:
    """Press 确认 on a replica that commits the action and dies before editing the summary
    (the update fails, so it is not recorded as processed and Telegram delivers it again)."""
    import bot.confirm

    def dies(*_a: object, **_kw: object) -> None:
        raise RuntimeError("the replica was killed")

    with monkeypatch.context() as m:
        m.setattr(bot.confirm, "_finish", dies)
        return chat.press(REL if summary.chat_id == REL else HH, summary, "确认",
                          update_id=update_id)


def test_redelivered_press_whose_replica_died_after_paying_shows_the_receipt(
        chat: Chat, monkeypatch) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100")
    summary = chat.buttons_message(REL, "确认")
    first = _dies_before_showing_the_outcome(chat, monkeypatch, summary, 5151)
    assert "结算成功" not in texts(first, REL) and balance(chat, householder) == 90_000
    redelivered = chat.press(REL, summary, "确认", update_id=5151)
    assert "结算成功" in texts(redelivered, REL)  # the stored receipt, shown at last
    # notices are said at most once: a replay cannot know whether they went out before
    # the replica died, and a second "family money spent" would read as a second charge
    assert not to(redelivered, HH)
    assert balance(chat, householder) == 90_000
    other = chat.press(REL, summary, "确认")  # any other press: only 已处理
    assert [s.kind for s in other] == ["toast"] and "已处理" in other[0].text
    again = chat.press(REL, summary, "确认", update_id=5151)  # done now: dropped
    assert not again


def test_redelivered_bind_press_whose_replica_died_shows_the_outcome(chat: Chat,
                                                                      monkeypatch) -> None:
    me, _ = start_bind(chat)
    summary = chat.buttons_message(HH, "确认")
    first = _dies_before_showing_the_outcome(chat, monkeypatch, summary, 6161)
    assert "已绑定" not in texts(first, HH) and relatives(chat, me) == 1
    redelivered = chat.press(HH, summary, "确认", update_id=6161)
    assert "已绑定" in texts(redelivered, HH) and not to(redelivered, REL)
    assert relatives(chat, me) == 1
