"""Operator commands: ``people import``, ``db upgrade``, ``audit`` (no Telegram import here).

Each returns the process exit code. Bad input (missing file, wrong encoding, bad rows) and an
unreachable database end in a clear Chinese message on stderr and exit 1 — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings
from rules.db import create_schema, make_engine, sqlite_path
from rules.identity import redact


def _engine(settings: Settings) -> Engine:
    db = settings.database
    return make_engine(db.url, pool_size=db.pool_size, max_overflow=db.max_overflow)


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(无法解析的数据库地址)"


def _db_failed(settings: Settings, exc: SQLAlchemyError) -> int:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    print(f"数据库错误（{_shown_url(settings.database.url)}）：{redact(reason)}", file=sys.stderr)
    return 1


def _missing_sqlite_file(settings: Settings) -> str | None:
    """Why a read-only command cannot run on this SQLite URL (opening it would create an
    empty database as a side effect), or None."""
    path = sqlite_path(settings.database.url)
    if path is not None and not path.is_file():
        return (f"数据库文件不存在：{path}（请先运行 gongji db upgrade 或 gongji people import，"
                "或用 --db 指向已有的数据库）")
    return None


def _err(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def run_people_import(settings: Settings, file: str) -> int:
    """``people import FILE.csv``: load or update people; all rows or none."""
    from rules.importer import ImportRefused, import_people
    from rules.policy import Policies

    path = Path(file)
    if not path.exists():
        return _err(f"找不到文件：{file}")
    if not path.is_file():
        return _err(f"不是文件：{file}")
    engine: Engine | None = None
    try:
        import bot.state  # noqa: F401  (bot-side tables share the metadata)

        engine = _engine(settings)
        create_schema(engine)
        report = import_people(engine, path, Policies.load())
    except ImportRefused as exc:
        print(f"导入被拒绝：{len(exc.errors)} 行有错误，本文件的任何一行都没有写入。",
              file=sys.stderr)
        for line_no, message in exc.errors:
            print(f"第{line_no}行: {message}", file=sys.stderr)
        return 1
    except OSError as exc:
        return _err(f"无法读取文件 {file}：{exc.strerror or exc}")
    except SQLAlchemyError as exc:
        return _db_failed(settings, exc)
    finally:
        if engine is not None:
            engine.dispose()
    fast = report.rows >= 10_000 and report.seconds > 0
    rate = f"，{report.rows / report.seconds:,.0f} 行/秒" if fast else ""
    print(f"导入完成：共 {report.rows} 行 — 新增 {report.inserted} 人，更新 {report.updated} 人，"
          f"未变 {report.unchanged} 人（用时 {report.seconds:.2f} 秒{rate}）。")
    if report.balance_differs:
        print(f"注意：{report.balance_differs} 人的 CSV 余额与系统余额不同；"
              "已有人员的余额以台账为准，未被覆盖。")
    return 0


def run_audit(settings: Settings) -> int:
    """``audit``: check every ledger invariant; exit 0 when all hold, 1 naming each violation."""
    try:
        from rules.audit import audit
    except ModuleNotFoundError as exc:
        if exc.name != "rules.audit":
            raise
        return _err("审计模块（rules.audit）尚未安装，无法审计。")
    missing = _missing_sqlite_file(settings)
    if missing:
        return _err(missing)
    engine: Engine | None = None
    try:
        engine = _engine(settings)
        if not inspect(engine).has_table("people"):
            return _err("数据库里还没有表：请先运行 gongji db upgrade 或 gongji people import。")
        violations = audit(engine)
    except SQLAlchemyError as exc:
        return _db_failed(settings, exc)
    finally:
        if engine is not None:
            engine.dispose()
    if not violations:
        print("审计通过：所有账务不变量均成立。")
        return 0
    print(f"审计发现 {len(violations)} 处问题：")
    for violation in violations:
        print(f"- {redact(str(violation))}")
    return 1


def run_db_upgrade(settings: Settings) -> int:
    """``db upgrade``: Alembic migrations when rules.migrate exists, else create missing tables."""
    import bot.state  # noqa: F401  (bot-side tables share the metadata)
    from rules.schema import Base

    url = settings.database.url
    try:
        import rules.migrate as migrate
    except ModuleNotFoundError as exc:
        if exc.name != "rules.migrate":
            raise
        return _create_missing_tables(settings)
    try:
        reached = migrate.upgrade(url, metadata=Base.metadata)
    except SQLAlchemyError as exc:
        return _db_failed(settings, exc)
    except getattr(migrate, "MigrationError", RuntimeError) as exc:
        return _err(f"无法自动升级数据库（{_shown_url(url)}）：{exc}")
    print(f"数据库已升级到最新版本{f' {reached}' if reached else ''}：{_shown_url(url)}")
    return 0


def _create_missing_tables(settings: Settings) -> int:
    engine: Engine | None = None
    try:
        engine = _engine(settings)
        create_schema(engine)
    except SQLAlchemyError as exc:
        return _db_failed(settings, exc)
    finally:
        if engine is not None:
            engine.dispose()
    shown = _shown_url(settings.database.url)
    print(f"未找到迁移模块（rules.migrate），已按当前模型创建缺少的表：{shown}")
    return 0


def load_taught(settings: Settings) -> dict[str, list[str]] | None:
    """The questions staff taught the bot (/teach) by entry, or None after saying on stderr
    why they cannot be read (no such table yet, database unreachable)."""
    from sqlalchemy.orm import sessionmaker

    from bot.learned import load_learned

    engine: Engine | None = None
    try:
        engine = _engine(settings)
        if not inspect(engine).has_table("learned_phrasings"):
            _err("数据库里还没有 learned_phrasings 表：请先运行 gongji db upgrade。")
            return None
        return load_learned(sessionmaker(engine))[0]
    except SQLAlchemyError as exc:
        _db_failed(settings, exc)
        return None
    finally:
        if engine is not None:
            engine.dispose()


def run_kb_taught(settings: Settings) -> int:
    """``kb taught``: the questions staff taught the bot (/teach), printed as a labelled question
    set (``questions: [{q, entry}]``) that ``bench/fold_dev.py --set FILE`` folds into the YAML."""
    import yaml

    taught = load_taught(settings)
    if taught is None:
        return 1
    questions = [{"q": q, "entry": entry} for entry, qs in sorted(taught.items()) for q in qs]
    print("# Questions staff taught the bot (/teach), already masked. Fold them into")
    print("# knowledge/faq/*.yaml with: .venv/bin/python bench/fold_dev.py --set THIS_FILE")
    print(yaml.safe_dump({"questions": questions}, allow_unicode=True, sort_keys=False,
                         width=1000), end="")
    return 0
