-- Tokens with a lifecycle: a scope (what the token may do), an expiry and
-- the time it was last used. Existing tokens keep full access ("write"),
-- never expire, and count as never used.
--   scope:     'write' (everything), 'read' (GET/HEAD only), 'metrics'
--              (GET /metrics only)
--   expires:   Unix seconds; 0 = never
--   last_used: Unix seconds; 0 = never (updated at most once a minute)
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write'
    CHECK (scope IN ('write', 'read', 'metrics'));
ALTER TABLE api_tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0;
