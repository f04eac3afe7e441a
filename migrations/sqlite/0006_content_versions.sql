-- A counter per repository that moves with every change to its asset rows. Nodes cache the
-- documents they generate from those rows (docker tag lists, catalogs, referrers) together
-- with the counter they were computed at, and trust a cached copy only while the counter
-- still has that value: one indexed read instead of a scan, on every node alike.
--
-- Triggers keep it, so no write path (push, delete, proxy cache fill, cleanup) can forget to.
-- No foreign key: rows deleted by a repository's cascade would otherwise re-insert a row for
-- a repository being deleted. A leftover row of a deleted repository is a few bytes, and ids
-- are never reused.
CREATE TABLE content_versions (
    repo_id TEXT    PRIMARY KEY,
    value   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER assets_inserted AFTER INSERT ON assets BEGIN
    INSERT INTO content_versions (repo_id, value) VALUES (NEW.repo_id, 1)
        ON CONFLICT (repo_id) DO UPDATE SET value = value + 1;
END;

CREATE TRIGGER assets_deleted AFTER DELETE ON assets BEGIN
    INSERT INTO content_versions (repo_id, value) VALUES (OLD.repo_id, 1)
        ON CONFLICT (repo_id) DO UPDATE SET value = value + 1;
END;

-- Not on last_downloaded: a read must not invalidate anything.
CREATE TRIGGER assets_updated AFTER UPDATE OF path, digest, size, content_type, attrs ON assets
BEGIN
    INSERT INTO content_versions (repo_id, value) VALUES (NEW.repo_id, 1)
        ON CONFLICT (repo_id) DO UPDATE SET value = value + 1;
END;
