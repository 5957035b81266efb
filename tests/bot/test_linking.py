"""Linking per the contract: own contact → phone match → last 4 of the ID number."""

from __future__ import annotations

from tests.bot.conftest import FATHER, HOLDER, link_script

USER, OTHER = 200001, 200002
TAIL = HOLDER.id_number[-4:]
WRONG = "0000" if TAIL != "0000" else "1111"


def test_start_offers_the_share_contact_button(console_run):
    [turn] = console_run(f":as {USER}\n/start\n")[1:]
    assert any("分享我的手机号" in label for label in turn.buttons())
    assert turn.codes == []


def test_full_link_then_me_shows_masked_identity(console_run):
    turns = console_run(link_script(HOLDER, USER) + "/me\n")
    contact, tail, me = turns[2], turns[3], turns[4]
    assert "后4位" in contact.all_text
    assert "验证成功" in tail.all_text and HOLDER.name in tail.all_text
    masked = HOLDER.id_number[:4] + "*" * 10 + HOLDER.id_number[-4:]
    assert masked in me.all_text
    assert HOLDER.id_number not in me.all_text and HOLDER.phone not in me.all_text
    assert HOLDER.phone[:3] + "****" + HOLDER.phone[-4:] in me.all_text
    assert "未开通" in me.all_text  # no family account yet


def test_contact_of_someone_else_is_refused(console_run):
    turns = console_run(f":as {USER}\n:contact-of {OTHER} {HOLDER.phone}\n{TAIL}\n/me\n")
    assert turns[1].codes == ["CONTACT_NOT_OWN"]
    assert "为什么?" in turns[1].buttons()
    assert turns[3].codes == ["NOT_LINKED"]  # the tail was never asked for


def test_unknown_or_malformed_phone(console_run):
    turns = console_run(f":as {USER}\n:contact 13000000000\n:contact 12345\n")
    assert turns[1].codes == ["PHONE_NOT_FOUND"]
    assert turns[2].codes == ["PHONE_NOT_FOUND"]


def test_phone_is_normalised(console_run):
    spaced = f"+86 {HOLDER.phone[:3]}-{HOLDER.phone[3:7]}-{HOLDER.phone[7:]}"
    turns = console_run(f":as {USER}\n:contact {spaced}\n{TAIL}\n")
    assert "验证成功" in turns[2].all_text


def test_wrong_tail_then_right_tail(console_run):
    turns = console_run(f":as {USER}\n:contact {HOLDER.phone}\n{WRONG}\n{TAIL.lower()}\n")
    assert turns[2].codes == ["VERIFY_FAILED"] and "4次" in turns[2].all_text
    assert "验证成功" in turns[3].all_text


def test_five_failures_lock_for_an_hour(console_run):
    script = f":as {USER}\n:contact {HOLDER.phone}\n" + f"{WRONG}\n" * 5
    script += f"{TAIL}\n/start\n:contact {HOLDER.phone}\n:sleep 3601\n{TAIL}\n"
    turns = console_run(script)
    fails = [t.codes for t in turns[2:7]]
    assert fails == [["VERIFY_FAILED"]] * 4 + [["TOO_MANY_ATTEMPTS"]]
    assert turns[7].codes == ["TOO_MANY_ATTEMPTS"]  # right tail, still locked
    assert turns[8].codes == ["TOO_MANY_ATTEMPTS"]  # /start
    assert turns[9].codes == ["TOO_MANY_ATTEMPTS"]  # a new contact
    assert "验证成功" in turns[11].all_text  # an hour later the pending link continues


def test_person_linked_to_another_user_is_refused(console_run):
    turns = console_run(link_script(HOLDER, USER) + link_script(HOLDER, OTHER))
    second_contact = turns[6]
    assert second_contact.codes == ["FORBIDDEN"]
    assert "另一个" in second_contact.all_text


def test_unlink_frees_the_person_for_a_new_account(console_run):
    script = link_script(HOLDER, USER) + "/unlink\n/me\n" + link_script(HOLDER, OTHER)
    turns = console_run(script)
    assert "已解除" in turns[4].all_text
    assert turns[5].codes == ["NOT_LINKED"]
    assert "验证成功" in turns[-1].all_text


def test_one_user_one_person_relinks_to_the_new_person(console_run):
    turns = console_run(link_script(HOLDER, USER) + link_script(FATHER, USER)[len(f":as {USER}\n"):]
                        + "/me\n")
    assert FATHER.name in turns[-1].all_text and HOLDER.name not in turns[-1].all_text


def test_linking_is_private_only(console_run):
    turns = console_run(f":as {USER}\n:group -5001\n/start\n:contact {HOLDER.phone}\n")
    assert turns[2].codes == ["PRIVATE_ONLY"] and turns[2].replies[0]["to"] == -5001
    assert turns[3].codes == ["PRIVATE_ONLY"]


def test_cancel_forgets_the_pending_step(console_run):
    turns = console_run(f":as {USER}\n:contact {HOLDER.phone}\n/cancel\n{WRONG}\n")
    assert "已取消" in turns[2].all_text
    assert "VERIFY_FAILED" not in turns[3].codes


def test_state_survives_a_restart(console_run):
    """Another process (replica) continues the exchange from the database."""
    console_run(f":as {USER}\n:contact {HOLDER.phone}\n")
    turns = console_run(f":as {USER}\n{TAIL}\n/me\n")
    assert "验证成功" in turns[1].all_text
    assert HOLDER.name in turns[2].all_text


def test_a_sentence_while_pending_is_a_question_not_a_try(console_run):
    turns = console_run(f":as {USER}\n:contact {HOLDER.phone}\n家庭共济能绑定哪些亲属？\n{TAIL}\n")
    assert turns[2].codes == []
    assert "验证成功" in turns[3].all_text
