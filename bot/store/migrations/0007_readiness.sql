-- One row that the readiness probe rewrites: only a real write (and its fsync) proves the database can be written.
CREATE TABLE readiness (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  TEXT NOT NULL
);
