-- The routing rule attached to a repository (by name; rules are declared in trove.toml).
ALTER TABLE repositories ADD COLUMN routing_rule TEXT;
