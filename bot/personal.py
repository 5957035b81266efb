"""Personal answers: a linked user's question about their own situation gets their figures first.

:data:`FACTS` maps knowledge-base entry ids to a function of the asker that states their
figures from the rules engine (FamilyService ``family()``, ``balance()``, ``lapse_status()``)
and then the policy in one line, in their region's terms; :data:`COMMANDS` names the command
offered as a button. The entry's own text follows under "详细说明". 医保钱包 entries keep the
wallet line (bot/handlers/wallet.py) after the entry's text. Blocking: run in a worker thread.
Nothing here imports ``telegram``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.render import relation_name
from rules.money import format_fen
from rules.views import LapseStatus

if TYPE_CHECKING:
    from bot.caches import Asker
    from bot.context import Services


@dataclass(frozen=True)
class Personal:
    """``lead``: figures then policy, shown before the entry's text; ``note``: a line after it."""

    lead: str = ""
    note: str = ""
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)

    def compose(self, answer: str) -> str:
        if self.lead:
            return f"{self.lead}\n\n详细说明：\n{answer}"
        return f"{answer}\n\n{self.note}" if self.note else answer


def _rel(svc: Services, relation: str) -> str:
    return relation_name(svc.policies, relation)


def _left(limit_fen: int | None, used_fen: int) -> str:
    if limit_fen is None:
        return f"不限额，已用{format_fen(used_fen)}"
    return (f"还可用{format_fen(max(limit_fen - used_fen, 0))}（限额{format_fen(limit_fen)}，"
            f"已用{format_fen(used_fen)}）")


def left_to_spend(svc: Services, asker: Asker) -> str:
    """What the asker may still spend from each householder, and what their relatives may."""
    view, policy = svc.family.family(asker.person_id), svc.policies.get(asker.region)
    person = svc.family.person(asker.person_id)
    own = f"您自己的个人账户余额：{format_fen(person.balance_fen)}。" if person else ""
    lines = [own] if own else []
    for p in view.payers:
        lines.append(f"{p.name}（{_rel(svc, p.relation)}）为您付款："
                     f"{_left(p.limit_fen, p.used_fen)}。")
    for r in view.relatives:
        lines.append(f"您绑定的{r.name}（{_rel(svc, r.relation)}）："
                     f"{_left(r.limit_fen, r.used_fen)}。")
    if not view.payers and not view.relatives:
        lines.append("您目前没有家庭共济关系（没有户主为您付款，您也没有绑定亲属）。")
    limits = "户主可以给每位亲属设累计限额（/limit），到了限额这位户主就不再替他付款"
    lines.append(f"政策：{limits}；{policy.name}{_order(policy)}。")
    return "\n".join(lines)


def _order(policy: Any) -> str:
    """How a bill is paid in the asker's region (regions.yaml ``settlement``)."""
    if policy.settlement == "retry_window":
        minutes = max(policy.retry_window_seconds // 60, 1)
        return f"本人个账不够付整笔时，{minutes}分钟内再次刷卡由户主个账支付"
    if policy.settlement == "own_only":
        return "门诊结算只能用本人个账，剩下的现金支付"
    return "先用本人个账，再按顺序用户主的个账，剩下的现金支付"


def who_bound_me(svc: Services, asker: Asker) -> str:
    view, policy = svc.family.family(asker.person_id), svc.policies.get(asker.region)
    if view.payers:
        names = "、".join(f"{p.name}（{_rel(svc, p.relation)}）" for p in view.payers)
        head = f"为您共济的户主：{names}。"
    else:
        head = "目前没有户主绑定您。"
    return (f"{head}\n政策：被绑定的家人可以看到自己被哪位户主绑定，但不能更改；"
            f"{policy.name}的绑定由户主办理。")


def how_many_bound(svc: Services, asker: Asker) -> str:
    view, policy = svc.family.family(asker.person_id), svc.policies.get(asker.region)
    bound = len(view.relatives)
    if policy.max_relatives is None:
        rule = f"{policy.name}没有规定绑定人数上限"
    else:
        rule = (f"{policy.name}最多可绑定{policy.max_relatives}人，"
                f"您还可以绑定{max(policy.max_relatives - bound, 0)}人")
    return f"您已绑定{bound}位亲属。\n政策：{rule}。"


def balance_and_credits(svc: Services, asker: Asker) -> str:
    d = svc.family.balance(asker.person_id)
    if not d.ok:
        return ""
    f = d.facts
    lapsed = bool((f.get("lapse") or {}).get("lapsed"))
    credit = "断缴期间暂停划入" if lapsed else f"每月划入{format_fen(int(f['monthly_credit_fen']))}"
    return (f"您的个人账户余额：{format_fen(int(f['balance_fen']))}，{credit}。\n"
            "政策：个人账户的钱归您所有，年底不清零，可以结转和继承；"
            "每月划入额随缴费基数而定。")


def _lapse_line(status: LapseStatus, who: str) -> str:
    if not status.lapsed:
        return f"{who}参保正常，没有断缴"
    months = f"（{status.months}个月）" if status.months else ""
    return (f"{who}自{status.since}起断缴{months}：个人账户余额"
            f"{'仍可使用' if status.balance_usable else '暂不能使用'}，"
            f"{'暂停每月划入' if status.credits_paused else '仍有划入'}")


def lapse(svc: Services, asker: Asker) -> str:
    """The asker's own lapse status, and that of the householders who pay for them."""
    view = svc.family.family(asker.person_id)
    status = svc.family.lapse_statuses([asker.person_id,
                                        *(p.householder_id for p in view.payers)])
    lines = [_lapse_line(status[asker.person_id], "您") + "。"]
    if view.relatives:
        lines.append(f"您绑定了{len(view.relatives)}位亲属；您断缴时，能共济给他们的钱"
                     "只会越用越少（不再有新的划入）。")
    for p in view.payers:
        lines.append(_lapse_line(status[p.householder_id], f"为您付款的{p.name}") + "。")
    lines.append("政策：断缴次月起统筹基金不再报销、个人账户余额仍可使用（吉安的说明）；"
                 "是否影响共济结算以参保地医保部门为准，请尽快续缴。")
    return "\n".join(lines)


FACTS: dict[str, Callable[[Services, Asker], str]] = {
    "limits_reached": left_to_spend,
    "limits_cumulative": left_to_spend,
    "limits_what_dongying": left_to_spend,
    "limits_set_bot": left_to_spend,
    "binding_who_bound_me": who_bound_me,
    "binding_max_dongying": how_many_bound,
    "binding_max_national": how_many_bound,
    "query_bot_balance": balance_and_credits,
    "query_monthly_credit": balance_and_credits,
    "lapse_balance": lapse,
    "lapse_householder_family": lapse,
    "lapse_effects_jian": lapse,
    "lapse_balance_jian": lapse,
    "lapse_no_credit_jian": lapse,
}
COMMANDS: dict[Callable[[Services, Asker], str], tuple[str, str]] = {
    left_to_spend: ("查看 /family", "family"),
    who_bound_me: ("查看 /family", "family"),
    how_many_bound: ("查看 /family", "family"),
    balance_and_credits: ("查看 /balance", "balance"),
    lapse: ("查看 /balance", "balance"),
}


def applies(entry: Any) -> bool:
    """Whether the entry gets the asker's own figures (or the wallet line)."""
    from bot.handlers.wallet import wallet_entry

    return entry.id in FACTS or wallet_entry(entry)


def answer(svc: Services, entry: Any, asker: Asker | None) -> Personal | None:
    """The asker's figures for this entry, or None (not linked, or nothing personal)."""
    from bot.handlers.wallet import personal_wallet_note, wallet_entry

    if asker is None:
        return None
    facts = FACTS.get(entry.id)
    if facts is None:
        note = personal_wallet_note(svc, asker.person_id) if wallet_entry(entry) else None
        return Personal(note=note) if note else None
    text = facts(svc, asker)
    if not text:
        return None
    label, command = COMMANDS[facts]
    return Personal(lead=text, buttons=[[(label, f"run:{command}")]])
