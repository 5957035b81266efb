"""``python -m bot`` / ``gongji``: the command line (see shared contract and README).

Imports are lazy per command so ``ask`` starts fast and ``audit`` needs no Telegram.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.settings import Settings, SettingsError, load_settings
from rules.identity import redact


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gongji", description="共济助手 — family mutual-aid assistant")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the Telegram bot (polling or webhook)")
    _common(run)

    console = sub.add_parser("console", help="chat with the bot in the terminal")
    _common(console)
    console.add_argument("--script", help="read input lines from FILE instead of the terminal")
    console.add_argument("--json", action="store_true", help="JSON lines transcript")

    ask = sub.add_parser("ask", help="answer questions from the knowledge base")
    ask.add_argument("--config")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--region", help="prefer this region's entries (e.g. dongying)")
    ask.add_argument("--taught", action="store_true",
                     help="also match the questions staff taught (/teach), from the database")
    ask.add_argument("--db", help="with --taught: SQLAlchemy database URL (overrides config)")
    ask.add_argument("question", nargs="*", help="the question; none: one per line on stdin")

    people = sub.add_parser("people", help="the registry of insured people")
    people_sub = people.add_subparsers(dest="people_command", required=True)
    imp = people_sub.add_parser("import", help="load or update people from a CSV file")
    imp.add_argument("file")
    _common(imp)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="bring the schema up to date (migrations)")
    _common(up)

    audit = sub.add_parser("audit", help="check every ledger invariant")
    _common(audit)

    kb = sub.add_parser("kb", help="the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    taught = kb_sub.add_parser("taught", help="print the questions staff taught (/teach) as a "
                                              "question set for bench/fold_dev.py")
    _common(taught)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="path to config.yaml")
    p.add_argument("--db", help="SQLAlchemy database URL (overrides config)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings: Settings = load_settings(args.config).with_db(getattr(args, "db", None))
    except SettingsError as exc:
        print(f"配置错误 (config error): {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 — an operator sees one line, never a traceback
        # rules.db (SQLAlchemy: about a second) is imported only by commands that use a database,
        # never by ``ask``, which must start in well under a second
        db = sys.modules.get("rules.db")
        if db is not None and isinstance(exc, db.DatabaseUrlError):
            print(f"数据库错误：{exc}", file=sys.stderr)
            return 1
        logging.getLogger("gongji").debug("command failed", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"出错了（{type(exc).__name__}）：{redact(first)[:300]}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "ask":
        from bot.ask_cli import run_ask

        return run_ask(settings, args)
    if args.command == "people":
        from bot.admin_cli import run_people_import

        return run_people_import(settings, args.file)
    if args.command == "db":
        from bot.admin_cli import run_db_upgrade

        return run_db_upgrade(settings)
    if args.command == "audit":
        from bot.admin_cli import run_audit

        return run_audit(settings)
    if args.command == "kb":
        from bot.admin_cli import run_kb_taught

        return run_kb_taught(settings)
    if args.command == "console":
        from bot.console import run_console

        return run_console(settings, args)
    from bot.runtime import run_bot

    return run_bot(settings)


if __name__ == "__main__":
    sys.exit(main())
