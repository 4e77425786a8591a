-- How many manifests each repository holds, kept by triggers, so that the catalog (the
-- repositories holding at least one) is one range of a partial index: a page costs the same at
-- 100 repositories as at 100,000, instead of a probe into the manifests per name listed.
ALTER TABLE repositories ADD COLUMN manifests INTEGER NOT NULL DEFAULT 0;

UPDATE repositories
SET manifests = (SELECT count(*) FROM manifests m WHERE m.repository_id = repositories.id);

CREATE TRIGGER manifests_counted AFTER INSERT ON manifests BEGIN
    UPDATE repositories SET manifests = manifests + 1 WHERE id = NEW.repository_id;
END;

CREATE TRIGGER manifests_uncounted AFTER DELETE ON manifests BEGIN
    UPDATE repositories SET manifests = manifests - 1 WHERE id = OLD.repository_id;
END;

CREATE INDEX repositories_listed ON repositories (name) WHERE manifests > 0;
