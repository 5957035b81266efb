"""医保钱包 through the real handlers: /wallet, activation with a deleted password message,
/transfer with 确认 and the password, the payee told, spending, /contribute 本人, the lock,
redelivery, and a password never in a reply, a log line or a stored row."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import MetaData

from rules import wallet_secret
from rules.demo import by_name
from tests.bot.conftest import Harness

SON, MOTHER, BROTHER = by_name("刘建华"), by_name("刘桂芳"), by_name("刘建军")
SON_USER, MOTHER_USER, BROTHER_USER = 100_101, 100_102, 100_103
PASSWORD = "135790"
WRONG = "864209"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wallet_secret, "SCRYPT_N", 2 ** 8)


def texts(sent: list) -> str:
    return "\n".join(s.text for s in sent)


def link(h: Harness, user: int, person) -> None:  # type: ignore[no-untyped-def]
    h.send(f":as {user}")
    h.send(f":contact {person.phone}")
    assert "验证成功" in texts(h.send(person.id_number[-4:]))


def activate(h: Harness, user: int, person, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    link(h, user, person)
    assert "确认使用钱包" in [b for s in h.send("/wallet") for row in s.labels() for b in row]
    assert "6位数字" in texts(h.send(":tap 确认使用钱包"))
    assert "已激活" in texts(h.send(password))
    assert h.console.input_deleted()


def transfer(h: Harness, amount: str = "300") -> list:
    h.send(f":as {SON_USER}")
    summary = texts(h.send(f"/transfer {MOTHER.id_number} {MOTHER.name} 母亲 {amount}"))
    assert "刘**" in summary and MOTHER.id_number not in summary
    assert "6位医保钱包密码" in texts(h.send(":tap 确认"))
    return h.send(PASSWORD)


def test_activate_transfer_spend_contribute(harness: Harness) -> None:
    activate(harness, MOTHER_USER, MOTHER)
    activate(harness, SON_USER, SON)
    sent = transfer(harness)
    assert harness.console.input_deleted()
    assert any("已向 刘** 的医保钱包转入 ¥300.00" in s.text for s in sent)
    told = [s for s in sent if s.chat_id == MOTHER_USER]
    assert told and "向您转入 ¥300.00" in told[0].text
    assert "转入亲属医保钱包 -¥300.00" in texts(harness.send("/history"))
    harness.send(f":as {MOTHER_USER}")
    assert "钱包余额：¥300.00" in texts(harness.send("/wallet"))
    receipt = texts(harness.send("/settle 50 门诊"))
    assert "本人医保钱包支付：¥50.00" in receipt and "医保钱包余额：¥250.00" in receipt
    assert "确认缴费" in str([s.labels() for s in harness.send("/contribute 本人 100")])
    assert "钱包余额：¥150.00" in texts(harness.send(":tap 确认缴费"))
    history = texts(harness.send("/history"))
    assert "医保钱包·就医购药" in history and "医保钱包·缴居民医保" in history
    from rules.audit import audit

    assert audit(harness.services.engine) == []


def test_wrong_passwords_then_lock(harness: Harness) -> None:
    activate(harness, MOTHER_USER, MOTHER)
    activate(harness, SON_USER, SON)
    harness.send(f"/transfer {MOTHER.id_number} {MOTHER.name} 母亲 100")
    harness.send(":tap 确认")
    for left in (4, 3, 2, 1):
        assert f"还可以再试{left}次" in texts(harness.send(WRONG))
        assert harness.console.input_deleted()
    assert "[WALLET_LOCKED]" in texts(harness.send(WRONG))
    # the lock ended the password step: digits are an ordinary message again
    assert not harness.console.input_deleted() or "WALLET" not in texts(harness.send("123"))
    assert "[WALLET_LOCKED]" in texts(harness.send(
        f"/transfer {MOTHER.id_number} {MOTHER.name} 母亲 100"))


@pytest.mark.parametrize("who, user, command, code", [
    (BROTHER, BROTHER_USER, "/wallet", "WALLET_NOT_ENABLED"),
    (SON, SON_USER, f"/transfer {MOTHER.id_number} {MOTHER.name} 母亲 100",
     "WALLET_NOT_ACTIVE"),  # the mother has not activated hers
    (SON, SON_USER, f"/transfer {MOTHER.id_number} {MOTHER.name} 婆婆 100",
     "RELATION_NOT_ALLOWED"),
    (MOTHER, MOTHER_USER, "/transfer 1 2 3 4", "NO_PERSONAL_ACCOUNT"),
    (MOTHER, MOTHER_USER, "/contribute 本人 100", "WALLET_NOT_ACTIVE"),
    (SON, SON_USER, "/contribute 本人 100", "NOT_RESIDENT"),
])
def test_wallet_refusals_in_chat(harness: Harness, who, user, command, code) -> None:  # type: ignore[no-untyped-def]
    if code == "RELATION_NOT_ALLOWED" or (code == "WALLET_NOT_ACTIVE" and who is SON):
        activate(harness, user, who)
    else:
        link(harness, user, who)
    assert f"[{code}]" in texts(harness.send(command))


def test_the_payee_province_not_opened(harness: Harness) -> None:
    activate(harness, SON_USER, SON)
    reply = texts(harness.send(f"/transfer {BROTHER.id_number} {BROTHER.name} 弟弟 100"))
    assert "收款亲属参保所在的省份尚未开通" in reply and "[WALLET_NOT_ENABLED]" in reply


def test_no_password_in_any_reply_log_or_row(harness: Harness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    activate(harness, MOTHER_USER, MOTHER)
    activate(harness, SON_USER, SON)
    harness.send(f"/transfer {MOTHER.id_number} {MOTHER.name} 母亲 100")
    harness.send(":tap 确认")
    harness.send(WRONG)
    harness.send(PASSWORD)
    everything = "\n".join(s.text for s in harness.loopback.sent)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, WRONG):
        assert secret not in everything
        assert secret not in logged
    meta = MetaData()
    meta.reflect(harness.services.engine)
    with harness.services.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                line = " ".join(str(v) for v in row)
                assert PASSWORD not in line and WRONG not in line, table.name
    assert len(harness.loopback.deleted) == 4  # two activations, two transfer passwords


def test_digits_without_a_pending_password_are_ordinary_text(harness: Harness) -> None:
    link(harness, MOTHER_USER, MOTHER)
    harness.send("123456")
    assert not harness.console.input_deleted()


def test_wallet_answers_are_personal_where_the_asker_is_known(harness: Harness) -> None:
    activate(harness, MOTHER_USER, MOTHER)
    harness.send(f":as {MOTHER_USER}")
    answer = texts(harness.send("医保钱包是什么"))
    assert "您所在的四川省已开通医保钱包" in answer
    activate(harness, SON_USER, SON)
    transfer(harness)
    answer = texts(harness.send("怎么开通医保钱包？"))
    assert "您所在的江苏省已开通医保钱包；您的家人在四川省，也已开通。" in answer
    link(harness, BROTHER_USER, BROTHER)
    assert "您所在的广东省尚未开通医保钱包" in texts(harness.send("医保钱包是什么"))
