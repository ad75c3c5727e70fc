-- The desired state of one site (docs/CANONICAL.md). Collection objects are
-- stored as their canonical JSON (compact, sorted keys) so a write that
-- changes nothing is detected by comparing text. Secrets live in their own
-- columns and never inside a spec.
-- schema_migrations itself is created by the store before any migration.

-- One row: the revision counter (the API's ETag), +1 per changing write.
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 0)
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- One row once a site has been imported or PUT. spec is the site object
-- without networkKey, messageChannel.password and basic-auth passwords.
CREATE TABLE site (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    site_name TEXT NOT NULL,
    network_key TEXT NOT NULL,
    mqtt_password TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    updated_rev INTEGER NOT NULL
);

-- Basic-auth users of the REST API: PBKDF2 hashes only (wv_password_hash).
CREATE TABLE basic_auth_users (
    user TEXT PRIMARY KEY,
    hash TEXT NOT NULL
);

CREATE TABLE tunnel_sockets (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_rev INTEGER NOT NULL
);

CREATE TABLE exposed_apps (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_rev INTEGER NOT NULL
);

CREATE TABLE remote_apps (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_rev INTEGER NOT NULL
);

-- Bearer tokens: the SHA-256 (hex) of the token, never the token.
CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);

-- The site's persistent TLS key pair and self-signed certificate (PEM).
CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL
);
