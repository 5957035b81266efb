"""Questions in chat: answers with buttons, did-you-mean, fallback, /ask, /why, feedback,
personalised answers, deep links, inline mode and the staff reports."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.state import Feedback, UnansweredQuestion
from rules.schema import Note
from tests.bot.conftest import HOLDER, JINAN, STAFF, WIFE, link_script

USER = 500001


def test_answer_has_related_and_feedback_buttons(console_run):
    [turn] = console_run("东营最多能绑几个\n")
    assert "7" in turn.all_text and not turn.codes
    labels = turn.buttons()
    assert "👍 有帮助" in labels and "👎 没帮助" in labels and len(labels) >= 3


def test_feedback_is_stored(harness):
    harness.send("东营最多能绑几个")
    sent = harness.send(":tap 👍")
    assert sent[0].text.startswith("谢谢反馈")
    with harness.services.sessions() as s:
        assert s.execute(select(Feedback.entry_id, Feedback.helpful)).all() == [
            ("binding_max_dongying", True)]
    harness.send(":tap 👎")  # changing one's mind replaces the vote
    harness.send(":as 500002")
    harness.send("东营最多能绑几个")
    harness.send(":tap 👍")
    with harness.services.sessions() as s:
        rows = s.execute(select(Feedback.user_id, Feedback.helpful).order_by(Feedback.id)).all()
    assert rows == [(100001, False), (500002, True)]


def test_feedback_on_an_unknown_entry_is_not_stored(harness):
    from bot.loopback import Button, Sent

    fake = Sent(100001, 1, "旧消息", [[Button("👍", "fb:no_such_entry:1")]])
    harness.loop.run_until_complete(harness.console._press(fake, "fb:no_such_entry:1"))
    with harness.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 0


def test_related_buttons_offer_no_other_regions_or_places_rules(console_run):
    """lapse_general lists Ji'an's and Hangzhou's lapse entries as related: a Dongying asker is
    offered neither (an asker who names no place is offered them, labelled with their place)."""
    [turn] = console_run("东营医保断交一个月还能用吗\n")
    assert "各地规定不一样" in turn.all_text
    labels = "".join(turn.buttons())
    assert "吉安" not in labels and "杭州" not in labels and "断缴" in labels
    [turn] = console_run("断交三个月咋样\n")
    assert "吉安" in "".join(turn.buttons())


def test_related_button_opens_that_entry(console_run):
    turns = console_run("东营最多能绑几个\n:tap 解除\n")
    assert turns[1].all_text.startswith("问：") and "解除" in turns[1].all_text


VAGUE = ["限额怎么", "绑定", "共济", "家人", "我想问下那个共济的钱", "绑定 亲属 多少", "钱",
         "怎么办理"]


def test_did_you_mean_offers_buttons_that_answer(console_run, harness):
    matcher = harness.services.matcher
    vague = next(q for q in VAGUE if matcher.ask(q).kind == "suggest")
    turns = console_run(f"{vague}\n:tap\n")
    assert "您是不是想问" in turns[0].all_text and len(turns[0].buttons()) >= 2
    assert turns[1].all_text.startswith("问：") and "👍 有帮助" in turns[1].buttons()


def test_fallback_is_honest_and_stores_the_question_redacted(harness):
    question = f"asdfgh qwerty {HOLDER.id_number} {HOLDER.phone}"
    [sent] = harness.send(question)
    assert "医保服务热线 12393" in sent.text and "已记录" in sent.text
    with harness.services.sessions() as s:
        [stored] = s.scalars(select(UnansweredQuestion.question)).all()
    assert HOLDER.id_number not in stored and HOLDER.phone not in stored
    assert HOLDER.id_number[-4:] in stored and "****" in stored


def test_greeting_gets_a_short_reply(console_run):
    [turn] = console_run("你好\n")
    assert 0 < len(turn.all_text) < 200 and not turn.buttons()


def test_ask_without_question_explains_usage(console_run):
    turns = console_run("/ask\n:group -9\n/ask   \n")
    assert "用法" in turns[0].all_text and "用法" in turns[2].all_text


def test_why_explains_each_code_from_the_knowledge_base(console_run):
    turns = console_run("/why RELATIVE_ALREADY_BOUND\n/why [not_linked]\n/why NOPE\n/why\n")
    assert "其他户主" in turns[0].all_text or "已被" in turns[0].all_text
    assert turns[0].all_text.startswith("问：") and turns[1].all_text.startswith("问：")
    assert "用法" in turns[2].all_text and "用法" in turns[3].all_text


def test_why_button_on_a_refusal(console_run):
    turns = console_run("/balance\n:tap 为什么\n")
    assert turns[0].codes == ["NOT_LINKED"]
    assert turns[1].all_text.startswith("问：") and "/start" in turns[1].all_text


def test_every_reason_code_has_an_explanation(harness):
    from rules.codes import ALL_CODES

    for code in ALL_CODES:
        [sent, *_] = harness.send(f"/why {code}")
        assert sent.text.startswith("问："), code


def test_personalised_answer_counts_the_askers_relatives(harness):
    for line in link_script(HOLDER, USER).splitlines():
        harness.send(line)
    family = harness.services.family
    holder = family.find_person(HOLDER.id_number).facts["person"]
    assert family.open_account(holder.id, letter_version="t", letter_sha256="0" * 64, key="t:o").ok
    for person, relation, key in ((WIFE, "配偶", "t:1"), (by("张德福"), "父亲", "t:2")):
        assert family.bind(holder.id, person.id_number, person.name, relation, key=key).ok
    [sent, *_] = harness.send("东营最多能绑几个")
    assert sent.text.startswith("您已绑定2位亲属。\n政策：东营市最多可绑定7人，您还可以绑定5人。")
    assert "详细说明：\n东营规定" in sent.text  # the figures first, then the entry


def by(name):
    from rules.demo import by_name

    return by_name(name)


def test_personalised_answer_in_a_region_without_a_maximum(console_run):
    turns = console_run(link_script(JINAN, USER)
                        + "最多能绑几个人\n:group -3\n/ask 最多能绑几个人\n")
    assert turns[-3].all_text.startswith("您已绑定0位亲属。\n政策：济南市没有规定绑定人数上限")
    assert turns[-1].replies and "您已绑定" not in turns[-1].all_text  # not in front of a group


def test_anonymous_askers_get_the_plain_answer(console_run):
    [turn] = console_run("东营最多能绑几个\n")
    assert "您已绑定" not in turn.all_text


def test_deep_link_opens_the_entry(console_run):
    turns = console_run("/start faq_binding_max_dongying\n/start faq_no_such_entry\n")
    assert turns[0].all_text.startswith("问：") and "7" in turns[0].all_text
    assert "没有找到" in turns[1].all_text


def test_ask_works_in_groups_and_buttons_answer_there(console_run):
    turns = console_run(":group -321\n/ask 东营最多能绑几个\n:tap 解除\n")
    assert turns[1].replies[0]["to"] == -321 and "7" in turns[1].all_text
    assert turns[2].replies and turns[2].replies[0]["to"] == -321


def test_inline_mode_offers_answers(harness):
    sent = harness.send(":inline 东营最多能绑几个")
    assert sent and sent[0].kind == "inline" and "7" in sent[0].text
    assert [c for c, _ in harness.loopback.calls if c == "answerInlineQuery"]
    assert harness.send(":inline ") == []  # empty query: an empty answer, nothing shown


def test_inline_mode_passes_on_the_referral_for_a_neighbouring_topic(harness):
    sent = harness.send(":inline 住院报销比例是多少啊")
    assert len(sent) == 1 and sent[0].kind == "inline"
    assert "不属于医保个人账户家庭共济" in sent[0].text and "医保服务热线 12393" in sent[0].text


def test_staff_reports_are_staff_only_and_audited(harness):
    for command in ("/unanswered", "/stats"):
        [refused] = harness.send(command)
        assert refused.text.endswith("[FORBIDDEN]")
    harness.send(f"asdfgh {HOLDER.phone}")
    harness.send("东营最多能绑几个")
    harness.send(":tap 👍")
    harness.send(f":as {STAFF}")
    [report] = harness.send("/unanswered")
    assert "asdfgh" in report.text and HOLDER.phone not in report.text
    [stats, chart] = harness.send("/stats")
    assert chart.text.startswith("[图片：") and "提问 " in chart.text  # the per-day chart
    assert "参保人：" in stats.text and "👍 1" in stats.text and "已回答的问题" in stats.text
    with harness.services.sessions() as s:
        notes = s.scalar(select(func.count()).select_from(Note).where(Note.action.like("staff_%")))
    assert notes == 2


def test_linking_refreshes_what_the_bot_knows_about_the_asker(console_run):
    turns = console_run(f":as {USER}\n东营最多能绑几个\n"
                        + link_script(HOLDER, USER)[len(f":as {USER}\n"):]
                        + "东营最多能绑几个\n")
    assert "您已绑定" not in turns[1].all_text
    assert turns[-1].all_text.startswith("您已绑定0位亲属。\n政策：东营市最多可绑定7人")


def test_neighbouring_topic_is_referred_and_kept_for_staff(harness):
    [reply] = harness.send("住院报销比例是多少啊")
    assert "不属于医保个人账户家庭共济" in reply.text and "医保服务热线 12393" in reply.text
    assert "您是不是想问" not in reply.text
    harness.send(f":as {STAFF}")
    [report] = harness.send("/unanswered")
    assert "住院报销比例是多少啊" in report.text and "oos_reimbursement" in report.text
