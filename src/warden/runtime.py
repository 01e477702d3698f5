"""The composition root: one store, one ledger, the registry, policies and the pipeline.

``Runtime`` is async and is what the HTTP server runs. ``warden.Warden`` wraps it for
Python callers (sync and async).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.access.service import AccessService
from warden.alerts.webhooks import Alert, WebhookNotifier, secret_from_env, webhooks_from_env
from warden.approvals.service import ApprovalService
from warden.audit.errors import LedgerUnavailable
from warden.audit.ledger import Ledger, new_entry_id
from warden.audit.models import EventType
from warden.audit.store.sql import SqlLedgerStore
from warden.audit.store.sqlite import SqliteLedgerStore
from warden.behavior.analyser import DriftAnalyser
from warden.behavior.service import BehaviorService
from warden.chains.analyser import ChainAnalyser
from warden.chains.errors import InvalidChain
from warden.chains.exchange import ChainDelegations
from warden.chains.service import ChainService
from warden.decisions.analysers import DEFAULT_ANALYSERS, Analyser, is_agent
from warden.decisions.models import Decision, DecisionRequest, Outcome, Reason
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.entitlements.cedar import GrantAnalyser
from warden.entitlements.service import EntitlementService
from warden.entitlements.store.sql import SqlEntitlementStore
from warden.entitlements.usage import LedgerUsage
from warden.gateway.broker import CredentialBroker
from warden.gateway.connections.crypto import SecretBox
from warden.gateway.connections.service import ConnectionService
from warden.gateway.connections.store import SqlConnectionStore
from warden.gateway.core import DEFAULT_HOLD_SECONDS, Gateway
from warden.intervention import KillEffects, Signals, step_up
from warden.kill.analyser import KillAnalyser
from warden.kill.channel import KillChannel
from warden.kill.models import KillKind
from warden.kill.service import KillSwitch
from warden.mandates.analyser import MandateAnalyser
from warden.mandates.errors import InvalidMandate
from warden.mandates.intent import ProfileText, extract_designated, make_matcher
from warden.mandates.models import BudgetCharge, DesignatedValue
from warden.mandates.profiles.profile import PurposeProfile
from warden.mandates.profiles.service import ProfileService
from warden.mandates.profiles.store import SqlProfileStore
from warden.mandates.provenance import ProvenanceIndex
from warden.mandates.service import MandateService
from warden.policy.bundle import default_schema, load_bundle
from warden.policy.engine import PreparedPolicies
from warden.policy.errors import PolicyValidationError
from warden.policy.models import Bundle, PolicyRevision
from warden.policy.service import PolicyService
from warden.policy.store.sql import SqlPolicyStore
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus
from warden.registry.service import RegistryService
from warden.registry.store.sql import SqlRegistryStore
from warden.reviews.service import ReviewService
from warden.reviews.store import ReviewStore
from warden.scim.service import ScimResources
from warden.sessions.analyser import SessionAnalyser
from warden.sessions.facts import ActionFacts, FactsCache, extract
from warden.sessions.service import SessionService
from warden.sessions.state import SessionState
from warden.shadow.analyser import BlockedAnalyser
from warden.shadow.models import Surface
from warden.shadow.service import ShadowService
from warden.shadow.sources import sight_decision, token_refusals
from warden.shadow.store import SqlSightingStore
from warden.ssf.receiver import Signal, SsfReceiver, trusted_from_env
from warden.ssf.transmitter import SsfTransmitter
from warden.store.db import DatabaseURL, migrate, open_engine, parse_database_url
from warden.tokens.service import AuthorizationServer
from warden.tokens.settings import TokenSettings
from warden.tokens.svid import SvidAuthority

log = logging.getLogger("warden")

Housekeeping = Callable[[datetime], Awaitable[object]]

_EMPTY_BUNDLE_SOURCE = "warden:empty"
_DECISION_EVENTS = {
    Outcome.ALLOW: EventType.DECISION_ALLOW,
    Outcome.STEP_UP: EventType.DECISION_STEP_UP,
    Outcome.DENY: EventType.DECISION_DENY,
}


class Runtime:
    """Everything a decision needs, wired once. Create with :meth:`open`."""

    def __init__(
        self, url: DatabaseURL, engine: AsyncEngine, token_settings: TokenSettings | None = None
    ) -> None:
        self.url = url
        self._engine = engine
        self.token_settings = token_settings or TokenSettings.from_env()
        self.ledger_store: SqlLedgerStore = (
            SqliteLedgerStore(engine, url.database_path)
            if url.database_path
            else SqlLedgerStore(engine)
        )
        self.ledger = Ledger(self.ledger_store)
        self.policies = PolicyService(SqlPolicyStore(engine))
        self.registry = RegistryService(
            SqlRegistryStore(engine), _LedgerSink(self.ledger), self.refresh
        )
        self.access = AccessService(engine, _LedgerSink(self.ledger))
        # SCIM 2.0 (/scim/v2): the IdP's people and groups, and the agents; a person the IdP
        # deactivates or deletes orphans the agents they alone owned.
        self.scim = ScimResources(
            engine,
            self.registry,
            _LedgerSink(self.ledger),
            trust_domain=self.token_settings.trust_domain,
        )
        self.registry.directory = self.scim.people
        # Sightings of unregistered or inactive agents, tallied in memory between flushes.
        self.shadow = ShadowService(
            SqlSightingStore(engine), _LedgerSink(self.ledger), self.registry
        )
        # Shared Signals sent on kills, suspensions, credential and entitlement changes.
        self.signals = Signals()
        self.entitlements = EntitlementService(
            SqlEntitlementStore(engine),
            _LedgerSink(self.ledger, self.signals.entitlement_changed),
            self._entitlements_changed,
            agents=self.registry,
            usage=LedgerUsage(engine),
        )
        # Periodic work (expiry, review deadlines...): name → job(now). Run by
        # :meth:`housekeep`, which ``warden serve`` calls every ``HOUSEKEEPING_SECONDS``.
        self.housekeeping: dict[str, Housekeeping] = {"agent-expiry": self.registry.expire_due}
        self.housekeeping["shadow-flush"] = self.shadow.flush
        self.housekeeping["entitlement-expiry"] = self.entitlements.expire_due
        self.reviews = ReviewService(
            ReviewStore(engine), self.registry, self.entitlements, _LedgerSink(self.ledger)
        )
        self.housekeeping["review-deadlines"] = self.reviews.enforce_deadlines
        # Purpose profiles (versioned YAML); the active ones are kept prepared in memory.
        self.profiles = ProfileService(SqlProfileStore(engine), _LedgerSink(self.ledger))
        # Provenance: tool results observed under a mandate (values as keyed digests).
        self.provenance = ProvenanceIndex(engine)
        self.housekeeping["observation-expiry"] = self.provenance.expire
        # Mandates: each action judged against the person's intent (context.mandate).
        self.mandates = MandateService(
            engine,
            _LedgerSink(self.ledger),
            issuer=self.token_settings.issuer,
            trust_domain=self.token_settings.trust_domain,
            provenance=self.provenance,
            extract=_designated,
        )
        # Request → purpose profile: lexical by default, `semantic` with warden[semantic].
        self.matcher = make_matcher(os.environ.get("WARDEN_INTENT_MATCHER") or "lexical")
        self.profiles.on_change = self._use_profiles
        # Sessions (one agent under one mandate) and behavioural baselines: context.session
        # and context.drift, from the same facts of each action, extracted once.
        self.facts = FactsCache(self._mandate_id)
        self.sessions = SessionService(
            engine, _LedgerSink(self.ledger, self.signals.session_suspended)
        )
        self.behavior = BehaviorService(engine, _LedgerSink(self.ledger))
        self.housekeeping["session-flush"] = self.sessions.flush
        self.housekeeping["baseline-flush"] = self.behavior.flush
        self.mandates.on_observed = self._observed
        self.alerts = WebhookNotifier(webhooks_from_env(), secret=secret_from_env())
        self._drift = DriftAnalyser(self.behavior, self.sessions, self.facts, self._profile_of)
        # Delegation chains: hops recorded at token exchange, verified on every action.
        self.chains = ChainService(
            engine,
            _LedgerSink(self.ledger),
            self.mandates,
            issuer=self.token_settings.issuer,
            trust_domain=self.token_settings.trust_domain,
        )
        # Step-up approvals: a held action is released once, for that exact action.
        self.approvals = ApprovalService(
            engine,
            _LedgerSink(self.ledger),
            self.alerts,
            owners=self._owners,
            default_ttl=int(os.environ.get("WARDEN_APPROVAL_TTL") or 900),
            public_url=self.token_settings.issuer,
        )
        self.housekeeping["approval-expiry"] = self.approvals.expire_due
        # Shared Signals receiver: CAEP events from trusted IdPs stop what a person set going.
        self.ssf_receiver = SsfReceiver(
            engine,
            _LedgerSink(self.ledger),
            trusted=trusted_from_env(),
            audience=self.token_settings.issuer,
            act=self._signalled,
        )
        # The kill switch: first on the decision path; its effects registered below.
        self.kills = KillSwitch(engine, _LedgerSink(self.ledger))
        self.housekeeping["kill-sync"] = self.kills.sync
        KillEffects(
            self.kills,
            tokens=lambda: self.tokens,
            sessions=self.sessions,
            chains=self.chains,
            mandates=self.mandates,
            approvals=self.approvals,
            signals=self.signals,
        )
        # The gateways' upstreams and their credentials (secrets encrypted at rest), and the
        # one decision call every gateway adapter makes.
        self.connections = ConnectionService(
            SqlConnectionStore(engine),
            _LedgerSink(self.ledger),
            SecretBox.configured(url.database_path),
        )
        # Other replicas' changes to connections are read back with the housekeeping.
        self.housekeeping["connection-sync"] = lambda now: self.connections.load()
        self.broker = CredentialBroker(self.connections)  # upstream credentials, cached
        hold = float(os.environ.get("WARDEN_GATEWAY_HOLD") or DEFAULT_HOLD_SECONDS)
        self.gateway = Gateway(self, hold_seconds=hold)
        self._activity: dict[str, datetime] = {}  # agent → last decision, not yet stored
        # Status patches applied ahead of a background rebuild (see :meth:`refresh`).
        self._patches: dict[str, tuple[int, Agent]] = {}
        self._generation = 0
        self._background: asyncio.Task[None] | None = None
        self._rebuild_again = False
        self._housekeeper: asyncio.Task[None] | None = None
        self.analysers: Sequence[Analyser] = (
            *DEFAULT_ANALYSERS,
            GrantAnalyser(),
            ChainAnalyser(self.chains, self.mandates, self._touches),
            MandateAnalyser(self.mandates),
            SessionAnalyser(self.sessions, self.facts),
            self._drift,
        )
        # Killed first, then blocked identifiers: denied with their own reason, registered
        # or not.
        kill, blocked = (
            KillAnalyser(self.kills, self.chains, self.mandates),
            BlockedAnalyser(self.shadow.is_blocked),
        )
        self.analysers = (kill, blocked, *self.analysers)
        # What :meth:`preview` judges: who the agent is and what it holds, not the call.
        self._identity_analysers: Sequence[Analyser] = (
            kill,
            blocked,
            *DEFAULT_ANALYSERS,
            GrantAnalyser(),
        )
        self._prepared: PreparedPolicies | None = None
        self._view: DecisionView | None = None
        # Serialises view rebuilds and policy swaps: the last rebuild to finish must be one
        # that read the registry after the last write, or a new agent could stay unknown.
        self._changes = asyncio.Lock()
        self._tokens: AuthorizationServer | None = None
        self._svids: SvidAuthority | None = None
        self._ssf: SsfTransmitter | None = None  # Shared Signals, once the keys are open
        self._kill_channel: KillChannel | None = None  # PostgreSQL: kills from other replicas

    @classmethod
    async def open(
        cls,
        database_url: str | None = None,
        *,
        bundle: Path | str | None = None,
        token_settings: TokenSettings | None = None,
    ) -> Runtime:
        """Open (and migrate) the store; apply ``bundle`` when it differs from the active one.

        ``token_settings`` configure the authorization server (default: from the environment,
        ``WARDEN_ISSUER``)."""
        url = parse_database_url(database_url)
        await asyncio.to_thread(migrate, url)
        runtime = cls(url, open_engine(url), token_settings)
        await runtime.ledger.start()
        try:
            await runtime._load_policies(load_bundle(Path(bundle)) if bundle else None)
            await runtime.refresh()
            await runtime._open_tokens()
            await runtime.access.load()
            await runtime.profiles.load(_now())
            runtime._use_profiles()
            runtime.mandates.use_keys(runtime.tokens.keys)
            runtime.mandates.tool_labels = runtime._tool_labels
            await runtime.mandates.load(_now())
            runtime.chains.use_keys(runtime.tokens.keys)
            await runtime.chains.load(_now())
            await runtime.kills.load(_now())
            if url.dialect == "postgresql":  # other replicas' kills, as they commit
                runtime._kill_channel = KillChannel(url.async_url, runtime.kills.heard)
                await runtime._kill_channel.start()
            await runtime.approvals.load(_now())
            await runtime.connections.load()
            await runtime.ssf_receiver.start()
            runtime._ssf = SsfTransmitter(
                runtime._engine,
                runtime.tokens.keys,
                issuer=runtime.token_settings.issuer,
                audit=_LedgerSink(runtime.ledger),
            )
            await runtime._ssf.start()
            runtime.signals.transmitter = runtime._ssf
            await runtime.provenance.load(_now())
            await runtime.shadow.load()
            await runtime.sessions.load(_now())
            await runtime.behavior.load()
        except BaseException:
            await runtime.close()
            raise
        return runtime

    async def close(self) -> None:
        if self._background is not None and not self._background.done():
            with contextlib.suppress(Exception):
                await self._background
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        with contextlib.suppress(Exception):
            await self._flush_activity()
        await self.gateway.settled()  # observations the gateways are still reporting
        await self.provenance.settled()  # read-backs of observations, before the engine goes
        for name in ("session-flush", "baseline-flush"):
            try:
                await self.housekeeping[name](_now())
            except Exception:
                log.exception("housekeeping job %s failed at close", name)
        await self.alerts.close()
        with contextlib.suppress(Exception):
            await self.ssf_receiver.close()
        if self._ssf is not None:
            with contextlib.suppress(Exception):
                await self._ssf.close()  # undelivered SETs stay in the outbox
        if self._kill_channel is not None:
            await self._kill_channel.close()
        try:
            await self.shadow.flush()
        except Exception:
            log.exception("could not store shadow agent sightings")
        await self.ledger.close()
        if isinstance(self.ledger_store, SqliteLedgerStore):
            await self.ledger_store.close()
        await self._engine.dispose()

    def start_housekeeping(self, every: float = 15.0) -> None:
        """Run :meth:`housekeep` every ``every`` seconds until :meth:`close` (the server)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                await self.housekeep()

        self._housekeeper = asyncio.create_task(loop(), name="warden-housekeeping")

    async def housekeep(self, now: datetime | None = None) -> None:
        """Run every housekeeping job once (and store agents' last activity). A job that
        fails is logged and the others still run."""
        now = now or _now()
        for name, job in list(self.housekeeping.items()):
            try:
                await job(now)
            except Exception:
                log.exception("housekeeping job %s failed", name)
        try:
            await self._flush_activity()
        except Exception:
            log.exception("could not store agents' last activity")

    async def _flush_activity(self) -> None:
        pending, self._activity = self._activity, {}
        await self.registry.record_activity(pending)

    async def _open_tokens(self) -> None:
        now = _now()
        settings = self.token_settings
        self._svids = await SvidAuthority.open(
            self._engine, settings.trust_domain, now, issuer=settings.issuer
        )
        self._tokens = await AuthorizationServer.open(
            self._engine,
            settings,
            agents=_RegistryDirectory(self),
            registry=self.registry,
            now=now,
            svids=self._svids,
            on_refused=token_refusals(self.shadow),
        )
        self._tokens.chains = ChainDelegations(self.chains)

    @property
    def tokens(self) -> AuthorizationServer:
        """The OAuth 2.1 authorization server (token endpoint, introspection, keys...)."""
        if self._tokens is None:
            raise RuntimeError("runtime is not open")
        return self._tokens

    @property
    def ssf(self) -> SsfTransmitter:
        """The Shared Signals transmitter (streams, CAEP events, push and poll delivery)."""
        if self._ssf is None:
            raise RuntimeError("runtime is not open")
        return self._ssf

    @property
    def svids(self) -> SvidAuthority:
        """Warden as the SPIFFE issuer of its trust domain."""
        if self._svids is None:
            raise RuntimeError("runtime is not open")
        return self._svids

    async def verify_access_token(
        self, token: str, *, audience: str | None = None
    ) -> Mapping[str, Any]:
        """Claims of a valid access token Warden issued (signature, ``typ``, ``iss``, times,
        not revoked, its agents still active, and ``aud`` when given); raises
        :class:`warden.tokens.errors.InvalidToken`. For Warden's own protected endpoints."""
        return await self.tokens.verify_access_token(token, _now(), audience=audience)

    @property
    def engine(self) -> AsyncEngine:
        """The store's engine, for components that keep their own tables (codes, SVID keys)."""
        return self._engine

    def agent_is_active(self, agent_id: str) -> bool:
        agent = self.view.registry.agents.get(agent_id)
        active = agent is not None and agent.status is AgentStatus.ACTIVE
        return active and not self.shadow.is_blocked(agent_id)

    async def record_key_rotation(self, event: Mapping[str, Any]) -> None:
        """Audit a signing key rotation (who, which kid; never key material)."""
        await self.ledger.append(EventType.OAUTH_KEY_ROTATED, event)

    async def record_credential_issued(self, event: Mapping[str, Any]) -> None:
        """Audit an SVID issued to an agent (what and until when; never the key or token);
        an X.509-SVID (a rotation of the agent's credential) is a CAEP credential-change."""
        await self.ledger.append(EventType.AGENT_CREDENTIAL_ISSUED, event)
        await self.signals.credential_issued(event)

    @property
    def view(self) -> DecisionView:
        if self._view is None:
            raise RuntimeError("runtime is not open")
        return self._view

    async def refresh(self, *, status_only: Sequence[Agent] = ()) -> None:
        """Rebuild the decision view from the registry and the active policies.

        When only agents' statuses changed, they are patched into the current view at once
        (the next decision sees them) and the full rebuild runs in the background: with
        10,000 agents it takes ~0.5 s, too long to hold a suspension or kill."""
        if status_only and self._view is not None:
            self._generation += 1
            for agent in status_only:
                self._patches[agent.id] = (self._generation, agent)
            self._view = self._view.with_agents(status_only)
            self._schedule_rebuild()
            return
        async with self._changes:
            await self._rebuild()

    async def _entitlements_changed(self) -> None:
        """Swap the grants in force into the view; agents and the entity graph are as they were
        (a grant takes ~5 ms end to end; a full rebuild ~1 s with 10,000 agents)."""
        async with self._changes:
            if self._view is not None and self._prepared is not None:
                policies = await self.entitlements.decision_policies(self._prepared, _now())
                self._view = dataclasses.replace(self._view, policies=policies)

    async def settled(self) -> None:
        """Wait until no background rebuild of the decision view is pending."""
        while self._background is not None and not self._background.done():
            await asyncio.shield(self._background)

    def _schedule_rebuild(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self.refresh(), name="warden-view-rebuild")
            self._background.add_done_callback(_log_failure)
        else:
            self._rebuild_again = True

    async def _rebuild(self) -> None:
        while True:
            self._rebuild_again = False
            started = self._generation
            assert self._prepared is not None
            agents, tools, policies = await asyncio.gather(
                self.registry.agents(),
                self.registry.tools(),
                # The bundle plus a permit per entitlement in force (compiled off the loop).
                self.entitlements.decision_policies(self._prepared, _now()),
            )
            registry = RegistrySnapshot.of(agents, tools)
            # Off the event loop: parsing a large entity graph takes a while; decisions keep
            # using the previous view until the new one is swapped in.
            view = await asyncio.to_thread(DecisionView.build, policies, registry)
            # Status patches made after the registry was read must survive the swap.
            later = {k: v for k, v in self._patches.items() if v[0] > started}
            self._patches = later
            self._view = view.with_agents([a for _, a in later.values()]) if later else view
            if not self._rebuild_again:
                return

    async def _load_policies(self, bundle: Bundle | None) -> None:
        active = await self.policies.active()
        if bundle is not None and (active is None or active.digest != bundle.digest):
            await self.apply_policies(bundle, author=f"bundle {bundle.source}")
            return
        if active is None:
            await self.apply_policies(_empty_bundle(), author="warden")
            return
        self._prepared = PreparedPolicies.prepare(active.bundle, active.revision)

    async def apply_policies(self, bundle: Bundle, *, author: str) -> PolicyRevision:
        """Validate and activate ``bundle`` as a new revision; the old one stays on error."""
        async with self._changes:
            return await self._apply_policies(bundle, author)

    async def _apply_policies(self, bundle: Bundle, author: str) -> PolicyRevision:
        try:
            revision, prepared = await self.policies.apply(bundle, author, _now())
        except PolicyValidationError as exc:
            rejected = {"digest": bundle.digest, "author": author, "problems": len(exc.problems)}
            await self.ledger.append(EventType.POLICY_REVISION_REJECTED, rejected)
            raise
        await self.ledger.append(
            EventType.POLICY_REVISION_APPLIED,
            {"revision": revision.revision, "digest": revision.digest, "author": author},
        )
        self._prepared = prepared
        if self._view is not None:
            await self._rebuild()
        return revision

    async def decide(
        self, request: DecisionRequest, *, where: str = Surface.SDK, now: datetime | None = None
    ) -> Decision:
        """Decide and record. The decision is in the ledger before it is returned;
        if it cannot be recorded the answer is deny. ``where`` names the surface that asked
        (``authzen``, ``sdk``, ``mcp``...), for shadow-agent sightings. ``now`` is the clock
        (default: the real one); benchmarks replay simulated weeks through it."""
        now = now or _now()
        asked = request  # as sent: the ledger keeps its digest
        if is_agent(request.subject):
            request = self._verified_depth(request, now)
            if "mandate" in request.context:
                await self.mandates.prepare(request.context["mandate"], now)
        # The decision id is its ledger entry id (a UUIDv7: sortable by time).
        decision = _explained(evaluate(self.view, self.analysers, request, now, new_entry_id()))
        facts = self.conclude(request, decision, now)
        if is_agent(request.subject):
            if request.subject.id in self.view.registry.agents:  # bounded by the registry
                self._activity[request.subject.id] = now
            sight_decision(self.shadow, request, decision, where=where)  # memory only
        if decision.outcome is Outcome.STEP_UP and is_agent(request.subject):
            decision = await step_up(
                request,
                decision,
                now,
                approvals=self.approvals,
                mandates=self.mandates,
                mandate_id=self._mandate_id(request.context.get("mandate"), now) or None,
                person=self._person(decision),
                learn=self.approved,
            )
        decision = await self._spend(decision, now)
        try:
            await self.ledger.append(
                _DECISION_EVENTS[decision.outcome],
                _ledger_payload(asked, decision, self._person(decision)),
                entry_id=decision.decision_id,
                recorded_at=now,
            )
        except LedgerUnavailable:
            log.error("ledger unavailable; denying decision %s", decision.decision_id)
            return _unrecorded(decision)
        if facts is not None and decision.outcome is not Outcome.ALLOW:
            await self._respond(facts, decision, now)
        return decision

    async def refuse(
        self, request: DecisionRequest, reason: Reason, *, where: str = Surface.SDK
    ) -> Decision:
        """Deny ``request`` for a reason an enforcement point found before asking (a token
        that does not match its chain...), recorded like any decision."""
        now = _now()
        decision = Decision(
            outcome=Outcome.DENY,
            reasons=(reason,),
            errors=(),
            policy_revision=self.view.revision,
            decision_id=new_entry_id(),
            decided_at=now,
        )
        if is_agent(request.subject):
            sight_decision(self.shadow, request, decision, where=where)
        try:
            await self.ledger.append(
                EventType.DECISION_DENY,
                _ledger_payload(request, decision),
                entry_id=decision.decision_id,
                recorded_at=now,
            )
        except LedgerUnavailable:
            return _unrecorded(decision)
        return decision

    def preview(self, request: DecisionRequest, now: datetime) -> Outcome:
        """The outcome of ``request`` judged on identity and entitlements alone (kills,
        blocks, status, grants, the bundle's policies), without its mandate, session or chain,
        and recorded nowhere: what a gateway may show an agent (``tools/list``). Never a
        permission to act: the action itself is decided in full."""
        decision = evaluate(self.view, self._identity_analysers, request, now, "preview")
        return decision.outcome

    def conclude(
        self, request: DecisionRequest, decision: Decision, now: datetime
    ) -> ActionFacts | None:
        """Right after a decision, before anything else can run: the agent's baseline learns
        from an allowed action, and the action joins its session (so the next action sees
        it). Synchronous and O(1) in the session's length and the agent's history.

        An action the budget check or the ledger turns into a deny afterwards stays counted
        as decided here (the safe direction for brakes and limits)."""
        facts = self.facts.of(request, self.view, now)
        if facts is None or facts.agent not in self.view.registry.agents:
            # Only registered agents have sessions and baselines: made-up ids (denied anyway,
            # and sighted as shadow agents) must not push real sessions out of memory.
            return None
        session = self.sessions.get(facts.session_key)
        result = self._drift.latest(facts)
        if decision.outcome is Outcome.ALLOW:
            self.behavior.learn(facts, session, self._profile_of(facts))
        mark = self.behavior.mark(result) if result is not None else None
        self.sessions.record(facts, decision.outcome, drift=mark)
        return facts

    def approved(self, request: DecisionRequest, now: datetime) -> None:
        """A person approved a held (step-up) action, which then ran: the agent's baseline
        learns it as it would an allowed action — how a new habit stops being drift once
        someone vouched for it. Only what was held is learned; a denied action never is."""
        facts = extract(request, self.view, now, self._mandate_id)
        if facts is None or facts.agent not in self.view.registry.agents:
            return
        session = self.sessions.get(facts.session_key)
        before = _SessionBefore(session, facts.tool) if session is not None else None
        self.behavior.learn(facts, before, self._profile_of(facts))

    async def _respond(self, facts: ActionFacts, decision: Decision, now: datetime) -> None:
        """Carry out what the deciding policies ask (``@respond``): suspend the session and
        raise an alert (ledger event + webhooks). A failure here is logged; the decision
        already stands."""
        responses = self.view.policies.responses(decision.reasons)
        if "suspend_session" not in responses:
            return
        state = self.sessions.get(facts.session_key)
        if state is None or state.suspended:
            return
        codes = [r.code for r in decision.reasons if r.outcome is Outcome.DENY]
        drift = decision.features.get("drift") or {}
        why = f"{', '.join(codes)}: {drift.get('explanation') or decision.reasons[0].message}"
        try:
            await self.sessions.suspend(state.id, actor="warden", reason=why, now=now)
            details = {
                "session": state.id,
                "agent": facts.agent,
                "mandate": facts.mandate,
                "decision_id": decision.decision_id,
                "tool": facts.tool,
                "reasons": codes,
                "drift_score": drift.get("score"),
                "signals": list(drift.get("signals") or ()),
                "explanation": drift.get("explanation") or "",
            }
            await self.ledger.append(EventType.DRIFT_ALERT, details)
        except Exception:
            log.exception("could not suspend session %s", state.id)
            return
        self.alerts.notify(
            Alert(
                kind="session.suspended",
                summary=f"session `{state.id}` of `{facts.agent}` suspended: {', '.join(codes)}",
                severity="critical",
                at=now,
                details=details,
            )
        )

    async def _signalled(self, signal: Signal) -> str:
        """An IdP said a person's sessions were revoked or their credential changed: stop
        everything done on their behalf (kill the person: their mandates revoked, their
        agents' actions for them denied). Safe to repeat: a second kill is a no-op."""
        if signal.person is None:
            return "ignored: the event names no person"
        kind = signal.event_type.rsplit("/", 1)[-1]
        reason = f"{kind} from {signal.issuer}: {signal.reason_admin or 'no reason given'}"
        result = await self.kills.kill(
            KillKind.PERSON, signal.person, reason=reason, actor=f"ssf:{signal.issuer}", now=_now()
        )
        return "; ".join((f"killed person {signal.person}", *result.effects))

    def _owners(self, agent_id: str) -> Sequence[str]:
        agent = self.view.registry.agents.get(agent_id)
        return agent.owners if agent is not None else ()

    def _verified_depth(self, request: DecisionRequest, now: datetime) -> DecisionRequest:
        """``context.chain_depth`` as Warden verified it: the depth of the agent's own chain
        assertion, 0 without one. A client's value is never believed (profiles' depth rules
        and drift read it)."""
        context = request.context
        depth = 0
        token = context.get("chain")
        if token is not None:
            try:
                chain = self.chains.verify(token, now)
            except InvalidChain:
                chain = None  # the chain analyser denies it
            if chain is not None and chain.leaf.to_agent == request.subject.id:
                depth = chain.depth
        if context.get("chain_depth", 0) == depth:
            return request
        return dataclasses.replace(request, context={**context, "chain_depth": depth})

    def _touches(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> tuple[frozenset[str], tuple[str, ...]]:
        """The data labels and external destinations of an action (for a chain's blast
        radius), from the facts the session and drift analysers share."""
        facts = self.facts.of(request, view, now)
        if facts is None:
            return frozenset(), ()
        return facts.labels, facts.destinations

    def _person(self, decision: Decision) -> str | None:
        """Who an agent's decision acted for: its chain's person, else its mandate's."""
        chain = decision.features.get("chain")
        if chain and chain.get("valid"):
            return str(chain["person"])
        block = decision.features.get("mandate")
        mandate = self.mandates.live(block["id"]) if block and block.get("id") else None
        return mandate.person if mandate is not None else None

    def _observed(
        self, agent: str, mandate: str, labels: frozenset[str], injected: bool, now: datetime
    ) -> None:
        """An observation reached its mandate: the labels join the agent's session (registered
        agents only, as for actions)."""
        if agent in self.view.registry.agents:
            self.sessions.observe(agent, mandate, labels, injected, now)

    def _mandate_id(self, token: object, now: datetime) -> str:
        """The id of the mandate ``token`` stands for, "" if it does not verify (the mandate
        analyser denies that action anyway)."""
        if not isinstance(token, str):
            return ""
        try:
            return self.mandates.verify(token, now).id
        except InvalidMandate:
            return ""

    def _profile_of(self, facts: ActionFacts) -> str | None:
        """The purpose profile of the action's mandate: the baseline for a cold start."""
        mandate = self.mandates.live(facts.mandate) if facts.mandate else None
        return mandate.profile if mandate is not None else None

    def _use_profiles(self, versions: Sequence[PurposeProfile] | None = None) -> None:
        """Fit the intent matcher to the active purpose profiles and hand every stored
        version (mandates pin theirs) and the matcher to the mandate service — at start, and
        whenever a profile version is applied."""
        profiles = self.profiles.active()
        self.matcher.fit(
            [
                ProfileText(p.name, p.description, p.examples, tuple(r.pattern for r in p.tools))
                for p in profiles
            ]
        )
        self.mandates.use_profiles(
            versions if versions is not None else self.profiles.versions(), self.matcher
        )
        # The semantic matcher embeds the registered tools once, here, rather than on the
        # first decision that names each (a no-op for the lexical matcher).
        self.matcher.warm((t.name, t.description) for t in self.view.registry.tools.values())

    def _tool_labels(self, tool: str) -> frozenset[str]:
        known = self.view.registry.tools.get(tool)
        return known.annotations.labels if known else frozenset()

    async def _spend(self, decision: Decision, now: datetime) -> Decision:
        """An allowed action under a mandate spends its cumulative budgets — checked again
        under a lock, so concurrent actions cannot overspend together; if they would, this
        one is denied. Budgets spent by an action the ledger then fails to record stay spent
        (the safe direction)."""
        block = decision.features.get("mandate")
        if decision.outcome is not Outcome.ALLOW or not block or not block.get("charges"):
            return decision
        charges = [
            BudgetCharge(c["budget"], float(c["amount"]), float(c["limit"]))
            for c in block["charges"]
        ]
        violation = await self.mandates.charge(block["id"], charges, now)
        if violation is None:
            return decision
        reason = Reason(violation.rule, violation.message, "analyser", Outcome.DENY)
        return dataclasses.replace(
            decision, outcome=Outcome.DENY, reasons=(reason, *decision.reasons)
        )


class _SessionBefore:
    """A session as it was before its latest action (the one a person approved): what
    :meth:`BehaviorService.learn` reads."""

    def __init__(self, session: SessionState, tool: str) -> None:
        self._session = session
        recent = session.recent
        latest_is_it = bool(recent) and recent[-1][0] == tool
        if latest_is_it and len(recent) >= 2:
            self.previous_tool: str | None = recent[-2][0]
        else:
            self.previous_tool = None if latest_is_it else session.previous_tool
        self.actions = session.actions
        self.drift = session.drift

    def count(self, window: str, now: datetime) -> int:
        return self._session.count(window, now)


class _RegistryDirectory:
    """The registry as the authorization server sees it: the current snapshot's statuses
    (rebuilt after every registry write, so a suspension takes effect at once), and
    ``blocked`` for an identifier blocked as a shadow agent, registered or not."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def agent_status(self, agent_id: str) -> str | None:
        if self._runtime.kills.killed(KillKind.AGENT, agent_id) is not None:
            return "killed"  # its tokens introspect inactive; no new ones, no exchanges
        if self._runtime.shadow.is_blocked(agent_id):
            return "blocked"
        agent = self._runtime.view.registry.agents.get(agent_id)
        if agent is None:
            return None
        if agent.expired(_now()):
            return "expired"  # before housekeeping has suspended it
        return agent.status.value


class _LedgerSink:
    """A service's audit events into the ledger; ``then`` hears each one once it is recorded
    (e.g. to send a Shared Signal)."""

    def __init__(
        self,
        ledger: Ledger,
        then: Callable[[str, Mapping[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self._ledger = ledger
        self._then = then

    async def record(
        self, event_type: str, payload: Mapping[str, Any], *, entry_id: str | None = None
    ) -> None:
        await self._ledger.append(EventType(event_type), payload, entry_id=entry_id)
        if self._then is not None:
            await self._then(event_type, payload)


def _now() -> datetime:
    return datetime.now(UTC)


def _designated(text: str, now: datetime) -> tuple[DesignatedValue, ...]:
    return extract_designated(text, now=now)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rebuilding the decision view failed", exc_info=task.exception())


def _empty_bundle() -> Bundle:
    """No policies: every action is denied until an administrator applies a bundle."""
    return Bundle(policies={}, schema=default_schema(), entities=(), source=_EMPTY_BUNDLE_SOURCE)


def _ledger_payload(
    request: DecisionRequest, decision: Decision, person: str | None = None
) -> dict[str, Any]:
    """What the ledger keeps of a decision: ids, outcome, reasons, Warden's own features.

    Request properties and context may hold personal data or secrets, so only their
    SHA-256 digest is kept (enough to prove what was asked, given the request).
    """
    asked = orjson.dumps(
        {
            "subject": dict(request.subject.properties),
            "action": dict(request.action.properties),
            "resource": dict(request.resource.properties),
            "context": dict(request.context),
        },
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return {
        "decision_id": decision.decision_id,
        "outcome": decision.outcome.value,
        "subject": {"type": request.subject.type, "id": request.subject.id},
        "action": {"name": request.action.name},
        "resource": {"type": request.resource.type, "id": request.resource.id},
        "reasons": [r.to_dict() for r in decision.reasons],
        "errors": list(decision.errors),
        "policy_revision": decision.policy_revision,
        "features": _recorded_features(decision.features),
        "context_digest": hashlib.sha256(asked).hexdigest(),
        "on_behalf_of": person,  # the person behind the agent's chain or mandate, if any
    }


_UNRECORDED_SESSION = frozenset({"tools_used", "destinations"})


def _recorded_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """The features the ledger keeps: all but the session's growing sets of tools and
    destinations (up to a thousand domains each decision; the session keeps them, and
    ``/v1/sessions/{id}`` shows them), so an entry's size does not grow with its session; an
    absent mandate as just that."""
    recorded = dict(features)
    session = recorded.get("session")
    if session:
        recorded["session"] = {k: v for k, v in session.items() if k not in _UNRECORDED_SESSION}
    mandate = recorded.get("mandate")
    if mandate and not mandate.get("present"):
        recorded["mandate"] = {"present": False}  # not the seventeen empty fields
    chain = recorded.get("chain")
    if chain and not chain.get("present"):
        recorded["chain"] = {"present": False}
    return recorded


def _explained(decision: Decision) -> Decision:
    """A drift policy's reason says why in numbers: its message gains the drift analyser's
    explanation ("first use of `export_table` by this agent in 41 days of history; ...")."""
    if decision.outcome is Outcome.ALLOW:
        return decision
    drift = decision.features.get("drift")
    why = drift.get("explanation") if drift else None
    if not why or not any(r.code.startswith("drift.") for r in decision.reasons):
        return decision
    reasons = tuple(
        dataclasses.replace(r, message=f"{r.message} — {why}")
        if r.source == "policy" and r.code.startswith("drift.")
        else r
        for r in decision.reasons
    )
    return dataclasses.replace(decision, reasons=reasons)


def _unrecorded(decision: Decision) -> Decision:
    reason = Reason(
        "audit.unavailable",
        "the decision could not be recorded in the audit ledger",
        "pipeline",
        Outcome.DENY,
    )
    return Decision(
        outcome=Outcome.DENY,
        reasons=(reason,),
        errors=(*decision.errors, "ledger unavailable"),
        policy_revision=decision.policy_revision,
        decision_id=decision.decision_id,
        decided_at=decision.decided_at,
        features=decision.features,
    )
