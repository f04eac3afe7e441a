-- Per-repository "force basic authentication" (Nexus' docker option): anonymous requests and
-- anonymous tokens are refused even when anonymous access would allow them.
ALTER TABLE repositories ADD COLUMN force_basic_auth INTEGER NOT NULL DEFAULT 0;
