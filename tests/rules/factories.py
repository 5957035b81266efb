"""Insert people straight into the database (no CSV importer), with valid ID numbers."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import Engine, insert

from rules.clock import ManualClock
from rules.decision import Decision
from rules.identity import make_id
from rules.policy import Policies
from rules.schema import Person
from rules.service import FamilyService

_serial = itertools.count(1)

PLACES = {
    "dongying": ("山东省", "东营市"),
    "jinan": ("山东省", "济南市"),
    "jian": ("江西省", "吉安市"),
    "hainan": ("海南省", "海口市"),
    "national": ("江苏省", "南京市"),
    "qingdao": ("山东省", "青岛市"),  # Shandong, national rules
    "chengdu": ("四川省", "成都市"),  # national rules; 医保钱包 opened
}


def new_id_number(born: str = "19800101") -> str:
    n = next(_serial)
    return make_id(f"{370100 + n // 1000:06d}{born}{n % 1000:03d}")


def add_person(engine: Engine, *, place: str = "jinan", name: str | None = None,
               scheme: str = "employee", employment: str | None = "employed",
               status: str = "active", lapsed_since: str | None = None, balance: int = 0,
               monthly_credit: int = 0, phone: str | None = None,
               policies: Policies | None = None) -> int:
    """A person in ``place`` (a key of PLACES); money in fen. Returns the database id."""
    province, city = PLACES[place]
    region = (policies or Policies.load()).region_for(province, city)
    id_number = new_id_number()
    with engine.begin() as conn:
        return conn.execute(insert(Person).values(
            id_number=id_number, name=name or f"测试{id_number[-4:]}", phone=phone,
            province=province, city=city, region=region, scheme=scheme,
            employment=employment if scheme == "employee" else None, status=status,
            lapsed_since=lapsed_since, opening_balance=balance, balance=balance,
            monthly_credit=monthly_credit,
        ).returning(Person.id)).scalar_one()


class World:
    """A service over a fresh database plus shortcuts to set scenes up through it."""

    def __init__(self, engine: Engine, start: datetime | None = None, **service_kw: object) -> None:
        self.engine = engine
        self.policies = Policies.load()
        self.clock = ManualClock(start or datetime(2026, 11, 1, 2, 0))
        self.svc = FamilyService(engine, self.policies, self.clock, **service_kw)  # type: ignore[arg-type]
        self._keys = itertools.count(1)

    def key(self) -> str:
        return f"k{next(self._keys)}"

    def person(self, **kw: object) -> int:
        return add_person(self.engine, policies=self.policies, **kw)  # type: ignore[arg-type]

    def householder(self, place: str = "jinan", balance: int = 100_000, **kw: object) -> int:
        pid = self.person(place=place, balance=balance, **kw)
        d = self.svc.open_account(pid, letter_version="v1", letter_sha256="0" * 64, key=self.key())
        assert d.ok, d
        return pid

    def id_number(self, pid: int) -> str:
        view = self.svc.person(pid)
        assert view is not None
        return view.id_number

    def name(self, pid: int) -> str:
        view = self.svc.person(pid)
        assert view is not None
        return view.name

    def bind(self, householder: int, relative: int, relation: str = "配偶") -> Decision:
        return self.svc.bind(householder, self.id_number(relative), self.name(relative), relation,
                             key=self.key())

    def bound(self, householder: int, relative: int, relation: str = "配偶") -> int:
        d = self.bind(householder, relative, relation)
        assert d.ok, d
        return int(d.facts["binding_id"])

    def balance(self, pid: int) -> int:
        view = self.svc.person(pid)
        assert view is not None
        return view.balance_fen
