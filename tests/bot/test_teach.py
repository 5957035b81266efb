"""Staff turn unanswered questions into knowledge: /unanswered numbers them, /teach makes one a
phrasing of an entry, and every replica answers it from then on."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import main
from bot.learned import REFRESH_SECONDS
from bot.settings import load_settings
from bot.state import LearnedPhrasing, UnansweredQuestion
from knowledge.evaluation import load_eval_set
from rules.schema import Note
from tests.bot.conftest import STAFF, Harness, write_config

QUESTION = "绑定以后能打印凭证吗"      # falls back with the YAML knowledge base alone
ENTRY = "records_usage_where"


def ask_unanswered(harness: Harness, question: str = QUESTION) -> int:
    """A user asks something the KB cannot answer; the id staff see for it."""
    harness.send(":as 100001")
    [reply] = harness.send(question)
    assert "已记录" in reply.text
    with harness.services.sessions() as s:
        return int(s.scalar(select(func.max(UnansweredQuestion.id))) or 0)


def taught_rows(harness: Harness) -> list[tuple[str, str, int]]:
    with harness.services.sessions() as s:
        return [tuple(r) for r in s.execute(select(
            LearnedPhrasing.entry_id, LearnedPhrasing.question, LearnedPhrasing.taught_by))]


def test_a_taught_question_is_answered_and_leaves_the_list(harness: Harness) -> None:
    number = ask_unanswered(harness)
    harness.send(f":as {STAFF}")
    [listing] = harness.send("/unanswered")
    assert f"#{number} " in listing.text and QUESTION in listing.text and "/teach" in listing.text
    [done] = harness.send(f"/teach {number} {ENTRY}")
    assert done.text.startswith("✅") and f"直接回答条目 {ENTRY}" in done.text
    assert taught_rows(harness) == [(ENTRY, QUESTION, STAFF)]
    [listing] = harness.send("/unanswered")
    assert QUESTION not in listing.text
    harness.send(":as 100001")
    [answer] = harness.send(QUESTION)
    expected = harness.services.kb.entry(ENTRY)
    assert expected is not None and answer.text == expected.answer.strip()
    with harness.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Note)
                        .where(Note.action == "staff_teach")) == 1


def test_teaching_twice_changes_nothing(harness: Harness) -> None:
    number = ask_unanswered(harness)
    harness.send(f":as {STAFF}")
    harness.send(f"/teach #{number} {ENTRY}")
    wide = str(number).translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    [again] = harness.send(f"/teach ＃{wide} binding_unbind")  # full-width, as phones type it
    assert "已经是条目 records_usage_where 的问法" in again.text
    assert taught_rows(harness) == [(ENTRY, QUESTION, STAFF)]


@pytest.mark.parametrize("args, expected", [
    ("", "用法：/teach"), ("abc binding_unbind", "用法：/teach"), ("＃", "用法：/teach"),
    ("1 binding_unbind extra", "用法：/teach"), ("99999 binding_unbind", "没有编号为 #99999"),
    ("1 no_such_entry", "没有条目ID no_such_entry"),
])
def test_bad_teach_input_is_explained(harness: Harness, args: str, expected: str) -> None:
    ask_unanswered(harness)
    harness.send(f":as {STAFF}")
    [reply] = harness.send(f"/teach {args}".strip())
    assert expected in reply.text
    assert taught_rows(harness) == []


def test_teach_and_the_list_are_staff_only_and_private(harness: Harness) -> None:
    number = ask_unanswered(harness)
    [refused] = harness.send(f"/teach {number} {ENTRY}")
    assert refused.text.endswith("[FORBIDDEN]")
    harness.send(f":as {STAFF}")
    harness.send(":group -100777")
    for command in (f"/teach {number} {ENTRY}", "/unanswered"):
        [refused] = harness.send(command)
        assert refused.text.endswith("[PRIVATE_ONLY]") and QUESTION not in refused.text
    assert taught_rows(harness) == []


def test_another_replica_answers_it_within_the_refresh_window(db_url: str,
                                                              tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, db_url))
    first, second = Harness(settings), Harness(settings)
    # Telegram gives each update its own id, whichever replica it reaches
    second.console._updates = itertools.count(1_000_000)
    try:
        number = ask_unanswered(second)
        first.send(f":as {STAFF}")
        [done] = first.send(f"/teach {number} {ENTRY}")
        assert done.text.startswith("✅")
        second.send(f":sleep {REFRESH_SECONDS + 1:.0f}")
        [answer] = second.send(QUESTION)
        assert "已记录" not in answer.text and "凭证" not in answer.text
        assert second.services.knowledge_version == first.services.knowledge_version > 0
        third = Harness(settings)  # a replica started later reads the taught questions at once
        third.console._updates = itertools.count(2_000_000)
        try:
            [answer] = third.send(QUESTION)
            assert "已记录" not in answer.text
        finally:
            third.close()
    finally:
        first.close()
        second.close()


def test_taught_questions_export_as_a_set_fold_dev_reads(db_url: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    config = write_config(tmp_path, db_url)
    harness = Harness(load_settings(config))
    try:
        number = ask_unanswered(harness)
        harness.send(f":as {STAFF}")
        harness.send(f"/teach {number} {ENTRY}")
    finally:
        harness.close()
    capsys.readouterr()
    assert main(["kb", "taught", "--config", str(config)]) == 0
    exported = tmp_path / "taught.yaml"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")
    assert load_eval_set(exported) == ([(QUESTION, ENTRY)], [])
    # `ask` answers from the YAML alone, unless told to read what staff taught
    assert main(["ask", "--json", "--config", str(config), QUESTION]) == 0
    assert '"entry": null' in capsys.readouterr().out
    assert main(["ask", "--json", "--taught", "--config", str(config), QUESTION]) == 0
    assert f'"entry": "{ENTRY}"' in capsys.readouterr().out


def test_two_replicas_teaching_the_same_question_at_once_store_it_once(db_url: str,
                                                                       tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot import learned

    settings = load_settings(write_config(tmp_path, db_url))
    first, second = Harness(settings), Harness(settings)
    try:
        number = ask_unanswered(first)
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda svc: learned.teach(svc, number, ENTRY, STAFF),
                                 [first.services, second.services]))
        assert sorted(d.outcome for d in done) == ["already", "taught"]
        assert taught_rows(first) == [(ENTRY, QUESTION, STAFF)]
    finally:
        first.close()
        second.close()
