-- The chat outbox: every message soarbot sends is a row first, so nothing is lost in a restart, and updates to
-- one message coalesce while it waits. A row's id is the logical message id handed out at once ("o:<id>").
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    platform     TEXT NOT NULL,
    op           TEXT NOT NULL,             -- post | update | ephemeral
    channel      TEXT NOT NULL,
    target       INTEGER REFERENCES outbox (id),  -- update: the post it changes; post: the thread parent
    user_id      TEXT,                      -- ephemeral: who sees it
    dedup_key    TEXT UNIQUE,               -- post: one message per (case, kind), e.g. case:12:card
    case_id      INTEGER,
    payload      TEXT NOT NULL,             -- JSON of the neutral card
    status       TEXT NOT NULL,             -- pending | sent | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    error        TEXT,
    ts           TEXT,                      -- post: the platform's message id once sent
    created_at   TEXT NOT NULL,
    sent_at      TEXT
);
CREATE INDEX outbox_due ON outbox (next_at, id) WHERE status = 'pending';
CREATE INDEX outbox_by_ts ON outbox (channel, ts);
