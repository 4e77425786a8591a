-- Access: projects, users, memberships, robot accounts and CI tokens, signing keys, login
-- failure counters and the audit log.

-- A project is the first path component of a repository name.
CREATE TABLE projects (
    name       TEXT PRIMARY KEY,
    public     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    -- PHC string of an argon2id hash.
    password_hash TEXT NOT NULL,
    -- System administrator: every right on every project.
    admin         INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    project TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (project, user_id)
) STRICT, WITHOUT ROWID;

-- Robot accounts and CI push tokens: machine credentials confined to repositories of one
-- project that match `pattern`, with a subset of actions and an expiry.
CREATE TABLE robots (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    project     TEXT NOT NULL REFERENCES projects (name) ON DELETE CASCADE,
    pattern     TEXT NOT NULL,
    actions     TEXT NOT NULL,
    -- SHA-256 of the secret: secrets are 256 random bits, so a fast hash is enough.
    secret_hash BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- HMAC keys that sign tokens; every replica reads them, so each verifies the others' tokens.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set when a newer key replaces this one; it still verifies until tokens it signed expire.
    retired_at INTEGER
) STRICT, WITHOUT ROWID;

-- Failed logins per key (`user:<name>` or `addr:<ip>`) in the current window.
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    project    TEXT,
    repository TEXT,
    digest     TEXT,
    detail     TEXT,
    address    TEXT
) STRICT;

CREATE INDEX audit_by_project ON audit (project, id);
CREATE INDEX audit_by_actor ON audit (actor, id);

-- The audit log is append-only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
