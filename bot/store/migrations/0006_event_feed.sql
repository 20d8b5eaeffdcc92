-- The event feed: every timeline row gets a global, monotonic position in commit order, and every subscriber
-- (a chat surface's presenter, later digests and metrics) keeps its own cursor into it.
--
-- Commit order equals position order only because one writer appends (SQLite's write lock); a backend with
-- concurrent writers must hand positions out under the same lock that extends a case's chain, or readers could
-- pass over a position that commits late.
CREATE TABLE feed (
    position  INTEGER PRIMARY KEY,   -- rowid: monotonic, never reused (no deletes)
    case_id   INTEGER NOT NULL,      -- with seq, the timeline row (its primary key): no second index to keep on
    seq       INTEGER NOT NULL       -- the ingest path, where every alert appends an event
);

INSERT INTO feed (case_id, seq) SELECT case_id, seq FROM timeline ORDER BY at, case_id, seq;

-- Same statement as the timeline append, so the position commits with the event or not at all.
CREATE TRIGGER timeline_feed AFTER INSERT ON timeline
BEGIN INSERT INTO feed (case_id, seq) VALUES (NEW.case_id, NEW.seq); END;

CREATE TABLE feed_cursors (
    subscriber  TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;

-- One outbox per chat platform: message keys are unique per platform (an approval card exists once on each
-- surface), and a post may ask to be pinned once it is sent (an incident's summary).
CREATE TABLE outbox_new (
    id           INTEGER PRIMARY KEY,
    platform     TEXT NOT NULL,
    op           TEXT NOT NULL,             -- post | update | ephemeral
    channel      TEXT NOT NULL,
    target       INTEGER,                   -- update: the post it changes; post: the thread parent (an outbox id)
    user_id      TEXT,                      -- ephemeral: who sees it
    dedup_key    TEXT,                      -- post: one message per (platform, key), e.g. case:12:card
    case_id      INTEGER,
    payload      TEXT NOT NULL,             -- JSON of the neutral card
    status       TEXT NOT NULL,             -- pending | sent | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    error        TEXT,
    ts           TEXT,                      -- post: the platform's message id once sent
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    pin          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (platform, dedup_key)
);
INSERT INTO outbox_new (id, platform, op, channel, target, user_id, dedup_key, case_id, payload, status, attempts,
                        next_at, error, ts, created_at, sent_at)
    SELECT id, platform, op, channel, target, user_id, dedup_key, case_id, payload, status, attempts, next_at, error,
           ts, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (platform, next_at, id) WHERE status = 'pending';
CREATE INDEX outbox_by_ts ON outbox (platform, channel, ts);

-- Before this version an approval card and an incident's pinned summary were found through a stored reference
-- (approvals.card, incidents.summary_ref: {"id": "o:<outbox id>", ...}) and their rows had no key. Key them as
-- the surfaces now look them up, so the first vote or status after an upgrade updates the message people have.
UPDATE outbox SET dedup_key = (
    SELECT 'approval:' || a.id FROM approvals AS a WHERE json_extract(a.card, '$.id') = 'o:' || outbox.id
)
WHERE dedup_key IS NULL AND op = 'post'
  AND EXISTS (SELECT 1 FROM approvals AS a WHERE json_extract(a.card, '$.id') = 'o:' || outbox.id);
UPDATE outbox SET dedup_key = (
    SELECT 'incident:' || i.case_id || ':summary' FROM incidents AS i
    WHERE json_extract(i.summary_ref, '$.id') = 'o:' || outbox.id
)
WHERE dedup_key IS NULL AND op = 'post'
  AND EXISTS (SELECT 1 FROM incidents AS i WHERE json_extract(i.summary_ref, '$.id') = 'o:' || outbox.id);
