-- Pinned site identities (issue 17): the Ed25519 identity key (hex) first
-- verified for each site name, trusted or waiting for the operator's
-- approval; and identity keys the operator blocked (revoked sites).
-- Runtime state like the known sites: writes here never move the revision.
CREATE TABLE site_pins (
    name TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('trusted', 'pending')),
    updated_at INTEGER NOT NULL
);

CREATE TABLE blocked_keys (
    key TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    blocked_at INTEGER NOT NULL
);

-- The last identity rotation of this site: its previous identity key and
-- that key's signature over (site name, new key), sent with every
-- announcement so peers that pinned the old key move their pin.
CREATE TABLE identity_rotation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    prev_key TEXT NOT NULL,
    prev_sig TEXT NOT NULL,
    rotated_at INTEGER NOT NULL
);
