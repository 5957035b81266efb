"""Views and decisions rendered as Chinese text (non-refusal templates; refusals: bot.messages).

Inside one family (a householder and the relatives they bound) names are shown in full
(``member``); anyone else is masked (``who``: 张**). ID numbers and phones are always masked
(3701**********1234); amounts always go through ``format_fen`` (exactly two decimals).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot import commands
from rules.identity import mask_id, mask_name, mask_phone, redact  # noqa: F401 (re-exported)
from rules.money import format_fen

USAGE = commands.USAGE  # usage texts live in the command catalog

SCHEME = {"employee": "职工医保", "resident": "居民医保", "none": "未参保"}
EMPLOYMENT = {"employed": "在职", "flexible": "灵活就业", "retired": "退休"}
STATUS = {"active": "正常参保", "lapsed": "断缴"}
LEDGER_KIND = {
    "credit": "月度划入", "settle_own": "本人结算", "settle_family": "家庭共济支付",
    "contribute": "代缴居民医保", "opening": "期初余额",
    "wallet_transfer_out": "转入亲属医保钱包", "wallet_in": "医保钱包·转入",
    "wallet_settle": "医保钱包·就医购药", "wallet_contribute": "医保钱包·缴居民医保",
}


def yuan(fen: int | None) -> str:
    """An amount for users; ``None`` means no limit."""
    return "不限" if fen is None else format_fen(fen)


def signed(fen: int) -> str:
    """``+¥12.00`` / ``-¥3.50`` for ledger rows."""
    return ("+" if fen >= 0 else "") + format_fen(fen)


def who(name: str, id_number: str) -> str:
    """Someone else, masked: ``张** (3701**********1234)``."""
    return f"{mask_name(name)}（{mask_id(id_number)}）"


def member(name: str, id_number: str) -> str:
    """Someone in the reader's own family: full name, masked ID ``张三（3701**********1234）``."""
    return f"{name}（{mask_id(id_number)}）"


def attr(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present attribute or key among ``names`` (views or fact dicts)."""
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def relation_name(policies: Any, relation: str | None) -> str:
    return policies.relation_names.get(relation or "", relation or "")


def purpose_name(policies: Any, purpose: str | None) -> str:
    return policies.purpose_names.get(purpose or "", purpose or "")


def lines(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p)


# ---- bindings ---------------------------------------------------------------------------

def bind_summary(name: str, id_number: str, relation: str) -> str:
    return lines("请确认绑定家庭共济亲属：", f"亲属：{who(name, id_number)}", f"关系：{relation}",
                 "绑定后，对方可以在您设置的限额内使用您的个人账户支付医疗费用，对方会收到通知。")


def bound_text(name: str, id_number: str, relation: str) -> str:
    return (f"✅ 已绑定 {member(name, id_number)} 为家庭共济亲属（{relation}）。"
            "可用 /limit 设置限额。")


def bound_notice(householder: Any, relation: str, hotline: str) -> str:
    return lines(
        f"通知：{householder.name}（{mask_id(householder.id_number)}）已将您绑定为其医保个人账户"
        f"家庭共济亲属（关系：{relation}）。",
        f"您就医、购药时可按规定使用其个人账户资金。发送 /family 查看详情；"
        f"如有疑问请联系对方或拨打医保服务热线 {hotline}。",
    )


def unbind_summary(row: Any, relation: str) -> str:
    return lines("请确认解除家庭共济绑定：",
                 f"亲属：{member(row.name, row.id_number)}（{relation}）",
                 "解除后，对方不能再使用您的个人账户，已发生的支付不退回。对方会收到通知。")


def unbound_text(name: str, id_number: str) -> str:
    return f"✅ 已解除与 {member(name, id_number)} 的家庭共济绑定。"


def unbound_notice(householder: Any) -> str:
    return (f"通知：{member(householder.name, householder.id_number)}"
            "已解除与您的家庭共济绑定，您不能再使用其个人账户资金。")


def leave_summary(payer: Any, relation: str) -> str:
    return lines("请确认退出家庭共济：", f"户主：{member(payer.name, payer.id_number)}",
                 f"关系：您是其{relation}",
                 "退出后，您不能再使用对方的个人账户支付，已发生的支付不退回。户主会收到通知。")


def left_text(name: str, id_number: str) -> str:
    return f"✅ 已退出 {member(name, id_number)} 的家庭共济，不再使用其个人账户资金。"


def left_notice(relative: Any, relation: str) -> str:
    return (f"通知：您的共济亲属 {member(relative.name, relative.id_number)}（{relation}）"
            "已退出您的家庭共济，不能再使用您的个人账户资金。")


def limit_text(facts: dict[str, Any]) -> str:
    """/limit: the limit as stored (a limit below what is used is stored as the used amount)."""
    stored = facts.get("limit_fen")
    if facts.get("below_used"):
        used = format_fen(int(facts.get("used_fen", 0)))
        return f"✅ 该亲属已用 {used}，限额按已用金额设为 {used}，不能再使用家庭共济资金。"
    if stored == 0:
        return "✅ 已将该亲属的累计使用限额设为 ¥0.00：暂停其使用家庭共济资金（未解除绑定）。"
    return f"✅ 已将该亲属的累计使用限额设为 {yuan(stored)}。"


# ---- money ------------------------------------------------------------------------------

def _payment_lines(facts: dict[str, Any]) -> list[str]:
    """Who pays what: the own account, the own 医保钱包, then each householder's family leg."""
    wallet = [f"本人医保钱包支付：{format_fen(int(facts['wallet_fen']))}"] \
        if facts.get("wallet_fen") else []
    return [f"本人个人账户支付：{format_fen(int(facts.get('own_fen', 0)))}", *wallet] + [
        f"家庭共济（户主 {leg.get('name') or leg.get('name_masked', '')}）支付："
        f"{format_fen(int(leg['amount_fen']))}"
        for leg in facts.get("legs") or []]


def _blocked_line(facts: dict[str, Any], purpose: str) -> str | None:
    """Why part of the bill is cash although a householder could pay: the purpose."""
    if facts.get("purpose_blocked") and facts.get("cash_fen"):
        return f"家庭共济资金不能用于{purpose}（按付款户主所在地的规定），这部分需现金支付。"
    return None


def settle_summary(facts: dict[str, Any], amount_fen: int, purpose: str) -> str:
    parts: list[str | None] = [f"请确认结算：{purpose} {format_fen(amount_fen)}",
                               *_payment_lines(facts)]
    if facts.get("cash_fen"):
        parts.append(f"需现金支付：{format_fen(int(facts['cash_fen']))}")
    parts.append(_blocked_line(facts, purpose))
    return lines(*parts)


def settle_text(facts: dict[str, Any], amount_fen: int, purpose: str, *,
                staff: bool = False) -> str:
    parts: list[str | None] = [
        f"✅ 结算成功：{purpose} {format_fen(int(facts.get('amount_fen', amount_fen)))}",
        *_payment_lines(facts)]
    parts.append(f"现金支付：{format_fen(int(facts.get('cash_fen', 0)))}")
    parts.append(_blocked_line(facts, purpose))
    if facts.get("balance_fen") is not None:
        whose = "患者" if staff else "您的"
        parts.append(f"{whose}个人账户余额：{format_fen(int(facts['balance_fen']))}")
    if facts.get("wallet_fen"):
        whose = "患者" if staff else "您的"
        parts.append(f"{whose}医保钱包余额：{format_fen(int(facts['wallet_balance_fen']))}")
    return lines(*parts)


def spent_notice(patient: Any, amount_fen: int, purpose: str, remaining_fen: int | None,
                 balance_fen: int | None) -> str:
    return lines(
        f"通知：您的亲属 {member(patient.name, patient.id_number)} 使用家庭共济支付了"
        f"{purpose} {format_fen(amount_fen)}。",
        f"该亲属剩余限额：{yuan(remaining_fen)}",
        f"您的个人账户余额：{format_fen(balance_fen)}" if balance_fen is not None else None,
    )


def terminal_notice(staff_id: int, receipt: str) -> str:
    """Told to a patient whose bill staff settled at a terminal (staff id masked)."""
    tail = str(staff_id)[-4:]
    body = receipt.replace("✅ 结算成功：", "", 1).replace("患者个人账户余额", "您的个人账户余额")
    return lines(f"通知：工作人员（编号尾号 {tail}）在医保服务窗口为您结算了 {body}",
                 "如果这不是您本人或家人办理的，请立即联系医保经办机构。")


def contribute_summary(row: Any, amount_fen: int, purpose: str) -> str:
    return lines("请确认代缴：",
                 f"为 {member(row.name, row.id_number)} "
                 f"代缴{purpose.removesuffix('缴费')} {format_fen(amount_fen)}",
                 "费用从您的个人账户扣除。")


def contributed_text(name: str, id_number: str, amount_fen: int, purpose: str,
                     facts: dict[str, Any]) -> str:
    balance = facts.get("balance_fen")
    return lines(f"✅ 已为 {member(name, id_number)} "
                 f"代缴{purpose.removesuffix('缴费')} {format_fen(amount_fen)}。",
                 f"您的个人账户余额：{format_fen(int(balance))}" if balance is not None else None)


def contributed_notice(householder: Any, amount_fen: int, purpose: str) -> str:
    return (f"通知：{householder.name}（{mask_id(householder.id_number)}）用家庭共济为您代缴了"
            f"{purpose.removesuffix('缴费')} {format_fen(amount_fen)}。")


# ---- queries ----------------------------------------------------------------------------

def history_text(rows: Iterable[Any], policies: Any) -> str:
    out = []
    for r in rows:
        label = LEDGER_KIND.get(r.kind, r.kind)
        if r.kind == "credit" and r.period:
            label += f"（{r.period}）"
        if r.purpose and r.kind != "wallet_contribute":  # its label says what it paid
            label += f"·{purpose_name(policies, r.purpose)}"
        if r.for_name and r.kind in ("settle_family", "contribute"):
            label += f"（{r.for_name}）"  # the householder's own relative: in full
        out.append(f"{r.at:%Y-%m-%d %H:%M} {label} {signed(r.delta_fen)}")
    return lines("📒 最近的账户记录：", *out) if out else "暂无账户记录。"


def lapse_lines(lapse: Any) -> list[str]:
    """What a lapse (断缴) means now; ``lapse`` is a LapseStatus or its JSON form."""
    if not lapse or not attr(lapse, "lapsed", default=False):
        return []
    months = int(attr(lapse, "months", default=0) or 0)
    out = [f"⚠️ 您的医保自 {attr(lapse, 'since', default='')} 起断缴（{months} 个月）。"]
    if attr(lapse, "benefits_suspended", default=False):
        out.append(f"自 {attr(lapse, 'benefits_suspended_from', default='')} 起暂停医保待遇，"
                   "统筹基金不报销，费用需全额自付。")
    if attr(lapse, "balance_usable", default=True):
        out.append("个人账户余额仍然可以使用。")
    if attr(lapse, "credits_paused", default=False):
        out.append("断缴期间个人账户没有月度划入。")
    if not attr(lapse, "rule_applies", default=False):
        # the bands below are Ji'an's [003]; nobody else is told them as their own
        out.append("断缴对缴费年限、连续参保和待遇等待期的影响各地规定不同，以参保地医保部门为准。")
    elif attr(lapse, "years_cleared", default=False):
        out.append("断缴满3个月：按吉安市的说明，累计缴费年限会被清零，账户余额保留。")
    elif attr(lapse, "band", default="") == "under_3":
        out.append("断缴不满3个月：及时续缴后重新计算连续参保时间，之前的缴费年限不清零。")
    out.append("以往缴纳的费用不会白交；请尽快续缴，具体以当地医保部门规定为准。")
    return out


def balance_text(person: Any, facts: dict[str, Any]) -> str:
    return lines(
        f"💳 {person.name} 的医保个人账户",
        f"余额：{format_fen(int(facts.get('balance_fen', 0)))}",
        f"每月划入：{format_fen(int(facts.get('monthly_credit_fen', 0)))}",
        *lapse_lines(facts.get("lapse")),
    )


def _usage_line(limit_fen: int | None, used_fen: int) -> str:
    remaining = None if limit_fen is None else max(limit_fen - used_fen, 0)
    return f"限额 {yuan(limit_fen)}，已用 {format_fen(used_fen)}，剩余 {yuan(remaining)}"


def family_text(view: Any, policies: Any, *, own: bool = True) -> str:
    """/family: my relatives (as householder) and who pays for me (as relative).

    ``own=False`` words it in the third person (staff looking someone up)."""
    me = "我" if own else "其"
    show = member if own else who  # my own family by name; staff see everyone masked
    parts: list[str] = []
    if view.relatives:
        parts.append(f"👨‍👩‍👧 {me}绑定的共济亲属"
                     + ("（序号可用于 /unbind /limit /contribute）：" if own else "："))
        parts += [f"{r.index}. {show(r.name, r.id_number)} {relation_name(policies, r.relation)}\n"
                  f"   {_usage_line(r.limit_fen, r.used_fen)}" for r in view.relatives]
    elif view.account_open:
        parts.append("您已开通家庭共济，还没有绑定亲属。绑定：/bind 身份证号 姓名 关系" if own
                     else "已开通家庭共济，还没有绑定亲属。")
    if view.payers:
        if parts:
            parts.append("")
        hint = "（按扣款顺序，/order 可调整；" if view.ordered else "（"
        head = f"🧾 为{me}共济的户主" + (f"{hint}序号可用于 /leave）：" if own else "：")
        parts.append(head)
        for p in view.payers:
            parts.append(f"{p.index}. {show(p.name, p.id_number)}"
                         f"（{'我' if own else '本人'}是其{relation_name(policies, p.relation)}）\n"
                         f"   {_usage_line(p.limit_fen, p.used_fen)}")
            others = "、".join(f"{show(o.name, o.id_number)}{relation_name(policies, o.relation)}"
                              for o in p.others)
            parts.append(f"   该户主的其他共济亲属：{others or '无'}")
    if not parts and not own:
        return "没有家庭共济关系。"
    if not parts:
        return ("您还没有家庭共济关系。\n作为职工医保参保人，可发送 /open 开通家庭共济，"
                "再用 /bind 绑定近亲属。")
    return "\n".join(parts)
