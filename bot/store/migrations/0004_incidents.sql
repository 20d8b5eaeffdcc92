-- Incident channels declared for cases, and platform deliveries already recorded.
CREATE TABLE incidents (
    case_id      INTEGER PRIMARY KEY REFERENCES cases (id),
    title        TEXT NOT NULL,
    channel      TEXT UNIQUE,          -- NULL while the channel is being created
    summary_ref  TEXT,                 -- JSON MessageRef of the pinned summary card
    roles        TEXT NOT NULL DEFAULT '{}',  -- JSON: incident role → user id
    status       TEXT NOT NULL,        -- declaring | active | resolved
    last_update  TEXT,                 -- the latest "incident status" text
    declared_by  TEXT NOT NULL,
    declared_at  TEXT NOT NULL,
    resolved_at  TEXT
);

-- A platform delivery (Slack event_id) is written to a case timeline once, however often it is retried.
CREATE TABLE seen_events (
    event_id  TEXT PRIMARY KEY,
    at        TEXT NOT NULL
) WITHOUT ROWID;
