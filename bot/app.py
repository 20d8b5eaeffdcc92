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
from bot.chat.outbox import Outbox
from bot.chat.slack.adapter import SlackAdapter, SlackChannels, SlackTransport
from bot.chat.surface import ChatSurface, open_surface
from bot.core.errors import ConfigError, StoreUnavailable
from bot.core.models import Alert, AlertStatus, format_time, utcnow
from bot.core.ports import ChatChannels, ChatEvent, ChatTransport, ContainmentKind, Reply
from bot.core.tasks import TaskSupervisor
from bot.enrichment import CaseEnricher, EnrichmentService
from bot.feed import EventFeed
from bot.incidents import IncidentService, Overview
from bot.intake.ioc import classify
from bot.intake.pipeline import Limits, SourceSpec
from bot.presenters import digest_card
from bot.scheduler import Scheduler
from bot.server import AlertEndpoint, IntakeConfig, build_app
from bot.settings import Settings, SlackSettings
from bot.store import health, intel
from bot.store import outbox as outbox_store
from bot.store.db import Database
from commands import CommandRouter, Services
from connectors import Registry, build_registry
from playbooks.engine.approvals import Access, Guardrails
from playbooks.engine.loader import LoadedPlaybook, PlaybookInvalid, Registries, load_all
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


def load_playbooks(settings: Settings, registries: Registries) -> list[LoadedPlaybook]:
    """The shipped playbooks plus those in ``playbooks_dir``; invalid files are a config error naming them."""
    extra = [Path(settings.playbooks_dir)] if settings.playbooks_dir else []
    try:
        return load_all(extra, registries=registries)
    except PlaybookInvalid as err:
        raise ConfigError([f"playbooks_dir: {problem}" for problem in err.problems]) from None


def guardrails(settings: Settings) -> Guardrails:
    """The critical-asset guardrails."""
    g = settings.guardrails
    return Guardrails(g.critical_hosts, g.critical_users, g.critical_ips, g.critical_min_approvals)


class App:
    """The running bot: plain wiring of the store, the services, the event feed and the configured surfaces.

    ``transports`` adds chat surfaces beyond the configured ones (each gets its own outbox and presenter); the
    tests use it to run the neutral in-memory surface beside Slack.
    """

    def __init__(self, settings: Settings, *, transports: Sequence[ChatTransport] = ()) -> None:
        self.settings = settings
        self.db = open_database(settings)
        self.cases = case_service(settings, self.db)
        self.connectors = registry(settings)
        self.enrichment = enrichment_service(settings, self.connectors, self.db)
        self.enricher = (
            CaseEnricher(self.enrichment, self.db, techniques=self.connectors.techniques)
            if settings.enrichment.auto
            else None
        )
        self.tasks = TaskSupervisor()
        self.feed = EventFeed(self.db)
        self.access = Access(settings.access.roles)  # one instance: the engine and the router authorize alike
        self._runner: web.AppRunner | None = None
        self._ready_probe: tuple[float, asyncio.Task[str | None]] | None = None
        self.port: int | None = None
        slack = settings.chat.slack
        self.slack = self._slack_adapter(slack) if slack is not None else None
        extra = list(transports)
        slack_transport = (
            SlackTransport(self.slack.client, slack.alerts_channel) if self.slack is not None and slack else None
        )
        # Incident channels open on the first platform that can create them (Slack today).
        channels: ChatChannels | None = None
        if self.slack is not None:
            channels = SlackChannels(
                self.slack.client,
                bot_user=lambda: self.slack.bot_user if self.slack else None,
                drained=partial(self._drained, "slack"),
            )
        self.incidents = IncidentService(
            self.db,
            self.cases,
            channels=channels,
            responders=list(slack.incident_responders) if slack else [],
            archive_on_resolve=slack.archive_on_resolve if slack else True,
        )
        # One set of registries: the playbooks are validated against the same step kinds and actions the engine runs.
        registries = Registries.builtin()
        self.engine = Engine(
            db=self.db,
            cases=self.cases,
            enrichment=self.enrichment,
            responders=self.connectors,
            playbooks=load_playbooks(settings, registries),
            actions=registries.actions,
            steps=registries.steps,
            access=self.access,
            guardrails=guardrails(settings),
            incidents=self.incidents,
        )
        self.surfaces: dict[str, ChatSurface] = {}
        for transport, per_second in [
            *([(slack_transport, slack.messages_per_second)] if slack_transport and slack else []),
            *((t, 1.0) for t in extra),
        ]:
            self.surfaces[transport.platform] = open_surface(
                transport,
                db=self.db,
                feed=self.feed,
                cases=self.cases,
                incidents=self.incidents,
                per_second=per_second,
            )
        slack_outbox = self.surfaces["slack"].outbox if "slack" in self.surfaces else None
        self.router = CommandRouter(
            Services(
                cases=self.cases,
                enrichment=self.enrichment,
                engine=self.engine,
                access=self.access,
                chat=slack_outbox,
                channels=channels,
                incidents=self.incidents,
                db=self.db,
                classify=classify,
                incident_responders=list(slack.incident_responders) if slack else [],
                archive_on_resolve=slack.archive_on_resolve if slack else True,
                bot_user=lambda: self.slack.bot_user if self.slack else None,  # learned when Slack starts
                case_for_thread=self._case_for_thread,
            )
        )
        self.scheduler: Scheduler | None = None
        if slack is not None and slack.digest_channel and slack_outbox is not None:
            self.scheduler = Scheduler()
            self.scheduler.daily(slack.digest_at, partial(self.post_digest, slack.digest_channel), name="daily-digest")

    @property
    def outbox(self) -> Outbox | None:
        """Slack's outbox, when Slack is configured."""
        surface = self.surfaces.get("slack")
        return surface.outbox if surface is not None else None

    def _slack_adapter(self, slack: SlackSettings) -> SlackAdapter:
        return SlackAdapter(
            bot_token=slack.bot_token.get_secret_value(),
            signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else None,
            app_token=slack.app_token.get_secret_value() if slack.app_token else None,
            api_url=slack.api_url,
            dispatch=self._dispatch,
            tasks=self.tasks,
        )

    async def post_digest(self, channel: str) -> None:
        """Post the last day's digest (open cases, pending approvals, actions) to Slack's ``channel``."""
        assert self.outbox is not None
        digest = await Overview(self.db).digest(since=utcnow() - timedelta(hours=24))
        await self.outbox.post(channel, digest_card(digest, case_id=None))

    async def _refresh_groups(self) -> None:
        """Let user groups listed in access.roles stand for their current members (a failed read keeps the last)."""
        assert self.slack is not None
        members = await self.slack.usergroup_members(sorted(self.access.groups()))
        if members:
            self.access.use_group_members(members)

    async def _refresh_groups_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._refresh_groups()

    async def _drained(self, platform: str, channel: str) -> bool:
        """Whether ``channel``'s queued messages (e.g. an incident's final summary) have left ``platform``'s outbox."""
        surface = self.surfaces.get(platform)
        return True if surface is None else await surface.outbox.drained(channel)

    async def _dispatch(self, event: ChatEvent) -> Reply | None:
        return await self.router.dispatch(event)

    async def _case_for_thread(self, platform: str, channel: str, thread: str) -> int | None:
        """The case whose card (on ``platform``) is the root of ``thread``: the outbox knows what it sent."""
        return await outbox_store.case_for_message(self.db.reader, platform, channel, thread)

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
        # The feed first: a surface seen for the first time starts at the head, so nothing may commit events
        # (resumed enrichment, resumed runs) before its cursor is placed.
        await self.feed.start()
        if self.enricher is not None:
            await self.enricher.start()
        self.tasks.spawn(self._purge_cache_hourly(), name="purge-intel-cache")
        await self.engine.start()
        for platform, surface in self.surfaces.items():
            self.tasks.spawn(surface.outbox.run(), name=f"{platform}-outbox")
        if self.slack is not None:
            await self.slack.start()
            if self.scheduler is not None:
                self.scheduler.start()
            if self.access.groups():
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
        web_app = build_app(AlertEndpoint(config, self.cases, self._ingested), self._ready, routes)
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

    async def _ready(self) -> str | None:
        """None when a write commits now; otherwise why not (``/readyz`` answers 503 with it).

        Probes within a second share one write, so a load balancer polling hard costs at most one fsync a second.
        """
        loop = asyncio.get_running_loop()
        if self._ready_probe is None or loop.time() - self._ready_probe[0] > 1.0:
            self._ready_probe = (loop.time(), loop.create_task(self._probe_write()))
        return await asyncio.shield(self._ready_probe[1])

    async def _probe_write(self) -> str | None:
        try:
            await self.db.write(partial(health.probe_write_tx, now=format_time(utcnow())))
        except StoreUnavailable as err:
            logger.warning("Readiness: the database cannot be written: %s", err)
            return "the database cannot be written"
        except Exception:  # noqa: BLE001 - a probe answers "not ready", it never fails the request
            logger.exception("Readiness probe failed")
            return "the readiness probe failed"
        return None

    async def stop(self) -> None:
        """Stop accepting requests, stop enrichment, close connectors, finish in-flight writes, close the store."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.scheduler is not None:
            self.scheduler.stop()
        await self.engine.aclose()
        await self.feed.aclose()
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
