-- Durable playbook runs, approval requests with their votes, and containment actions.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    playbook    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    case_id     INTEGER REFERENCES cases (id),
    alert_id    INTEGER REFERENCES alerts (id),
    trigger_key TEXT NOT NULL,          -- case:<id> or alert:<id>: a playbook fires once per key
    status      TEXT NOT NULL,          -- running | waiting | completed | failed
    context     TEXT NOT NULL,          -- JSON: the alert and case as the run saw them at its start
    requester   TEXT NOT NULL,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (playbook, trigger_key)
);
CREATE INDEX runs_by_status ON runs (status, id);

CREATE TABLE run_steps (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    step_key    TEXT NOT NULL,          -- step id, or id[n] for the n-th for_each item
    status      TEXT NOT NULL,          -- succeeded | failed | skipped | waiting
    result      TEXT NOT NULL,          -- JSON
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, step_key)
) WITHOUT ROWID;

CREATE TABLE approvals (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER REFERENCES runs (id),
    step_key         TEXT NOT NULL,
    case_id          INTEGER REFERENCES cases (id),
    action           TEXT NOT NULL,
    target           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    message          TEXT NOT NULL,
    requester        TEXT NOT NULL,
    policy           TEXT NOT NULL,     -- JSON: roles, users, escalation ladder
    required         INTEGER NOT NULL,
    critical         INTEGER NOT NULL,
    status           TEXT NOT NULL,     -- pending | approved | denied | expired
    outcome          TEXT,              -- approve | deny (for expired: the default outcome applied)
    decided_by       TEXT,
    decided_at       TEXT,
    decision_reason  TEXT,
    expires_at       TEXT NOT NULL,
    remind_at        TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    card             TEXT,              -- JSON: where the approval card was posted
    created_at       TEXT NOT NULL,
    UNIQUE (run_id, step_key)
);
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE status = 'pending';

CREATE TABLE votes (
    approval_id  INTEGER NOT NULL REFERENCES approvals (id),
    user_id      TEXT NOT NULL,
    vote         TEXT NOT NULL,         -- approve | deny
    reason       TEXT,
    at           TEXT NOT NULL,
    PRIMARY KEY (approval_id, user_id)
) WITHOUT ROWID;

CREATE TABLE actions (
    id               INTEGER PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    run_id           INTEGER REFERENCES runs (id),
    step_key         TEXT NOT NULL,
    case_id          INTEGER REFERENCES cases (id),
    action           TEXT NOT NULL,     -- e.g. firewall.block_ip
    connector        TEXT NOT NULL,
    target           TEXT NOT NULL,
    status           TEXT NOT NULL,     -- attempted | done | failed | reverted
    result           TEXT,              -- JSON ActionResult or error
    undo             TEXT,              -- JSON: what revert needs
    revert_at        TEXT,              -- automatic undo (a block with a TTL)
    attempted_at     TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX actions_due_revert ON actions (revert_at) WHERE status = 'done' AND revert_at IS NOT NULL;

ALTER TABLE cases ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
