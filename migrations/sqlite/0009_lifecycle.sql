-- The storage lifecycle (issue 15): what garbage collection needs to know of each asset, the
-- usage counters quotas read, the lease that lets one node collect at a time, task runs and
-- cleanup policies. Same portable conventions as 0001.

-- What each asset is to garbage collection, as its format says (`FormatSpec::role`), written
-- by the kind with the row: 0 root (kept until deleted: a tag, a file), 1 part (kept while a
-- kept asset needs it: a docker layer), 2 document (kept while referenced: a docker manifest).
-- NULL for rows written before this migration: the collector asks the format and fills it in
-- (with the row's references) before it touches the repository, and keeps such rows meanwhile.
ALTER TABLE assets ADD COLUMN role INTEGER;
-- When a write last linked this row (unix millis): the grace window of parts is measured from
-- it, so a layer linked again (a re-upload, a mount) is young again.
ALTER TABLE assets ADD COLUMN linked INTEGER;
UPDATE assets SET linked = created;

-- References between the assets of one repository, by storage path, as the format reads them
-- from the source (`FormatSpec::references`): kind 0 "needs" (a manifest needs its layers, a tag
-- its manifest; a hosted write is refused while a target is missing), kind 1 "attached" (a
-- referrer is attached to its subject, which keeps it). The target is not a foreign key: a
-- proxy caches a manifest before its layers, a referrer may come before its subject.
CREATE TABLE asset_refs (
    repo_id TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    kind    INTEGER NOT NULL,
    PRIMARY KEY (repo_id, path, target),
    FOREIGN KEY (repo_id, path) REFERENCES assets (repo_id, path) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX asset_refs_by_target ON asset_refs (repo_id, target);

-- "Is this digest linked in this repository?" and "anywhere?", per write and per collected blob.
DROP INDEX assets_by_digest;
CREATE INDEX assets_by_digest ON assets (digest, repo_id);

-- Bytes and count of the distinct blobs each repository links (a blob linked at several paths
-- of one repository counts once), kept by triggers so a quota check is one read. No foreign
-- key, as content_versions (0006): a repository's cascade would re-insert rows.
CREATE TABLE repo_usage (
    repo_id TEXT    PRIMARY KEY,
    bytes   INTEGER NOT NULL,
    blobs   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO repo_usage (repo_id, bytes, blobs)
    SELECT repo_id, SUM(size), COUNT(*) FROM (SELECT DISTINCT repo_id, digest, size FROM assets)
    GROUP BY repo_id;

CREATE TRIGGER assets_usage_inserted AFTER INSERT ON assets
WHEN NOT EXISTS (SELECT 1 FROM assets o WHERE o.digest = NEW.digest AND o.repo_id = NEW.repo_id
                 AND o.path <> NEW.path)
BEGIN
    INSERT INTO repo_usage (repo_id, bytes, blobs) VALUES (NEW.repo_id, NEW.size, 1)
        ON CONFLICT (repo_id) DO UPDATE SET bytes = bytes + excluded.bytes, blobs = blobs + 1;
END;

CREATE TRIGGER assets_usage_deleted AFTER DELETE ON assets
WHEN NOT EXISTS (SELECT 1 FROM assets o WHERE o.digest = OLD.digest AND o.repo_id = OLD.repo_id)
BEGIN
    UPDATE repo_usage SET bytes = bytes - OLD.size, blobs = blobs - 1 WHERE repo_id = OLD.repo_id;
END;

CREATE TRIGGER assets_usage_moved_from AFTER UPDATE OF digest ON assets
WHEN OLD.digest <> NEW.digest AND NOT EXISTS (SELECT 1 FROM assets o WHERE o.digest = OLD.digest
                                              AND o.repo_id = OLD.repo_id)
BEGIN
    UPDATE repo_usage SET bytes = bytes - OLD.size, blobs = blobs - 1 WHERE repo_id = OLD.repo_id;
END;

CREATE TRIGGER assets_usage_moved_to AFTER UPDATE OF digest ON assets
WHEN OLD.digest <> NEW.digest AND NOT EXISTS (SELECT 1 FROM assets o WHERE o.digest = NEW.digest
                                              AND o.repo_id = NEW.repo_id AND o.path <> NEW.path)
BEGIN
    INSERT INTO repo_usage (repo_id, bytes, blobs) VALUES (NEW.repo_id, NEW.size, 1)
        ON CONFLICT (repo_id) DO UPDATE SET bytes = bytes + excluded.bytes, blobs = blobs + 1;
END;

CREATE TRIGGER repositories_usage_deleted AFTER DELETE ON repositories BEGIN
    DELETE FROM repo_usage WHERE repo_id = OLD.id;
END;

-- The blob store's totals (the blobs table), for its quota and the dashboard.
CREATE TABLE store_usage (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    bytes INTEGER NOT NULL,
    blobs INTEGER NOT NULL
) STRICT;
INSERT INTO store_usage (id, bytes, blobs)
    SELECT 1, COALESCE(SUM(size), 0), COUNT(*) FROM blobs;

CREATE TRIGGER blobs_usage_inserted AFTER INSERT ON blobs BEGIN
    UPDATE store_usage SET bytes = bytes + NEW.size, blobs = blobs + 1 WHERE id = 1;
END;

CREATE TRIGGER blobs_usage_deleted AFTER DELETE ON blobs BEGIN
    UPDATE store_usage SET bytes = bytes - OLD.size, blobs = blobs - 1 WHERE id = 1;
END;

-- Leases: a task that one node at a time may run (garbage collection) is held by `holder`
-- until `expires` (unix millis); the holder renews it while it works, another node takes it
-- over only once it expired.
CREATE TABLE leases (
    name    TEXT    PRIMARY KEY,
    holder  TEXT    NOT NULL,
    expires INTEGER NOT NULL
) STRICT;

-- Runs of the lifecycle's tasks ('gc', 'cleanup:<policy>', 'upload-expiry'), real and dry,
-- whichever node ran them.
CREATE TABLE task_runs (
    id          TEXT    PRIMARY KEY,
    task        TEXT    NOT NULL,
    dry_run     INTEGER NOT NULL,
    node        TEXT    NOT NULL,
    started     INTEGER NOT NULL,
    finished    INTEGER,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
    deleted     INTEGER NOT NULL DEFAULT 0,
    bytes_freed INTEGER NOT NULL DEFAULT 0,
    errors      TEXT    NOT NULL DEFAULT '[]',  -- JSON array of messages
    report      TEXT    NOT NULL DEFAULT '{}'   -- JSON: what went (a bounded sample), counts
) STRICT;
CREATE INDEX task_runs_by_task ON task_runs (task, started);

-- Cleanup policies, declared in trove.toml ([[cleanup_policy]], managed_by = 'config') or
-- created in the console and the API. Every criterion set must hold for a version to go.
CREATE TABLE cleanup_policies (
    id                          TEXT    PRIMARY KEY,
    name                        TEXT    NOT NULL UNIQUE,
    format                      TEXT    NOT NULL,         -- a format id, or '*'
    description                 TEXT    NOT NULL DEFAULT '',
    keep_latest                 INTEGER,
    published_before_days       INTEGER,
    last_downloaded_before_days INTEGER,
    name_regex                  TEXT,
    managed_by                  TEXT    NOT NULL,
    created                     INTEGER NOT NULL,
    updated                     INTEGER NOT NULL
) STRICT;

-- A repository's lifecycle settings: cleanup policies by name, quotas, immutable tags (JSON).
ALTER TABLE repositories ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '{}';
