"""The ``soarbot`` command line: run, check-config [--probe], enrich, case …, playbook validate/test, alert send.

Every command takes ``--config PATH`` (before or after the sub-command). Exit codes: 0 success, 1 failure
(unknown case, broken chain, refused delivery), 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot import __version__
from bot.app import case_service, enrichment_service, open_database, registry, serve
from bot.core.errors import ConfigError, ConnectorError, StoreUnavailable, UserInputError
from bot.core.models import CaseStatus
from bot.core.ports import VerdictLevel
from bot.dryrun import DryRun, dry_run
from bot.intake.ioc import classify
from bot.intake.parsers import FORMATS
from bot.intake.pipeline import SourceSpec, build_alerts, decode
from bot.settings import Loaded, load
from bot.store.cases import verify_chain
from connectors import build_registry
from playbooks.engine.loader import LoadedPlaybook, PlaybookInvalid, load_file

logger = logging.getLogger("soarbot")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (or $SOARBOT_CONFIG)")

    parser = argparse.ArgumentParser(prog="soarbot", description="ChatOps SOAR bot.", parents=[common])
    parser.add_argument("--version", action="version", version=f"soarbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", parents=[common], help="start the bot")
    check = commands.add_parser("check-config", parents=[common], help="validate the configuration")
    check.add_argument("--probe", action="store_true", help="also prove each connector's credentials and reach")

    enrich = commands.add_parser("enrich", parents=[common], help="enrich indicators with every intel source")
    enrich.add_argument("values", nargs="+", metavar="VALUE", help="an indicator; kind:value for users and hosts")
    enrich.add_argument("--json", action="store_true", help="print JSON")
    enrich.add_argument("--refresh", action="store_true", help="ignore cached answers")

    case = commands.add_parser("case", parents=[common], help="inspect cases")
    case_commands = case.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    listing = case_commands.add_parser("list", parents=[common], help="list recent cases")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--status", choices=[str(s) for s in CaseStatus])
    listing.add_argument("--limit", type=int, default=100)
    show = case_commands.add_parser("show", parents=[common], help="show one case")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    export = case_commands.add_parser("export", parents=[common], help="export a case with its timeline")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=["json", "markdown"], default="json")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    verify = case_commands.add_parser("verify", parents=[common], help="verify a case timeline's hash chain")
    verify.add_argument("id", type=int, nargs="?")
    verify.add_argument("--export", metavar="FILE", help="verify an exported JSON file instead of the database")

    playbook = commands.add_parser("playbook", parents=[common], help="validate and dry-run playbooks")
    playbook_commands = playbook.add_subparsers(dest="playbook_command", required=True, metavar="ACTION")
    validate_cmd = playbook_commands.add_parser("validate", parents=[common], help="check playbook files")
    validate_cmd.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    dry = playbook_commands.add_parser("test", parents=[common], help="dry-run a playbook on a sample alert")
    dry.add_argument("path", type=Path, metavar="PATH")
    dry.add_argument("--alert", required=True, type=Path, metavar="FILE", help="a sample alert body")
    dry.add_argument("--source", required=True, metavar="FORMAT", help="the alert's format (splunk, elastic, ...)")
    dry.add_argument("--answer", choices=["approve", "deny"], default="approve", help="how approvals are answered")
    dry.add_argument(
        "--verdict",
        action="append",
        default=[],
        metavar="VALUE=LEVEL",
        help="force an indicator's verdict (malicious, suspicious, benign), e.g. 203.0.113.5=malicious",
    )
    dry.add_argument("--json", action="store_true", help="print JSON")

    alert = commands.add_parser("alert", parents=[common], help="send alerts")
    alert_commands = alert.add_subparsers(dest="alert_command", required=True, metavar="ACTION")
    send = alert_commands.add_parser("send", parents=[common], help="post a sample alert file to the running bot")
    send.add_argument("file", type=Path)
    send.add_argument("--source", required=True, help="configured source name")
    send.add_argument("--url", help="bot base URL (default: from server.host/port)")
    send.add_argument("--token", help="source token (default: from the config or the local default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``soarbot`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO; the CLI prints the outcome itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        loaded = load(getattr(args, "config", None))
        logging.getLogger().setLevel(loaded.settings.log_level.upper())
        return _dispatch(args, loaded)
    except ConfigError as error:
        for problem in error.problems:
            err.print(f"config error: {problem}", markup=False)
        return 2
    except UserInputError as error:
        err.print(f"error: {error}", markup=False)
        return 1
    except StoreUnavailable as error:
        err.print(f"error: {error}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        error_id = secrets.token_hex(4)
        logger.exception("Unexpected error %s", error_id)
        err.print(f"error: unexpected failure (id {error_id}); see the log above", markup=False)
        return 1


def _dispatch(args: argparse.Namespace, loaded: Loaded) -> int:
    match args.command:
        case "run":
            _banner(loaded)
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(serve(loaded.settings))
            return 0
        case "check-config":
            status = _check_config(loaded)
            return asyncio.run(_probe(loaded)) if args.probe else status
        case "enrich":
            return asyncio.run(_enrich(args, loaded))
        case "case":
            handlers: dict[str, Callable[[argparse.Namespace, Loaded], Coroutine[Any, Any, int]]] = {
                "list": _case_list,
                "show": _case_show,
                "export": _case_export,
                "verify": _case_verify,
            }
            return asyncio.run(handlers[args.case_command](args, loaded))
        case "alert":
            return asyncio.run(_alert_send(args, loaded))
        case "playbook" if args.playbook_command == "validate":
            return _playbook_validate(args.paths)
        case "playbook":
            return asyncio.run(_playbook_test(args, loaded))
    raise AssertionError(args.command)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Use uvloop where it is installed (Linux, macOS): the event loop then costs less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _base_url(loaded: Loaded) -> str:
    host = loaded.settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading the bind address, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{loaded.settings.server.port}"


def _banner(loaded: Loaded) -> None:
    settings = loaded.settings
    origin = str(loaded.path) if loaded.path else "local defaults (no config file)"
    out.print(f"soarbot {__version__} — config: {origin}; database: {settings.database_path}", markup=False)
    if loaded.generated_tokens:
        # Plain lines, not a table: the tokens must survive narrow terminals and log files whole.
        out.print("Alert sources (local default; tokens kept in data/source-tokens.json):", markup=False)
        width = max(len(name) for name in loaded.generated_tokens)
        for name, token in loaded.generated_tokens.items():
            out.print(f"  {name:<{width}}  {_base_url(loaded)}/alerts/{name}?token={token}", markup=False)
        out.print("Try: soarbot alert send tests/fixtures/alerts/splunk.json --source splunk", markup=False)
    elif not settings.sources:
        out.print("warning: no alert sources are configured (sources: in the config file)", markup=False)


def _check_config(loaded: Loaded) -> int:
    settings = loaded.settings
    origin = loaded.path or "local defaults"
    out.print(
        f"config OK ({origin}): {len(settings.sources)} alert source(s), database {settings.database_path}",
        markup=False,
    )
    for name, source in sorted(settings.sources.items()):
        auth = " + ".join(k for k in ("token", "hmac_secret") if getattr(source, k) is not None)
        out.print(f"  source {name}: format {source.format}, auth {auth}", markup=False)
    return 0


async def _probe(loaded: Loaded) -> int:
    connectors = registry(loaded.settings)
    failed = 0
    try:
        seen: set[str] = set()
        for connector in connectors.connectors:
            if connector.name in seen:
                continue
            seen.add(connector.name)
            try:
                async with asyncio.timeout(20):
                    detail = await connector.check()
            except (ConnectorError, TimeoutError) as error:
                failed += 1
                out.print(f"  FAIL {connector.name}: {error or 'no answer within 20s'}", markup=False)
            else:
                out.print(f"  ok   {connector.name}: {detail}", markup=False)
    finally:
        await connectors.aclose()
    return 1 if failed else 0


async def _enrich(args: argparse.Namespace, loaded: Loaded) -> int:
    observables = []
    for value in args.values:
        found = classify(value)
        if found is None:
            raise UserInputError(f"not an indicator: {value!r} (for users and hosts write user:NAME or host:NAME)")
        observables.append(found)
    connectors = registry(loaded.settings)
    db = open_database(loaded.settings)
    await db.open()
    try:
        reports = await enrichment_service(loaded.settings, connectors, db).enrich(observables, refresh=args.refresh)
    finally:
        await connectors.aclose()
        await db.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return 0
    table = Table(show_lines=True)
    for column in ("indicator", "verdict", "score", "evidence"):
        table.add_column(column, overflow="fold")
    for r in reports:
        evidence = [f"{v.source}: {v.level} {v.score} — {v.summary}" for v in r.verdicts]
        evidence += [f"{f.source}: FAILED — {f.reason}" for f in r.failures]
        evidence += [f"{f.source}: skipped — {f.reason}" for f in r.skipped]
        if r.cached:
            evidence.append(f"(cached: {', '.join(r.cached)})")
        indicator = f"{r.observable.kind} {r.observable.value}" + (" (internal)" if r.observable.internal else "")
        table.add_row(
            Text(indicator),
            Text(str(r.level)),
            str(r.score),
            Text("\n".join(evidence) or "no source handles this kind"),
        )
    out.print(table)
    return 0


async def _with_cases(loaded: Loaded, work: Callable[[Any], Awaitable[int]]) -> int:
    db = open_database(loaded.settings)
    await db.open()
    try:
        return await work(case_service(loaded.settings, db))
    finally:
        await db.close()


async def _case_list(args: argparse.Namespace, loaded: Loaded) -> int:
    async def work(cases: Any) -> int:
        status = CaseStatus(args.status) if args.status else None
        found = await cases.list_cases(status=status, limit=args.limit)
        if args.json:
            print(json.dumps([c.to_dict() for c in found], indent=2))
            return 0
        table = Table()
        for column in ("id", "status", "severity", "alerts", "last seen", "title"):
            table.add_column(column)
        for c in found:
            table.add_row(
                str(c.id), str(c.status), str(c.severity), str(c.alert_count), c.to_dict()["last_seen"], c.title
            )
        out.print(table)
        return 0

    return await _with_cases(loaded, work)


async def _case_show(args: argparse.Namespace, loaded: Loaded) -> int:
    async def work(cases: Any) -> int:
        exported = await cases.export(args.id)
        if args.json:
            print(json.dumps(exported, indent=2))
        else:
            print(render_markdown(exported))
        return 0

    return await _with_cases(loaded, work)


async def _case_export(args: argparse.Namespace, loaded: Loaded) -> int:
    async def work(cases: Any) -> int:
        exported = await cases.export(args.id)
        text = json.dumps(exported, indent=2) if args.format == "json" else render_markdown(exported)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_text, text + "\n", encoding="utf-8")
        else:
            print(text)
        return 0

    return await _with_cases(loaded, work)


async def _case_verify(args: argparse.Namespace, loaded: Loaded) -> int:
    if args.export:
        try:
            document = json.loads(await asyncio.to_thread(Path(args.export).read_text, encoding="utf-8"))
            events = document["timeline"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserInputError(f"{args.export}: not a case export ({error.__class__.__name__})") from None
        broken = verify_chain(events)
        label = args.export
    elif args.id is None:
        raise UserInputError("give a case ID or --export FILE")
    else:
        label = f"case {args.id}"

        async def work(cases: Any) -> int:
            nonlocal broken
            broken = await cases.verify(args.id)
            return 0

        broken = None
        await _with_cases(loaded, work)
    if broken is not None:
        print(f"{label}: chain BROKEN at entry {broken.seq}: {broken.reason}")
        return 1
    print(f"{label}: chain intact")
    return 0


async def _alert_send(args: argparse.Namespace, loaded: Loaded) -> int:
    name = args.source
    source = loaded.settings.sources.get(name)
    try:
        body = await asyncio.to_thread(args.file.read_bytes)
    except OSError as error:
        raise UserInputError(f"{args.file}: cannot read ({error.strerror})") from None
    headers = {"Content-Type": "application/json"}
    token = args.token or (source.token.get_secret_value() if source and source.token else None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if source is not None and source.hmac_secret is not None:
        from bot.intake.auth import SIGNATURE_HEADER, signature

        headers[SIGNATURE_HEADER] = signature(source.hmac_secret.get_secret_value(), body)
    url = f"{(args.url or _base_url(loaded)).rstrip('/')}/alerts/{name}"
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise UserInputError(f"cannot reach {url}: {error.__class__.__name__}; is `soarbot run` up?") from None
    print(f"{response.status_code} {response.text}")
    return 0 if response.is_success else 1


def _playbook_validate(paths: Sequence[Path]) -> int:
    failed = 0
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
        for file in files:
            try:
                playbook = load_file(file)
            except PlaybookInvalid as error:
                failed += 1
                for problem in error.problems:
                    print(problem)
                continue
            print(f"{file}: ok ({playbook.name} v{playbook.version}, {len(playbook.all_steps())} steps)")
    return 1 if failed else 0


async def _playbook_test(args: argparse.Namespace, loaded: Loaded) -> int:
    try:
        playbook = load_file(args.path)
    except PlaybookInvalid as error:
        for problem in error.problems:
            print(problem)
        return 1
    if args.source not in FORMATS:
        raise UserInputError(f"unknown format {args.source!r}; use one of {', '.join(FORMATS)}")
    verdicts = {}
    for item in args.verdict:
        value, _, level = item.rpartition("=")
        try:
            verdicts[value] = VerdictLevel(level)
        except ValueError:
            raise UserInputError(f"--verdict {item!r}: use VALUE=malicious|suspicious|benign|unknown") from None
    try:
        body = await asyncio.to_thread(args.alert.read_bytes)
    except OSError as error:
        raise UserInputError(f"{args.alert}: cannot read ({error.strerror})") from None
    spec = SourceSpec(name=args.source, format=args.source)
    alerts = build_alerts(spec, decode(body), body)
    # Offline intel and the simulated responders only: a dry run reaches no vendor and changes nothing.
    connectors = build_registry(
        {"offline": loaded.settings.connectors["offline"], "simulated": loaded.settings.connectors["simulated"]}
    )
    try:
        reports = await dry_run(
            LoadedPlaybook(playbook, str(args.path)),
            alerts,
            lookups=connectors.intel,
            responders=connectors,
            answer=args.answer,
            verdicts=verdicts,
        )
    finally:
        await connectors.aclose()
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2, default=str))
        return 0
    for report in reports:
        _print_dry_run(playbook.name, report)
    return 0


def _print_dry_run(name: str, report: DryRun) -> None:
    print(f"Playbook {name} on alert {report.alert!r}")
    if not report.matched:
        print("  does not trigger: " + "; ".join(report.reasons))
        return
    print(f"  run {report.status}" + (f": {report.error}" if report.error else ""))
    for step, status, _ in report.steps:
        print(f"  step {step}: {status}")
    for a in report.approvals:
        flag = " [critical asset]" if a.critical else ""
        print(f"  approval #{a.id}: {a.action} {a.target} needs {a.required}{flag} -> {a.status}")
    for card in report.cards:
        buttons = f" [{', '.join(b.label for b in card.card.buttons)}]" if card.card.buttons else ""
        where = card.channel + (" (thread)" if card.thread else "")
        print(f"  card to {where}: {card.card.title}{buttons}")
    for data in report.to_dict()["actions"]:
        result = data.get("result") or {}
        print(f"  action: {data['action']} {data['target']} via {data['connector']}: {result.get('message', '')}")


def render_markdown(exported: dict[str, Any]) -> str:
    """A case export as Markdown, for pasting into a ticket or a report."""
    case = exported["case"]
    lines = [
        f"# Case {case['id']}: {_md(case['title'])}",
        "",
        f"- **Status:** {case['status']}",
        f"- **Severity:** {case['severity']}",
        f"- **Source / rule:** {_md(case['source'])} / {_md(case['rule'])}",
        f"- **Alerts:** {case['alert_count']} (first seen {case['first_seen']}, last seen {case['last_seen']})",
        f"- **Assignee:** {_md(case['assignee'] or '—')}",
        "",
        "## Indicators",
        "",
    ]
    observables = exported.get("observables", [])
    verdicts = {(v["indicator"]["kind"], v["indicator"]["value"]): v for v in exported.get("verdicts", [])}
    if observables:
        lines += ["| kind | value | role | internal | verdict | evidence |", "|---|---|---|---|---|---|"]
        for o in observables:
            internal = "yes" if o["internal"] else ""
            verdict = verdicts.get((o["kind"], o["value"]))
            level = f"{verdict['level']} ({verdict['score']})" if verdict else "not enriched"
            evidence = "; ".join(
                f"{v['source']}: {v['level']}" for v in (verdict or {}).get("verdicts", []) if v["level"] != "unknown"
            )
            role = o["role"] or ""
            lines.append(f"| {o['kind']} | `{_cell(o['value'])}` | {role} | {internal} | {level} | {_cell(evidence)} |")
    else:
        lines.append("None extracted.")
    lines += ["", "## Alerts", "", "| id | time | severity | status | title |", "|---|---|---|---|---|"]
    for a in exported.get("alerts", []):
        lines.append(f"| {a['id']} | {a['time']} | {a['severity']} | {a['status']} | {_cell(a['title'])} |")
    lines += ["", "## Timeline", ""]
    for e in exported.get("timeline", []):
        lines.append(f"{e['seq']}. `{e['at']}` **{e['type']}** by {_md(e['actor'])} — hash `{e['hash'][:16]}…`")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Keep alert text from turning into Markdown links or markup in a report."""
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")
