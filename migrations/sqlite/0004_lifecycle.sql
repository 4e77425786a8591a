-- Lifecycle: per-project tag policy, retention, quota and size budget; image sizes and pull
-- tracking; what each manifest references (for GC); touch times and tombstones of blobs; locks
-- held in the store so that any replica may run GC or retention.

ALTER TABLE projects ADD COLUMN immutable_releases INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN follow_aliases INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN latest_on_push INTEGER NOT NULL DEFAULT 0;
-- Retention rules, one per line, in the language of `lifecycle::retention`.
ALTER TABLE projects ADD COLUMN retention TEXT NOT NULL DEFAULT '';
-- Cron expression of scheduled retention runs, if any.
ALTER TABLE projects ADD COLUMN retention_schedule TEXT;
ALTER TABLE projects ADD COLUMN quota_bytes INTEGER;
ALTER TABLE projects ADD COLUMN budget_bytes INTEGER;
-- 1: an image over budget is stored and a warning audited; 0: it is refused.
ALTER TABLE projects ADD COLUMN budget_warn_only INTEGER NOT NULL DEFAULT 0;

-- Size budgets of single repositories, overriding their project's.
CREATE TABLE repository_budgets (
    repository TEXT PRIMARY KEY,
    bytes      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Compressed size of the image: the manifest plus the blobs or child manifests it names.
ALTER TABLE manifests ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN pulled_at INTEGER;
ALTER TABLE manifests ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN pulled_at INTEGER;
ALTER TABLE tags ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;

-- Blobs (child = 0) and child manifests (child = 1) each manifest references.
CREATE TABLE manifest_refs (
    repository_id INTEGER NOT NULL,
    manifest      TEXT NOT NULL,
    digest        TEXT NOT NULL,
    child         INTEGER NOT NULL,
    PRIMARY KEY (repository_id, manifest, digest),
    FOREIGN KEY (repository_id, manifest) REFERENCES manifests (repository_id, digest)
        ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX manifest_refs_by_digest ON manifest_refs (repository_id, digest);

INSERT OR IGNORE INTO manifest_refs
SELECT repository_id, digest, json_extract(CAST(content AS TEXT), '$.config.digest'), 0
FROM manifests WHERE json_extract(CAST(content AS TEXT), '$.config.digest') IS NOT NULL;

INSERT OR IGNORE INTO manifest_refs
SELECT m.repository_id, m.digest, json_extract(l.value, '$.digest'), 0
FROM manifests m, json_each(CAST(m.content AS TEXT), '$.layers') l
WHERE json_extract(l.value, '$.urls') IS NULL;

INSERT OR IGNORE INTO manifest_refs
SELECT m.repository_id, m.digest, json_extract(c.value, '$.digest'), 1
FROM manifests m, json_each(CAST(m.content AS TEXT), '$.manifests') c;

UPDATE manifests SET size = length(content)
    + coalesce(json_extract(CAST(content AS TEXT), '$.config.size'), 0)
    + coalesce((SELECT sum(json_extract(value, '$.size'))
                FROM json_each(CAST(content AS TEXT), '$.layers')), 0)
    + coalesce((SELECT sum(json_extract(value, '$.size'))
                FROM json_each(CAST(content AS TEXT), '$.manifests')), 0);

-- When a blob or a repository's link to it was last created or used (unix seconds): GC spares
-- what is younger than its grace period, which covers the time between an upload or a `HEAD`
-- and the manifest that references the blob.
ALTER TABLE blobs ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = created_at;
-- Tombstone: GC is deleting the bytes and holds the right to until this time (unix ms).
ALTER TABLE blobs ADD COLUMN deleting_until INTEGER;
ALTER TABLE repository_blobs ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0;
UPDATE repository_blobs SET touched_at = created_at;

CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

-- Leases on named jobs (`gc`, `retention:<project>`): one holder at a time across replicas.
CREATE TABLE locks (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
