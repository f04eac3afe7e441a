-- What a fetched document says the linked content hashes to (npm's `dist.integrity`, a wheel's
-- `#sha256=`): the proxy verifies the bytes against it before it keeps them. NULL: the document
-- did not say.
ALTER TABLE upstream_links ADD COLUMN digest TEXT;
