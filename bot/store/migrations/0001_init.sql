-- Cases, alerts, their indicators and the hash-chained case timeline.
CREATE TABLE cases (
    id           INTEGER PRIMARY KEY,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL,
    severity     TEXT NOT NULL,
    assignee     TEXT,
    source       TEXT NOT NULL,
    rule         TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    alert_count  INTEGER NOT NULL DEFAULT 0,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
-- Grouping looks up the newest open case with a fingerprint.
CREATE INDEX cases_open_by_fingerprint ON cases (fingerprint, id) WHERE status != 'closed';
CREATE INDEX cases_by_status ON cases (status, id);

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER REFERENCES cases (id),
    source       TEXT NOT NULL,
    format       TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    severity     TEXT NOT NULL,
    rule         TEXT NOT NULL,
    link         TEXT,
    time         TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    raw          TEXT NOT NULL,
    -- A resent delivery is stored once; a "resolved" notice is a separate row from its "firing" twin.
    UNIQUE (source, external_id, status)
);
CREATE INDEX alerts_by_case ON alerts (case_id, id);

CREATE TABLE observables (
    alert_id  INTEGER NOT NULL REFERENCES alerts (id),
    case_id   INTEGER REFERENCES cases (id),
    kind      TEXT NOT NULL,
    value     TEXT NOT NULL,
    role      TEXT,
    internal  INTEGER NOT NULL,
    PRIMARY KEY (alert_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX observables_by_case ON observables (case_id);
CREATE INDEX observables_by_value ON observables (kind, value);

CREATE TABLE timeline (
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

-- The timeline is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
BEGIN SELECT RAISE(ABORT, 'the case timeline is append-only'); END;
CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
BEGIN SELECT RAISE(ABORT, 'the case timeline is append-only'); END;
