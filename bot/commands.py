"""The one command catalog: menus, /help, usage texts and the documentation test derive from it.

Each feature module still registers its own handler (the callback lives there);
tests/test_architecture.py checks that the registered commands and this catalog are the same
set, and that the README documents every one. No telegram import here.
"""

from __future__ import annotations

from dataclasses import dataclass

USER, STAFF = "user", "staff"


@dataclass(frozen=True)
class Command:
    name: str
    menu: str                  # the Telegram command menu
    help: str                  # the /help line ("" when the menu text says it all)
    section: str               # the /help heading it sits under
    scope: str = USER          # USER: everyone (account commands need a linked user); STAFF
    usage: str | None = None   # the reply to malformed arguments
    aliases: tuple[str, ...] = ()
    group: bool = False        # also offered in group chats
    in_menu: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


IDENTITY, FAMILY, QUESTIONS, STAFF_SECTION = "身份", "家庭共济（仅私聊）", "问答", "工作人员"
WALLET = "医保钱包（仅私聊；河北 江苏 安徽 山东 河南 湖北 重庆 四川 甘肃）"

CATALOG: tuple[Command, ...] = (
    Command("start", "开始 / 验证身份", "/start 验证身份（分享手机号 + 身份证号后4位）", IDENTITY),
    Command("help", "使用说明", "/help 使用说明", IDENTITY, group=True),
    Command("me", "我的身份", "/me 我的身份", IDENTITY),
    Command("unlink", "解除本账号关联", "/unlink 解除与本账号的关联", IDENTITY),
    Command("open", "开通家庭共济（承诺书）", "/open 开通家庭共济（阅读并同意承诺书）", FAMILY),
    Command("bind", "绑定亲属：身份证号 姓名 关系",
            "/bind 身份证号 姓名 关系 — 绑定亲属（只发 /bind：逐步填写，关系点选）", FAMILY,
            usage="用法：/bind 身份证号 姓名 关系\n例如：/bind 370502199001011234 张三 配偶"),
    Command("unbind", "解除绑定", "/unbind 身份证号|序号 — 解除绑定（不带参数：点选亲属）",
            FAMILY,
            usage="用法：/unbind 身份证号|序号（序号见 /family）"),
    Command("leave", "退出户主的家庭共济", "/leave 序号|户主身份证号 — 亲属退出某位户主的家庭共济",
            FAMILY, usage=("用法：/leave 序号|户主身份证号（序号见 /family 的“为我共济的户主”）\n"
                           "退出后您不能再使用该户主的个人账户。")),
    Command("limit", "设置亲属使用限额",
            "/limit 身份证号|序号 金额|不限 — 设置亲属累计使用限额（不带参数：点选）",
            FAMILY,
            usage="用法：/limit 身份证号|序号 金额|不限\n例如：/limit 1 500 或 /limit 1 不限"),
    Command("order", "设置扣款顺序", "/order 身份证号|序号 … — 亲属设置户主扣款顺序", FAMILY,
            usage="用法：/order 户主身份证号|序号 …（第一个先扣款，序号见 /family）"),
    Command("family", "我的共济家庭", "/family 我的共济家庭", FAMILY),
    Command("balance", "个人账户余额", "/balance 个人账户余额", FAMILY),
    Command("history", "账户流水",
            "/history [条数] 账户流水、家庭共济为我支付的记录；/history 亲属姓名 — 为该亲属的支付",
            FAMILY, usage=("用法：/history [条数]，条数为1到{max}之间的整数；\n"
                           "为某位亲属的支付：/history 亲属姓名|身份证号 [条数]，"
                           "或点 /history 下的按钮。")),
    Command("settle", "结算：金额 [用途]",
            "/settle 金额 [用途] — 结算（别名 /pay；"
            "用途：门诊 住院 购药 体检 居民医保缴费 长护险缴费）",
            FAMILY, usage="用法：/settle 金额 [用途]\n用途：{purposes}（默认 购药）",
            aliases=("pay",)),
    Command("contribute", "为亲属代缴居民医保",
            "/contribute 身份证号|序号 金额 — 为亲属代缴居民医保（不带参数：点选亲属）", FAMILY,
            usage="用法：/contribute 身份证号|序号 金额\n为参加居民医保的亲属代缴居民医保费。"),
    Command("wallet", "医保钱包：状态、激活",
            "/wallet 钱包状态、余额、记录；激活（确认使用钱包 + 6位密码）\n"
            "/contribute 本人 金额 — 用医保钱包缴本人居民医保", WALLET),
    Command("transfer", "医保钱包转账：身份证号 姓名 关系 金额",
            "/transfer 身份证号 姓名 关系 金额 — 从个人账户转入近亲属的医保钱包（可跨省）", WALLET),
    Command("ask", "提问", "直接发送问题，或 /ask 问题（群里也能用）", QUESTIONS, group=True),
    Command("why", "解释原因代码", "/why 代码 解释拒绝原因", QUESTIONS, group=True),
    Command("cancel", "取消当前操作", "/cancel 取消当前操作", QUESTIONS),
    Command("human", "转人工客服", "/human [问题] 转人工客服（也可以直接发“人工”）", QUESTIONS),
    Command("lookup", "查询参保人", "/lookup 身份证号|手机号|姓名", STAFF_SECTION, STAFF,
            usage="用法：/lookup 身份证号|手机号|姓名"),
    Command("settle_for", "代为结算", "/settle_for 身份证号 金额 [用途]", STAFF_SECTION, STAFF,
            usage="用法：/settle_for 身份证号 金额 [用途]\n用途：{purposes}（默认 购药）"),
    Command("credit", "月度划入", "/credit YYYY-MM 月度划入（本月或上月，需确认）",
            STAFF_SECTION, STAFF, usage="用法：/credit YYYY-MM，例如 /credit 2026-11"),
    Command("audit", "账目核查", "/audit 账目核查", STAFF_SECTION, STAFF),
    Command("unanswered", "未解答的问题", "/unanswered 未解答的问题（/unanswered 删除 编号）",
            STAFF_SECTION, STAFF),
    Command("teach", "把问题加入知识库",
            "/teach 编号 [条目ID] 把未解答的问题加为某条问答的问法（不写条目ID：按钮选）",
            STAFF_SECTION, STAFF,
            usage=("用法：/teach 编号 [条目ID]，例如 /teach 12（从按钮里选条目）或 "
                   "/teach 12 binding_unbind\n"
                   "编号是 /unanswered 每行开头的 #数字；条目ID 见其中的“最接近”。")),
    Command("untaught", "撤销加入知识库", "/untaught 编号 撤销 /teach（问题回到未解答）",
            STAFF_SECTION, STAFF, usage="用法：/untaught 编号，例如 /untaught 12"),
    Command("tickets", "转人工工单", "/tickets 待处理的转人工工单", STAFF_SECTION, STAFF),
    Command("stats", "统计", "/stats 统计", STAFF_SECTION, STAFF),
)
BY_NAME = {name: c for c in CATALOG for name in c.names}

USAGE: dict[str, str] = {c.name: c.usage for c in CATALOG if c.usage}


def menu(scope: str, *, group: bool = False) -> list[tuple[str, str]]:
    """``(command, description)`` pairs for a Telegram command menu."""
    return [(c.name, c.menu) for c in CATALOG
            if c.in_menu and c.scope == scope and (c.group or not group)]


def help_text(scope: str) -> str:
    """The /help body for one scope, one line per command under its section heading."""
    out: list[str] = []
    section = None
    for c in CATALOG:
        if c.scope != scope or not c.help:
            continue
        if c.section != section:
            section = c.section
            out.append(section)
        out.append(c.help)
    return "\n".join(out)
