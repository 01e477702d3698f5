"""Warden's relational schema, portable across SQLite and PostgreSQL (SQLAlchemy Core).

The Alembic migrations under ``migrations/`` create exactly these tables; a change here
needs a new migration there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

agents = Table(
    "agents",
    metadata,
    Column("id", String(2048), primary_key=True),  # SPIFFE ID
    Column("display_name", String(200), nullable=False, index=True),
    Column("owner", String(320), nullable=False, index=True),
    Column("team", String(200), nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("risk_tier", String(20), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    # migration 0003: lifecycle
    Column("purpose", String(200), nullable=False, server_default=""),
    Column("expires_at", String(40), nullable=True),  # suspended automatically after this
    Column("status_reason", Text, nullable=False, server_default=""),  # why the last change
    Column("last_active_at", String(40), nullable=True, index=True),  # last decision about it
)

tools = Table(
    "tools",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("destructive", Boolean, nullable=False),
    Column("external", Boolean, nullable=False),
    Column("labels", Text, nullable=False),  # JSON array of strings
    Column("input_schema", Text, nullable=True),  # JSON object
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

policy_revisions = Table(
    "policy_revisions",
    metadata,
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("created_at", String(40), nullable=False),
    Column("author", String(320), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("bundle", Text, nullable=False),  # JSON: the bundle's files
)

ledger = Table(
    "ledger",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("entry_id", String(64), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON (RFC 8785)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- tokens (OAuth 2.1 authorization server, DPoP, SPIFFE) — migration 0002 -------------

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(2048), primary_key=True),  # an agent's SPIFFE ID, or random
    Column("client_name", String(200), nullable=False),
    Column("auth_method", String(40), nullable=False),  # private_key_jwt, client_secret_basic
    Column("secret_hash", String(200), nullable=True),  # sha256 of a generated secret, never it
    Column("jwks", Text, nullable=True),  # JSON JWKS for private_key_jwt
    Column("metadata", Text, nullable=False),  # JSON: redirect_uris, grant_types, scope, ...
    Column("agent_id", String(2048), nullable=True),  # the registry agent this client acts as
    Column("created_at", String(40), nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(100), primary_key=True),
    Column("use", String(20), nullable=False),  # oauth | jwt-svid | x509-ca
    Column("alg", String(20), nullable=False),
    Column("private_key", Text, nullable=False),  # PEM (PKCS#8); protect the database
    Column("certificate", Text, nullable=True),  # PEM, for x509-ca
    Column("created_at", String(40), nullable=False),
    Column("retired_at", String(40), nullable=True),  # stops signing; still published
    Column("publish_until", String(40), nullable=True),  # removed from JWKS after this
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # access | refresh | txn
    Column("client_id", String(2048), nullable=False),
    Column("subject", String(2048), nullable=False),
    Column("scope", Text, nullable=False),
    Column("audience", Text, nullable=False),  # JSON array
    Column("claims", Text, nullable=False),  # JSON: what introspection returns
    Column("jkt", String(64), nullable=True),  # DPoP key thumbprint when bound
    Column("token_hash", String(64), nullable=True, index=True),  # refresh tokens: sha256
    Column("issued_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("replaced_by", String(64), nullable=True),  # refresh rotation
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(2048), nullable=False),
    Column("details", Text, nullable=False),  # JSON: redirect_uri, challenge, scope, resource...
    Column("grant_id", String(64), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("used_at", String(40), nullable=True),
)

replay_cache = Table(
    "replay_cache",
    metadata,
    Column("key", String(200), primary_key=True),  # e.g. dpop:<jkt>:<htu-hash>:<jti>
    Column("expires_at", BigInteger().with_variant(Integer, "sqlite"), nullable=False, index=True),
)


# --- identity governance: lifecycle, owners, Warden's own access control — migration 0003 ----

agent_owners = Table(
    "agent_owners",
    metadata,
    Column("agent_id", String(2048), primary_key=True),
    Column("owner", String(320), primary_key=True, index=True),  # a person's email / userName
    Column("position", Integer, nullable=False),  # 0 = primary (the agents.owner column)
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256, never the token
    Column("person", String(320), nullable=False),
    Column("roles", Text, nullable=False),  # JSON array: admin, auditor, approver, owner
    Column("description", String(200), nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=True),
    Column("revoked_at", String(40), nullable=True),
)

# --- entitlements — migration 0004 ----------------------------------------------------------

entitlements = Table(
    "entitlements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("agent_id", String(2048), nullable=False, index=True),
    Column("action", String(200), nullable=False),  # Cedar action id, e.g. invoke
    Column("resource_type", String(200), nullable=False),  # Cedar entity type, e.g. Tool
    Column("resource_id", String(2048), nullable=False),  # or "*": every resource of the type
    Column("justification", Text, nullable=False),
    Column("granted_by", String(320), nullable=False),
    Column("granted_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=True),
    Column("state", String(20), nullable=False, index=True),  # active | revoked | pruned
    Column("template", String(100), nullable=True),  # provisioning template it came from
    Column("changed_by", String(320), nullable=True),  # last revoke / prune / restore
    Column("changed_at", String(40), nullable=True),
    Column("change_reason", Text, nullable=True),
)

# --- access reviews — migration 0005 --------------------------------------------------------

review_campaigns = Table(
    "review_campaigns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope_kind", String(20), nullable=False),  # all | team | owner | risk_tier
    Column("scope_value", String(320), nullable=True),
    Column("deadline", String(40), nullable=False),
    Column("on_deadline", String(20), nullable=False),  # revoke | suspend
    Column("state", String(20), nullable=False, index=True),  # open | closing | closed
    Column("opened_by", String(320), nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("closed_by", String(320), nullable=True),
    Column("closed_at", String(40), nullable=True),
)

review_items = Table(
    "review_items",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),  # 1, 2, ... per campaign
    Column("agent_id", String(2048), nullable=False),
    Column("agent_name", String(200), nullable=False),
    # the entitlement under review, as it was at opening; all null: the agent itself
    Column("entitlement_id", String(100), nullable=True),
    Column("action", Text, nullable=True),
    Column("resource_type", Text, nullable=True),
    Column("resource_id", Text, nullable=True),
    Column("justification", Text, nullable=True),
    Column("state", String(20), nullable=False),  # pending | certified | revoked | expired
    Column("decided_by", String(320), nullable=True),
    Column("decided_at", String(40), nullable=True),
    Column("comment", Text, nullable=True),
    Column("effect", String(40), nullable=True),  # none | entitlement_revoked | agent_suspended
)

review_reviewers = Table(
    "review_reviewers",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("reviewer", String(320), primary_key=True, index=True),  # an owner at opening
)


# --- SCIM 2.0 (people and groups) — migration 0006 ------------------------------------------

scim_resources = Table(
    "scim_resources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("resource_type", String(40), nullable=False, index=True),  # User | Group
    # comparison keys (lower-case unless case-exact) of the attributes looked up by value
    Column("user_name", String(512), nullable=True, unique=True),  # Users' userName
    Column("email", String(320), nullable=True, index=True),  # Users' primary email
    Column("external_id", String(512), nullable=True, index=True),
    Column("display_name", String(512), nullable=True, index=True),
    Column("active", Boolean, nullable=True),  # Users: false when the IdP deactivated them
    Column("version", String(64), nullable=False),  # the ETag
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the resource's SCIM JSON, never a password
)

scim_departed_people = Table(
    "scim_departed_people",
    metadata,
    Column("person", String(320), primary_key=True),  # userName or email, lower-case
    Column("resource_id", String(64), nullable=False),  # the deleted User
    Column("deleted_at", String(40), nullable=False),
)

scim_agents = Table(
    "scim_agents",
    metadata,
    Column("agent_id", String(2048), primary_key=True),
    Column("external_id", String(512), nullable=True),  # the provisioning client's id for it
)

# --- shadow agents — migration 0007 ---------------------------------------------------------

shadow_sightings = Table(
    "shadow_sightings",
    metadata,
    Column("id", String(12), primary_key=True),  # sha256("<kind>:<identifier>")[:12]
    Column("kind", String(20), nullable=False),  # subject, oauth_client, spiffe, mcp_client
    Column("identifier", Text, nullable=False),  # as presented (unverified), at most 2048
    Column("first_seen", String(40), nullable=False),
    Column("last_seen", String(40), nullable=False),
    Column("seen_count", BigInteger, nullable=False),
    Column("surfaces", Text, nullable=False),  # JSON array: authzen, token_endpoint, mcp...
    Column("tools", Text, nullable=False),  # JSON array: tools and resources it tried
    Column("humans", Text, nullable=False),  # JSON array: people it acted for, when said
    Column("registry_status", String(20), nullable=True),  # known-but-inactive agent's status
    Column("status", String(20), nullable=False, index=True),  # open | promoted | blocked
    Column("status_reason", Text, nullable=False, server_default=""),
    Column("status_by", String(320), nullable=True),
    Column("status_at", String(40), nullable=True),
    Column("agent_id", String(2048), nullable=True),  # the agent it was promoted to
)

# --- mandates and budgets — migration 0008 --------------------------------------------------

mandates = Table(
    "mandates",
    metadata,
    Column("id", String(64), primary_key=True),  # the Txn-Token's txn
    Column("person", String(320), nullable=False, index=True),
    Column("request", Text, nullable=False),
    Column("profile", String(100), nullable=True),
    Column("profile_version", Integer, nullable=True),
    Column("confidence", String(20), nullable=False),
    Column("details", Text, nullable=False),  # JSON: authorization_details, designated values
    Column("issued_by", String(320), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("audience", String(255), nullable=False),
    Column("revoked_at", String(40), nullable=True),
)

mandate_budgets = Table(
    "mandate_budgets",
    metadata,
    Column("mandate_id", String(64), primary_key=True),
    Column("budget", String(100), primary_key=True),
    Column("spent", String(40), nullable=False),  # decimal text: exact sums
    Column("updated_at", String(40), nullable=False),
)

# --- purpose profiles — migration 0009 ------------------------------------------------------

purpose_profiles = Table(
    "purpose_profiles",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("yaml", Text, nullable=False),  # exactly as applied
    Column("digest", String(64), nullable=False),  # SHA-256 of the YAML text
    Column("author", String(320), nullable=False),
    Column("created_at", String(40), nullable=False),
)

# --- observations — migration 0010 ----------------------------------------------------------

# Tool results reported under a mandate, for provenance: never the content, only keyed
# SHA-256 digests (HMAC, truncated to 128 bits) of the values it held, its labels and flags.
observations = Table(
    "observations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("mandate_id", String(64), nullable=False, index=True),
    Column("tool", String(200), nullable=False),
    Column("agent", String(2048), nullable=True),  # the agent that called the tool, when said
    Column("labels", Text, nullable=False),  # JSON array: tool annotations + detected
    Column("injected", Boolean, nullable=False),  # carried instructions aimed at the agent
    Column("value_count", Integer, nullable=False),
    Column("digests", Text, nullable=False),  # space-separated hex HMAC-SHA-256[:16] of values
    Column("observed_at", String(40), nullable=False, index=True),
)

observation_keys = Table(
    "observation_keys",
    metadata,
    Column("name", String(40), primary_key=True),  # "provenance"
    Column("secret", String(128), nullable=False),  # hex; the HMAC key of the digests above
    Column("created_at", String(40), nullable=False),
)

# --- sessions — migration 0011 --------------------------------------------------------------

# One summary per session (one agent under one mandate), upserted by the sessions flush and at
# once on suspend/resume: counts, tools and data labels, never argument values. Live state
# (windows, recent actions) is in memory; a suspended session stays suspended across restarts.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(28), primary_key=True),  # "ses_" + sha256(agent \0 mandate)[:24]
    Column("agent", String(2048), nullable=False, index=True),
    Column("mandate", String(64), nullable=False),  # "" = actions without a mandate
    Column("status", String(20), nullable=False, index=True),  # active | suspended
    Column("status_reason", Text, nullable=False, server_default=""),
    Column("status_by", String(320), nullable=True),
    Column("status_at", String(40), nullable=True),
    Column("started_at", String(40), nullable=False),
    Column("last_at", String(40), nullable=True),
    Column("actions", BigInteger, nullable=False),
    Column("denied", BigInteger, nullable=False),
    Column("observations", BigInteger, nullable=False),
    Column("tools_used", Text, nullable=False),  # JSON arrays, sorted
    Column("labels_seen", Text, nullable=False),
    Column("labels_changed", Text, nullable=False),
    Column("destinations", Text, nullable=False),  # at most 1,000 domains
    Column("drift", Integer, nullable=True),  # the running session drift score, 0-100
    Column("updated_at", String(40), nullable=False, index=True),
)

# --- behavioural baselines — migration 0012 -------------------------------------------------

# What each agent (kind "agent") and each purpose profile (kind "profile", for cold start)
# normally does, learned from allowed actions (warden.behavior); written behind by
# housekeeping. ``data`` holds the counts and histograms as JSON (never argument values
# beyond numeric ranges; recipients only as digests).
baselines = Table(
    "baselines",
    metadata,
    Column("kind", String(10), primary_key=True),  # "agent" | "profile"
    Column("subject", String(2048), primary_key=True),  # the agent's id or the profile's name
    Column("frozen", Boolean, nullable=False),
    Column("actions", Integer, nullable=False),
    Column("first_at", String(40), nullable=True),
    Column("last_at", String(40), nullable=True),
    Column("updated_at", String(40), nullable=False),
    Column("data", Text, nullable=False),  # JSON, see Baseline.to_data
)

# --- delegation chains and the ledger's index — migration 0013 ------------------------------

# One row per delegation (warden.chains): depth 0 is the person → root agent link (the root
# mandate), each deeper hop one agent → agent token exchange. ``chain_id`` names the whole
# tree; ``digest`` chains each hop to its parent (sha256 over the parent's digest and the
# hop's canonical JSON), so a hop cannot be altered or re-parented unnoticed.
chain_hops = Table(
    "chain_hops",
    metadata,
    Column("id", String(64), primary_key=True),  # hop_<hex>
    Column("chain_id", String(64), nullable=False, index=True),  # chn_<hex>: the tree
    Column("parent_id", String(64), nullable=True, index=True),  # None at depth 0
    Column("depth", Integer, nullable=False),  # 0: person → root agent
    Column("person", String(320), nullable=False, index=True),
    Column("from_party", String(2048), nullable=False),  # the person, or the delegating agent
    Column("to_agent", String(2048), nullable=False, index=True),
    Column("mandate_id", String(64), nullable=False),  # the hop's (child) mandate
    Column("root_mandate_id", String(64), nullable=False, index=True),
    Column("exchange_jti", String(64), nullable=True),  # the delegate's token from RFC 8693
    Column("task", Text, nullable=False),  # the delegated task in the delegator's words
    Column("tools", Text, nullable=True),  # JSON array: the tools the hop may use; None = all
    Column("limits", Text, nullable=False),  # JSON {tool: {argument: max}}
    Column("digest", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("entry_id", String(64), nullable=True),  # the ledger entry recording the delegation
)

# The ledger's own index for accountability queries, written in the same transaction as
# the entries it indexes: who the entry acted for, in which chain, by which agent. Only
# entries that name a person or a chain are indexed.
ledger_index = Table(
    "ledger_index",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("entry_id", String(64), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("person", String(320), nullable=True),
    Column("chain_id", String(64), nullable=True),
    Column("agent", String(2048), nullable=True),
    Index("ix_ledger_index_person_time", "person", "recorded_at"),
    Index("ix_ledger_index_chain", "chain_id", "seq"),
)

# --- step-up approvals — migration 0014 ------------------------------------------------------

# One row per held action (warden.approvals): bound to the hash of the exact action; released
# once, for that action only. ``held`` is the action as the approver must see it (tool,
# arguments, agent, mandate): it may hold personal data, so it never goes to the ledger.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", String(64), primary_key=True),  # apr_<hex>
    Column("action_hash", String(64), nullable=False, index=True),
    Column("decision_id", String(64), nullable=False),  # the step_up decision that held it
    Column("agent", String(2048), nullable=False, index=True),
    Column("person", String(320), nullable=True, index=True),  # on whose behalf, if known
    Column("tool", String(200), nullable=False),
    Column("mandate_id", String(64), nullable=True),
    Column("chain_id", String(64), nullable=True, index=True),
    Column("session_id", String(64), nullable=True),
    Column("reasons", Text, nullable=False),  # JSON: the step-up reasons
    Column("held", Text, nullable=False),  # JSON: the action as held
    Column("required", Integer, nullable=False),  # approvals needed (M of N)
    Column("separation_of_duties", Boolean, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False, index=True),
    Column("decided_at", String(40), nullable=True),
    Column("used_at", String(40), nullable=True),
    Column("status_reason", Text, nullable=False, server_default=""),
)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("approver", String(320), primary_key=True),
    Column("vote", String(10), nullable=False),  # approve | deny
    Column("comment", Text, nullable=False, server_default=""),
    Column("at", String(40), nullable=False),
)

# --- kill switch — migration 0015 ------------------------------------------------------------

# Each kill of an agent, session, chain, mandate or person, and its revival (warden.kill).
kills = Table(
    "kills",
    metadata,
    Column("id", String(64), primary_key=True),  # kil_<hex>
    Column("kind", String(20), nullable=False),  # agent | session | chain | mandate | person
    Column("target", String(2048), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("created_at", String(40), nullable=False, index=True),
    Column("revived_at", String(40), nullable=True),
    Column("revived_by", String(320), nullable=True),
    Column("revive_reason", Text, nullable=True),
    Index("ix_kills_target", "kind", "target"),
)

# --- Shared Signals (SSF 1.0, CAEP) — migration 0016 -----------------------------------------

# Streams Warden transmits to (warden.ssf), the events queued for each (push: until the
# receiver accepts them; poll: until it acknowledges them), and the events received from IdPs.
ssf_streams = Table(
    "ssf_streams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("audience", Text, nullable=False),  # JSON array
    Column("events_requested", Text, nullable=False),  # JSON array of event type URIs
    Column("events_delivered", Text, nullable=False),
    Column("delivery_method", String(40), nullable=False),  # urn:ietf:rfc:8935 | 8936
    Column("endpoint_url", Text, nullable=True),  # push: the receiver's endpoint
    Column("authorization_header", Text, nullable=True),  # push: sent as is; a secret
    Column("status", String(20), nullable=False),  # enabled | paused | disabled
    Column("status_reason", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

ssf_outbox = Table(
    "ssf_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("stream_id", String(64), nullable=False),
    Column("jti", String(64), nullable=False, unique=True),
    Column("token", Text, nullable=False),  # the signed SET
    Column("created_at", String(40), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", String(40), nullable=True),
    Column("delivered_at", String(40), nullable=True),  # push: accepted; poll: acknowledged
    Column("last_error", Text, nullable=True),
    Index("ix_ssf_outbox_pending", "stream_id", "delivered_at", "seq"),
)

ssf_received = Table(
    "ssf_received",
    metadata,
    Column("jti", String(256), primary_key=True),
    Column("issuer", String(2048), nullable=False),
    Column("event_types", Text, nullable=False),  # JSON array
    Column("subject", Text, nullable=False),  # JSON: the sub_id
    Column("received_at", String(40), nullable=False),
    Column("outcome", Text, nullable=False),  # what Warden did
)

# -- gateway connections (warden.gateway.connections) --------------------------------------------

gateway_connections = Table(
    "gateway_connections",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("protocol", String(10), nullable=False),  # http | mcp
    Column("url", Text, nullable=False),
    Column("auth", String(40), nullable=False),
    Column("params", Text, nullable=False),  # JSON, never secret
    Column("routes", Text, nullable=False),  # JSON list of {method, template, tool}
    Column("tool_prefix", String(200), nullable=False, server_default=""),
    Column("limits", Text, nullable=False),  # JSON {timeout, max_request_bytes, ...}
    Column("description", Text, nullable=False, server_default=""),
    Column("secret", Text, nullable=True),  # Fernet token of the secret; never plain text
    Column("key_id", String(64), nullable=True),  # which key encrypted it
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
