-- Known peer sites: each peer's last valid announcement, so a restarted
-- agent can dial its peers while the broker is unreachable. Runtime state,
-- not desired state: writes here do not bump the revision.
CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    announcement TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
