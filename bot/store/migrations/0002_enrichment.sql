-- Threat-intel cache and the merged verdict of each indicator on each case.
CREATE TABLE intel_cache (
    connector      TEXT NOT NULL,
    credential_id  TEXT NOT NULL,   -- a fingerprint of the credentials: rotating a key misses the cache
    kind           TEXT NOT NULL,
    value          TEXT NOT NULL,
    verdict        TEXT NOT NULL,   -- JSON of bot.core.ports.Verdict
    fetched_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (connector, credential_id, kind, value)
) WITHOUT ROWID;

CREATE TABLE case_verdicts (
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    level        TEXT NOT NULL,
    score        INTEGER NOT NULL,
    report       TEXT NOT NULL,     -- JSON: verdicts, failures and skipped sources
    enriched_at  TEXT NOT NULL,
    PRIMARY KEY (case_id, kind, value)
) WITHOUT ROWID;
