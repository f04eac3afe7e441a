-- Format-specific settings move out of the kind's settings (issue 13): each format reads and
-- validates its own JSON object. Docker's Docker Hub naming was the only one; it moves from
-- the proxy settings' `docker_hub_index` to the docker options' `hub_index`.
ALTER TABLE repositories ADD COLUMN options TEXT NOT NULL DEFAULT '{}';

UPDATE repositories
   SET options = json_object('hub_index', json('true')),
       config = json_remove(config, '$.docker_hub_index')
 WHERE format = 'docker' AND json_extract(config, '$.docker_hub_index') = 1;

UPDATE repositories
   SET config = json_remove(config, '$.docker_hub_index')
 WHERE json_type(config, '$.docker_hub_index') IS NOT NULL;

-- Upstream URLs a proxy learnt from the metadata it fetched (an npm tarball on a CDN, a wheel
-- on another host): the path is not enough to find them. `source` is the metadata document
-- that named them, whose next fetch replaces them.
CREATE TABLE upstream_links (
    repo_id TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    path    TEXT NOT NULL,
    source  TEXT NOT NULL,
    url     TEXT NOT NULL,
    PRIMARY KEY (repo_id, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX upstream_links_by_source ON upstream_links (repo_id, source);
