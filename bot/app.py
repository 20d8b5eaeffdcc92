"""Composition root: settings → store → case service → intake → HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

from aiohttp import web

from bot.cases import CaseService, IngestOutcome
from bot.chat.cards import case_card
from bot.chat.outbox import Outbox
from bot.chat.slack.adapter import SlackAdapter, SlackChannels, SlackTransport
from bot.core.errors import ConfigError
from bot.core.models import Alert, AlertStatus, format_time, utcnow
from bot.core.ports import ChatEvent, ContainmentKind, Reply
from bot.core.tasks import TaskSupervisor
from bot.enrichment import CaseEnricher, EnrichmentService
from bot.incidents import Overview
from bot.intake.ioc import classify
from bot.intake.pipeline import Limits, SourceSpec
from bot.scheduler import Scheduler
from bot.server import AlertEndpoint, IntakeConfig, build_app
from bot.settings import Settings, SlackSettings
from bot.store import intel
from bot.store import outbox as outbox_store
from bot.store.db import Database
from commands import CommandRouter, Services
from commands.digest import digest_card
from connectors import Registry, build_registry
from playbooks.engine.approvals import Access, Guardrails
from playbooks.engine.loader import LoadedPlaybook, PlaybookInvalid, load_all
from playbooks.engine.runner import Engine

logger = logging.getLogger(__name__)


def open_database(settings: Settings) -> Database:
    """The database described by ``settings`` (not yet opened)."""
    return Database(
        settings.database_path,
        synchronous=settings.store.synchronous,
        busy_timeout=settings.store.busy_timeout,
        max_batch=settings.store.max_batch,
    )


def case_service(settings: Settings, db: Database) -> CaseService:
    """The case service with each source's grouping keys."""
    group_by = {name: tuple(source.group_by) for name, source in settings.sources.items()}
    return CaseService(db, window=settings.grouping.window, group_by=group_by)


def source_specs(settings: Settings) -> dict[str, SourceSpec]:
    """Intake's view of the configured sources (secrets unwrapped here, at the edge that uses them)."""
    return {
        name: SourceSpec(
            name=name,
            format=source.format,
            token=source.token.get_secret_value() if source.token else None,
            hmac_secret=source.hmac_secret.get_secret_value() if source.hmac_secret else None,
            options=source.format_options(),
            group_by=tuple(source.group_by),
        )
        for name, source in settings.sources.items()
    }


def registry(settings: Settings) -> Registry:
    """Build the configured connectors."""
    responders = {
        ContainmentKind(kind): name for kind, name in settings.response.model_dump().items() if name is not None
    }
    return build_registry(settings.connectors, responders=responders)


def enrichment_service(settings: Settings, connectors: Registry, db: Database | None) -> EnrichmentService:
    """The enrichment service over the configured intel connectors."""
    config = settings.enrichment
    return EnrichmentService(
        connectors.intel,
        db,
        deadline=config.deadline,
        cache_ttl=config.cache_ttl,
        negative_ttl=config.negative_ttl,
        internal_domains=config.internal_domains,
    )


def load_playbooks(settings: Settings) -> list[LoadedPlaybook]:
    """The shipped playbooks plus those in ``playbooks_dir``; invalid files are a config error naming them."""
    extra = [Path(settings.playbooks_dir)] if settings.playbooks_dir else []
    try:
        return load_all(extra)
    except PlaybookInvalid as err:
        raise ConfigError([f"playbooks_dir: {problem}" for problem in err.problems]) from None


def guardrails(settings: Settings) -> Guardrails:
    """The critical-asset guardrails."""
    g = settings.guardrails
    return Guardrails(g.critical_hosts, g.critical_users, g.critical_ips, g.critical_min_approvals)


class App:
    """The running bot: owns the database, the connectors, background enrichment and the HTTP site."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = open_database(settings)
        self.cases = case_service(settings, self.db)
        self.connectors = registry(settings)
        self.enrichment = enrichment_service(settings, self.connectors, self.db)
        self.enricher = (
            CaseEnricher(
                self.enrichment, self.db, techniques=self.connectors.techniques, on_recorded=self._case_changed
            )
            if settings.enrichment.auto
            else None
        )
        self.engine = Engine(
            db=self.db,
            cases=self.cases,
            enrichment=self.enrichment,
            responders=self.connectors,
            playbooks=load_playbooks(settings),
            access=Access(settings.access.roles),
            guardrails=guardrails(settings),
        )
        self.tasks = TaskSupervisor()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.slack: SlackAdapter | None = None
        self.outbox: Outbox | None = None
        self.router: CommandRouter | None = None
        self.scheduler: Scheduler | None = None
        self._dirty: set[int] = set()
        self._dirty_event = asyncio.Event()
        if settings.chat.slack is not None:
            self._wire_slack(settings.chat.slack)

    def _wire_slack(self, slack: SlackSettings) -> None:
        """Slack in both directions: the outbox posts to Slack; clicks and commands go to the router."""
        self.slack = SlackAdapter(
            bot_token=slack.bot_token.get_secret_value(),
            signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else None,
            app_token=slack.app_token.get_secret_value() if slack.app_token else None,
            api_url=slack.api_url,
            dispatch=self._dispatch,
            tasks=self.tasks,
        )
        self.outbox = Outbox(
            self.db, SlackTransport(self.slack.client, slack.alerts_channel), per_second=slack.messages_per_second
        )
        channels = SlackChannels(
            self.slack.client, self.outbox, bot_user=lambda: self.slack.bot_user if self.slack else None
        )
        self.router = CommandRouter(
            Services(
                cases=self.cases,
                enrichment=self.enrichment,
                engine=self.engine,
                access=Access(self.settings.access.roles),
                chat=self.outbox,
                channels=channels,
                db=self.db,
                classify=classify,
                incident_responders=list(slack.incident_responders),
                archive_on_resolve=slack.archive_on_resolve,
                bot_user=None,
                case_for_thread=self._case_for_thread,
                alerts_channel=slack.alerts_channel,
            )
        )
        self.engine.incidents = self.router.incidents  # playbooks' create_incident opens real channels
        self.cases.on_change(self._case_changed)
        if slack.digest_channel:
            self.scheduler = Scheduler()
            self.scheduler.daily(slack.digest_at, partial(self.post_digest, slack.digest_channel), name="daily-digest")

    async def post_digest(self, channel: str) -> None:
        """Post the last day's digest (open cases, pending approvals, actions) to ``channel``."""
        assert self.outbox is not None
        digest = await Overview(self.db).digest(since=utcnow() - timedelta(hours=24))
        await self.outbox.post(channel, digest_card(digest, case_id=None))

    async def _refresh_groups(self) -> None:
        """Let user groups listed in access.roles stand for their current members (a failed read keeps the last)."""
        assert self.slack is not None
        assert self.router is not None
        base = Access(self.settings.access.roles)
        members = await self.slack.usergroup_members(sorted(base.groups()))
        if members:
            current = base.expanded(members)
            self.engine.access = current
            self.router.services.access = current

    async def _refresh_groups_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._refresh_groups()

    async def _dispatch(self, event: ChatEvent) -> Reply | None:
        assert self.router is not None
        return await self.router.dispatch(event)

    async def _case_for_thread(self, channel: str, thread_ts: str) -> int | None:
        return await outbox_store.case_for_message(self.db.reader, "slack", channel, thread_ts)

    def _case_changed(self, case_id: int) -> None:
        if self.outbox is not None:
            self._dirty.add(case_id)
            self._dirty_event.set()

    async def _refresh_cards(self) -> None:
        """Keep each case's one alert card current (debounced: a storm of changes is one render a second)."""
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            await asyncio.sleep(0.5)
            cases, self._dirty = self._dirty, set()
            for case_id in sorted(cases):
                try:
                    await self._render_card(case_id)
                except Exception:  # noqa: BLE001 - one bad card must not stop the others
                    logger.exception("Could not render the card of case %s", case_id)

    async def _render_card(self, case_id: int) -> None:
        assert self.outbox is not None
        view = await self.cases.card_view(case_id)
        card = case_card(
            view.case,
            link=view.link,
            observables=view.observables,
            verdicts=view.verdicts,
            techniques=view.techniques,
        )
        await self.outbox.show_case(case_id, card)

    async def _purge_cache_hourly(self) -> None:
        while True:
            now = format_time(utcnow())
            purged = await self.db.write(partial(intel.purge_cache_tx, now=now))
            if purged:
                logger.info("Purged %d expired intel cache entries", purged)
            await asyncio.sleep(3600)

    def _ingested(self, alerts: Sequence[Alert], outcomes: Sequence[IngestOutcome]) -> None:
        if self.enricher is not None:
            for alert, outcome in zip(alerts, outcomes, strict=True):
                if not outcome.duplicate and alert.status is AlertStatus.FIRING:
                    text = f"{alert.title}\n{alert.description}\n{alert.raw}"
                    self.enricher.submit(outcome.case_id, alert.observables, text)
        self.engine.on_ingested(alerts, outcomes)

    async def start(self) -> None:
        """Open the store, start enrichment and start serving."""
        await self.db.open()
        if self.enricher is not None:
            await self.enricher.start()
        self.tasks.spawn(self._purge_cache_hourly(), name="purge-intel-cache")
        await self.engine.start()
        if self.slack is not None and self.outbox is not None:
            await self.slack.start()
            if self.router is not None:
                self.router.services.bot_user = self.slack.bot_user
            self.tasks.spawn(self.outbox.run(), name="slack-outbox")
            self.tasks.spawn(self._refresh_cards(), name="case-cards")
            if self.scheduler is not None:
                self.scheduler.start()
            if Access(self.settings.access.roles).groups():
                await self._refresh_groups()
                self.tasks.spawn(self._refresh_groups_every(600), name="slack-usergroups")
        config = IntakeConfig(
            sources=source_specs(self.settings),
            max_body_bytes=self.settings.server.max_body_bytes,
            limits=Limits(self.settings.intake.max_observables, self.settings.intake.max_text_chars),
        )
        # /slack/events exists only in HTTP mode: without a signing secret nothing could verify what arrives there.
        slack_http = (
            self.slack is not None
            and self.settings.chat.slack is not None
            and (self.settings.chat.slack.signing_secret is not None)
        )
        routes = [("POST", "/slack/events", self.slack.handle)] if slack_http and self.slack is not None else []
        web_app = build_app(AlertEndpoint(config, self.cases, self._ingested), self._healthy, routes)
        # No access log: one line per alert is noise at thousands per second; state changes are logged instead.
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        host, port = self.settings.server.host, self.settings.server.port
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as err:
            await self.stop()
            raise ConfigError([f"server.port: cannot listen on {host}:{port}: {err.strerror}"]) from err
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.settings.server.port
        logger.info("soarbot listening on http://%s:%s", self.settings.server.host, self.port)

    async def _healthy(self) -> bool:
        try:
            async with self.db.reader.execute("SELECT 1") as cursor:
                await cursor.fetchone()
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            logger.warning("Health check: database unreachable", exc_info=True)
            return False
        return True

    async def stop(self) -> None:
        """Stop accepting requests, stop enrichment, close connectors, finish in-flight writes, close the store."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.scheduler is not None:
            self.scheduler.stop()
        await self.engine.aclose()
        await self.tasks.aclose()
        if self.slack is not None:
            await self.slack.stop()
        if self.enricher is not None:
            await self.enricher.aclose()
        await self.connectors.aclose()
        await self.db.close()


async def serve(settings: Settings, started: asyncio.Event | None = None) -> None:
    """Run until SIGINT or SIGTERM."""
    app = App(settings)
    await app.start()
    if started is not None:
        started.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        logger.info("Shutting down")
        await app.stop()
