"""Bundled demo people, loaded into an empty database so a newcomer can try everything at once.

Everyone here is fictitious: names are common ones, ID numbers are built with ``make_id`` (valid
GB 11643 check digits, real birth dates) and phones use made-up 139-0XXX-… numbers.

The cast and what each one shows (``DEMO`` holds the details, ``demo_people.csv`` the same
rows in the import format — a test keeps the two identical):

东营 (dongying: exclusive bindings, at most 7, retry window when the own account is short)
- 张建国  householder, employee, employed, ¥1,000.00, ¥200.00 a month
- 李秀兰  his wife, resident insurance, ¥30.00 — bind as 配偶; a ¥100 bill shows the 5-minute retry
- 张德福  his father, retired employee, ¥80.00 — bind as 父亲; also a would-be householder
- 张小雨  his daughter, uninsured — binding her gives NOT_INSURED
- 张磊    his son, insured in 江西省吉安市 — binding him gives OUT_OF_SCOPE
- 孙丽    flexible worker: no personal account — opening a family account gives NO_PERSONAL_ACCOUNT
- 吴刚    lapsed since 2026-08: balance usable, no new monthly credits
- 钱晓红  staff member at the service hall (her Telegram ID goes under ``staff_ids``)
济南 (jinan: ordered payers, any close relative)
- 王志强  householder, ¥2,000.00;  王志红 (his sister) a second householder, ¥800.00
- 王桂英  their mother, resident insurance, ¥0.00 — both children can bind her; she orders them
海南 (hainan: own account only at the counter)
- 陈海燕  employee in 海口市, ¥600.00
医保钱包 (national rules; a family split across provinces, rules/wallet.yaml)
- 刘建华  employee in 南京市 (江苏: opened), ¥3,000.00 — /wallet, then /transfer to his mother
- 刘桂芳  his mother, resident insurance in 成都市 (四川: opened) — receives, spends, contributes
- 刘建军  his brother, employee in 广州市 (广东: not opened) — /wallet gives WALLET_NOT_ENABLED
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError

from rules.db import create_schema
from rules.identity import make_id
from rules.importer import COLUMNS, ImportRefused, import_people
from rules.policy import Policies
from rules.schema import Person

DEMO_CSV = Path(__file__).with_name("demo_people.csv")


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id_number: str
    phone: str
    province: str
    city: str
    region: str  # policy key
    role: str  # Chinese, for the console's "try this"
    scheme: str
    employment: str  # "" when not applicable
    balance: str  # yuan, as in the CSV
    monthly_credit: str
    status: str = "active"
    lapsed_since: str = ""

    def csv_row(self) -> list[str]:
        """The row in ``COLUMNS`` order."""
        values = {**self.__dict__}
        return [values[c] for c in COLUMNS]


def _p(name: str, first17: str, phone: str, place: str, region: str, role: str,
       scheme: str, employment: str, balance: str, credit: str, **kw: str) -> DemoPerson:
    province, city = place.split("/")
    return DemoPerson(name, make_id(first17), phone, province, city, region, role,
                      scheme, employment, balance, credit, **kw)


DY, JN, HN, JA = "山东省/东营市", "山东省/济南市", "海南省/海口市", "江西省/吉安市"
NJ, CD, GZ = "江苏省/南京市", "四川省/成都市", "广东省/广州市"

DEMO: list[DemoPerson] = [
    _p("张建国", "37050219780315011", "13905461001", DY, "dongying",
       "东营户主（职工在职，个账 ¥1,000.00）",
       "employee", "employed", "1000.00", "200.00"),
    _p("李秀兰", "37050219800622022", "13905461002", DY, "dongying",
       "张建国的妻子（居民医保，余额 ¥30.00）",
       "resident", "", "30.00", "0.00"),
    _p("张德福", "37050219520908013", "13905461003", DY, "dongying",
       "张建国的父亲（职工退休，余额 ¥80.00）",
       "employee", "retired", "80.00", "150.00"),
    _p("张小雨", "37050220080112026", "13905461004", DY, "dongying",
       "张建国的女儿（未参保 → NOT_INSURED）",
       "none", "", "0.00", "0.00"),
    _p("张磊", "36080220010418015", "13907961005", JA, "jian",
       "张建国的儿子，在江西吉安参保（→ OUT_OF_SCOPE）",
       "employee", "employed", "300.00", "100.00"),
    _p("孙丽", "37050319870503044", "13905461006", DY, "dongying",
       "灵活就业人员（无个人账户 → NO_PERSONAL_ACCOUNT）",
       "employee", "flexible", "0.00", "0.00"),
    _p("吴刚", "37050219850721057", "13905461007", DY, "dongying",
       "2026-08 起断缴的职工（余额可用，不再入账）",
       "employee", "employed", "450.00", "160.00", status="lapsed", lapsed_since="2026-08"),
    _p("钱晓红", "37050219900210068", "13905461008", DY, "dongying",
       "医保服务大厅工作人员（staff_ids）",
       "employee", "employed", "500.00", "150.00"),
    _p("王志强", "37010219750830031", "13905311009", JN, "jinan",
       "济南户主（职工在职，个账 ¥2,000.00）",
       "employee", "employed", "2000.00", "300.00"),
    _p("王志红", "37010319780214042", "13905311010", JN, "jinan",
       "王志强的妹妹，第二位济南户主（¥800.00）",
       "employee", "employed", "800.00", "180.00"),
    _p("王桂英", "37010219500311024", "13905311011", JN, "jinan",
       "王志强、王志红的母亲（居民医保，两位付款人可排序）",
       "resident", "", "0.00", "0.00"),
    _p("陈海燕", "46010619830919026", "13908981012", HN, "hainan",
       "海口职工（海南：柜台只能用本人账户）",
       "employee", "employed", "600.00", "120.00"),
    _p("刘建华", "32010219800512031", "13902501013", NJ, "national",
       "南京职工（江苏已开通医保钱包，个账 ¥3,000.00）",
       "employee", "employed", "3000.00", "250.00"),
    _p("刘桂芳", "51010419550203024", "13902801014", CD, "national",
       "刘建华的母亲，在四川成都参保（居民医保；四川已开通医保钱包）",
       "resident", "", "0.00", "0.00"),
    _p("刘建军", "44010319830716035", "13902001015", GZ, "national",
       "刘建华的弟弟，在广东广州参保（广东未开通 → WALLET_NOT_ENABLED）",
       "employee", "employed", "900.00", "200.00"),
]


def by_name(name: str) -> DemoPerson:
    return next(p for p in DEMO if p.name == name)


_HOLDER, _WIFE = by_name("张建国"), by_name("李秀兰")

TRY_THIS: tuple[str, str, str] = (
    f"试试：:contact {_HOLDER.phone} 以东营户主{_HOLDER.name}的身份关联，"
    f"再发送身份证后4位 {_HOLDER.id_number[-4:]}",
    f"然后：/open 同意承诺书，/bind {_WIFE.id_number} {_WIFE.name} 配偶，/family 查看",
    "也可以直接提问，例如：家庭共济能给哪些亲属用？（/help 查看全部命令）",
)


def load_demo_if_empty(engine: Engine, policies: Policies) -> bool:
    """Import the demo people when ``people`` is empty (creating the schema if missing).

    Returns True when they were loaded, False when the table already held someone.
    """
    if not inspect(engine).has_table("people"):
        create_schema(engine)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Person)).scalar_one():
            return False
    try:
        import_people(engine, DEMO_CSV, policies)
    except IntegrityError:  # another process loaded them at the same moment
        return False
    except ImportRefused as exc:  # a broken bundled file is a bug, not bad user input
        raise RuntimeError(f"bundled {DEMO_CSV.name} is invalid: {exc.errors}") from exc
    return True
