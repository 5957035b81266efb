"""``python -m bot ask``: plain and --json output, stdin mode, odd input, cold start imports."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.ask_cli import run_ask
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
KEYS = {"question", "entry", "score", "answer", "suggestions"}


def _run(question: list[str], *, as_json: bool = False, stdin: str = "",
         region: str | None = None) -> tuple[int, str]:
    args = argparse.Namespace(question=question, json=as_json, region=region, config=None)
    out = io.StringIO()
    code = run_ask(Settings(), args, stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue()


def _check_schema(obj: dict) -> None:
    assert set(obj) == KEYS
    assert isinstance(obj["question"], str) and isinstance(obj["answer"], str) and obj["answer"]
    assert obj["entry"] is None or isinstance(obj["entry"], str)
    assert isinstance(obj["score"], (int, float)) and 0 <= obj["score"] <= 100
    for s in obj["suggestions"]:
        assert set(s) == {"entry", "question", "score"}
        assert isinstance(s["entry"], str) and isinstance(s["question"], str)
        assert isinstance(s["score"], (int, float))


def test_plain_answer() -> None:
    code, out = _run(["谁绑定了我"])
    assert code == 0
    assert out.startswith("问：谁绑定了我\n答：")
    assert "binding_who_bound_me" in out


def test_json_answer() -> None:
    code, out = _run(["谁绑定了我"], as_json=True)
    obj = json.loads(out)
    _check_schema(obj)
    assert obj["entry"] == "binding_who_bound_me" and obj["suggestions"] == []


def test_json_fallback_has_null_entry() -> None:
    obj = json.loads(_run(["今天天气怎么样"], as_json=True)[1])
    _check_schema(obj)
    assert obj["entry"] is None and "医保服务热线 12393" in obj["answer"]


def test_neighbouring_topic_is_a_fallback_naming_the_topic() -> None:
    obj = json.loads(_run(["住院报销比例是多少啊"], as_json=True)[1])
    _check_schema(obj)
    assert obj["entry"] is None and obj["suggestions"] == []
    assert "不属于医保个人账户家庭共济" in obj["answer"] and "医保服务热线 12393" in obj["answer"]
    code, out = _run(["住院报销比例是多少啊"])
    assert code == 0 and "（不在知识库范围：oos_reimbursement，匹配度" in out


def test_words_are_joined_into_one_question() -> None:
    obj = json.loads(_run(["怎么", "解绑"], as_json=True)[1])
    assert obj["question"] == "怎么 解绑"


def test_stdin_one_question_per_line() -> None:
    code, out = _run([], as_json=True, stdin="你好\n\n怎么解绑家人\n公积金怎么提取\n")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 3            # the blank line is not a question
    for obj in lines:
        _check_schema(obj)
    assert [o["question"] for o in lines] == ["你好", "怎么解绑家人", "公积金怎么提取"]
    assert lines[0]["entry"] is None and lines[2]["entry"] is None


def test_stdin_plain_mode_separates_answers() -> None:
    out = _run([], stdin="谢谢\n谁绑定了我\n")[1]
    assert out.count("问：") == 2 and "\n\n问：" in out


def test_unknown_region_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["怎么绑定"], region="mars")
    assert code == 2 and out == ""
    assert "mars" in capsys.readouterr().err


@pytest.mark.parametrize("junk", ["", "绑" * 200_000, "\udcff\x00\x1b[31m", "🙂🙂🙂"])
def test_odd_questions_never_crash(junk: str) -> None:
    code, out = _run([junk], as_json=True)
    assert code == 0
    _check_schema(json.loads(out))


def test_subprocess_binary_stdin_and_no_heavy_imports() -> None:
    code = ("import sys, runpy; sys.argv = ['bot', 'ask', '--json']; "
            "rc = 0\n"
            "try:\n    runpy.run_module('bot', run_name='__main__')\n"
            "except SystemExit as e:\n    rc = e.code or 0\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('telegram', 'sqlalchemy')]\n"
            "print('HEAVY', bad, file=sys.stderr); sys.exit(rc)")
    junk = b"\xff\xfe\x00junk\n\xe4\xbd\xa0\xe5\xa5\xbd\n"
    result = subprocess.run([sys.executable, "-c", code], input=junk, capture_output=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode("utf-8").splitlines()
    assert len(lines) == 2
    for line in lines:
        _check_schema(json.loads(line))
    assert "HEAVY []" in result.stderr.decode()
