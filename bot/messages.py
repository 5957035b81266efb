"""Every user-facing refusal text, one per reason code, in one place.

A refusal always ends with its code in square brackets so ``/why CODE`` can explain it.
Templates may use the facts of the Decision (``str.format`` fields); missing facts fall
back to the plain text.
"""

from __future__ import annotations

from typing import Any

from rules.codes import Reason

# Variants chosen by a fact of the Decision (binding): (code, fact) → text.
FACT_TEXT: dict[tuple[Reason, str], str] = {
    # /bind tells a householder no more than this about a stranger (no "no such ID" vs
    # "wrong name", nothing about insurance, province or family before both match).
    (Reason.UNKNOWN_PERSON, "stranger"): "身份证号与姓名不匹配任何可以绑定的参保人员，请核对。",
    (Reason.TOO_MANY_ATTEMPTS, "bind"): "绑定亲属时身份证号或姓名不匹配的次数过多，请1小时后再试。",
    # linking: this person's own budget (from any accounts) is used up, for a day by default
    (Reason.TOO_MANY_ATTEMPTS, "person_locked"): (
        "针对这位参保人的身份验证失败次数过多，为保护其账户已暂停验证（默认24小时），请稍后再试。"),
    (Reason.RELATIVE_ALREADY_BOUND, "spouse_elsewhere"): ("对方已是他人的配偶，"
                                                        "一个人只能有一位配偶。"),
    (Reason.RELATION_NOT_ALLOWED, "spouse_elsewhere"): ("您已有一位配偶（您绑定的或绑定您的），"
                                                      "一个人只能有一位配偶。"),
    (Reason.RELATION_NOT_ALLOWED, "transfer"): (
        "医保钱包只能转给近亲属：配偶、父母、子女、兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女。"),
    (Reason.WALLET_NOT_ENABLED, "payee"): (
        "收款亲属参保所在的省份尚未开通医保钱包，暂时不能向其转账。"),
    (Reason.WALLET_NOT_ACTIVE, "payee"): (
        "收款亲属还没有激活医保钱包，请让对方先发送 /wallet 激活。"),
    (Reason.WALLET_PASSWORD_WRONG, "shape"): "钱包密码须为6位数字，请重新输入。",
    (Reason.NOT_RESIDENT, "wallet"): (
        "医保钱包只能缴纳持有人本人的城乡居民医保费，您参加的不是居民医保。"),
}

REASON_TEXT: dict[Reason, str] = {
    Reason.INVALID_ID: "身份证号格式不正确或校验位不对，请核对18位身份证号。",
    Reason.UNKNOWN_PERSON: "没有找到相符的参保人员，请核对。",
    Reason.NAME_MISMATCH: "姓名与身份证号不一致，请核对。",
    Reason.NOT_LINKED: "您还没有绑定身份，请先发送 /start 完成身份验证。",
    Reason.CONTACT_NOT_OWN: ("请分享您本人的手机号（点击“分享我的手机号”按钮），"
                             "不能转发他人的名片。"),
    Reason.PHONE_NOT_FOUND: "这个手机号没有对应的参保人员，请使用参保登记时留的手机号。",
    Reason.VERIFY_FAILED: "身份证号后4位不正确，请重新输入。",
    Reason.TOO_MANY_ATTEMPTS: "验证失败次数过多，请1小时后再试。",
    Reason.PRIVATE_ONLY: "为保护隐私，账户操作只能在与我的私聊中进行。",
    Reason.FORBIDDEN: "您没有权限进行这个操作。",
    Reason.NO_PERSONAL_ACCOUNT: ("只有参加职工医保并有个人账户的人员才能开通家庭共济"
                                 "（例如在海南，未退休的灵活就业人员没有个人账户；"
                                 "其他地区以参保地规定为准）。"),
    Reason.ACCOUNT_NOT_OPEN: "您还没有开通家庭共济账户，请先发送 /open 阅读并同意承诺书。",
    Reason.NOT_INSURED: "对方没有参加基本医疗保险，不能绑定为共济亲属。",
    Reason.UNKNOWN_RELATION: ("没有识别出亲属关系，请用：配偶、父母、子女、配偶父母、"
                              "兄弟姐妹、祖父母、外祖父母、孙子女、外孙子女。"),
    Reason.RELATION_NOT_ALLOWED: "您所在地区的政策不允许绑定这种关系的亲属。",
    Reason.SELF_BINDING: "不能绑定您自己。",
    Reason.OUT_OF_SCOPE: "对方的参保地不在允许的范围内（需同省参保）。",
    Reason.MAX_RELATIVES: "您绑定的亲属已达到本地区上限。",
    Reason.ALREADY_BOUND: "您已经绑定过这位亲属了。",
    Reason.RELATIVE_ALREADY_BOUND: "该亲属已被其他户主绑定。",
    Reason.RELATIVE_IS_HOUSEHOLDER: "该亲属自己已作为户主绑定了亲属，不能再被绑定。",
    Reason.HOUSEHOLDER_IS_BOUND: "您已是他人的共济亲属，不能再绑定别人。",
    Reason.NOT_BOUND: "没有找到这条绑定关系。",
    Reason.INVALID_AMOUNT: "金额不正确：请输入大于0、最多两位小数的金额，例如 120 或 120.50。",
    Reason.INSUFFICIENT_BALANCE: "个人账户余额不足。",
    Reason.FAMILY_FUNDS_INSUFFICIENT: "户主的个人账户余额不足以支付。",
    Reason.LIMIT_EXCEEDED: "超出了户主为您设置的累计使用限额。",
    Reason.PURPOSE_NOT_ALLOWED: "本地区家庭共济资金不能用于这项支出。",
    Reason.ORDER_NOT_SUPPORTED: "您所在地区不支持设置共济扣款顺序。",
    Reason.NOT_RESIDENT: "只能为参加城乡居民医保的亲属代缴居民医保费。",
    # No fixed duration: the TTL is configurable (confirmation_ttl_seconds); see refusal().
    Reason.EXPIRED: "这个确认按钮已过有效时间，请重新发起操作。",
    Reason.PLAN_CHANGED: "确认时账户情况已和摘要不同（余额、限额、绑定或付款顺序有变），"
                         "这次没有扣任何钱。",
    Reason.INVALID_MONTH: "月度划入只能为本月或上月（北京时间）执行，月份格式为 YYYY-MM。",
    Reason.WALLET_NOT_ENABLED: "您参保所在的省份尚未开通医保钱包（已开通：河北、江苏、安徽、山东、"
                               "河南、湖北、重庆、四川、甘肃），暂时不能使用。",
    Reason.WALLET_NOT_ACTIVE: "您还没有激活医保钱包：发送 /wallet，点“确认使用钱包”并设置6位密码。",
    Reason.WALLET_PASSWORD_WRONG: "钱包密码不正确。",
    Reason.WALLET_LOCKED: "1小时内钱包密码错误已达5次，钱包已锁定，请1小时后再试。",
    Reason.TRANSFER_LIMIT_EXCEEDED: "超过了医保钱包的单笔或当日转账上限。",
}

EXPIRED_AFTER = "这个确认按钮已超过{duration}的有效时间，请重新发起操作。"

# The Dongying prompt, restated from [001]: a re-swipe within the window uses family money.
RETRY_PROMPT = "您存在有效的家庭共济绑定关系，{minutes}分钟内再次刷卡，可以走家庭共济消费。"


def refusal(code: Reason | str, facts: dict[str, Any] | None = None) -> str:
    """The Chinese message for a refusal, ending with ``[CODE]``."""
    reason = Reason(code)
    text = next((t for (r, fact), t in FACT_TEXT.items()
                 if r is reason and (facts or {}).get(fact)), REASON_TEXT[reason])
    figure = _figures(reason, facts or {})
    if figure:  # "……余额不足（余额 ¥30.00，本次需 ¥100.00）。"
        text = text.removesuffix("。") + figure + "。"
    if reason is Reason.INSUFFICIENT_BALANCE and facts and facts.get("retry_window_seconds"):
        minutes = max(1, int(facts["retry_window_seconds"]) // 60)
        text += RETRY_PROMPT.format(minutes=minutes)
    if reason is Reason.EXPIRED and facts and facts.get("ttl_seconds"):
        text = EXPIRED_AFTER.format(duration=duration(int(facts["ttl_seconds"])))
    if reason is Reason.WALLET_PASSWORD_WRONG and facts and facts.get("remaining"):
        text += f"还可以再试{int(facts['remaining'])}次。"
    if reason is Reason.INVALID_MONTH and facts and facts.get("allowed"):
        text += "现在可以划入：" + "、".join(str(m) for m in facts["allowed"]) + "。"
    return f"{text}[{reason.value}]"


def _figures(reason: Reason, facts: dict[str, Any]) -> str:
    """The money figure that matters to a refusal about money: what is left, what is needed."""
    def yuan(key: str) -> str:
        return f"¥{int(facts[key]) / 100:,.2f}"
    if reason is Reason.INSUFFICIENT_BALANCE and "balance_fen" in facts and "amount_fen" in facts:
        return f"（余额 {yuan('balance_fen')}，本次需 {yuan('amount_fen')}）"
    if reason is Reason.LIMIT_EXCEEDED and "remaining_fen" in facts and "amount_fen" in facts:
        return f"（剩余可用 {yuan('remaining_fen')}，本次需 {yuan('amount_fen')}）"
    if reason is Reason.FAMILY_FUNDS_INSUFFICIENT and "amount_fen" in facts:
        return f"（本次需 {yuan('amount_fen')}）"
    return ""


def refused_text(code: Reason | str, facts: dict[str, Any] | None = None, *,
                 fresh: str = "新的摘要已发给您，请核对后再确认。") -> str:
    """A refused Decision's text. ``PLAN_CHANGED`` (nothing was charged) also says why: the
    fresh plan's own refusal (fact ``refusal``), or that the ``fresh`` summary follows."""
    reason = Reason(code)
    if reason is not Reason.PLAN_CHANGED:
        return refusal(reason, facts)
    inner = (facts or {}).get("refusal")
    if inner and inner.get("code"):
        return refusal(reason) + "\n" + refusal(inner["code"], inner.get("facts") or {})
    return refusal(reason) + "\n" + fresh


def duration(seconds: int) -> str:
    """``600`` → ``10分钟``, ``90`` → ``90秒``: never rounds a window up or down."""
    return f"{seconds // 60}分钟" if seconds >= 60 and seconds % 60 == 0 else f"{seconds}秒"
