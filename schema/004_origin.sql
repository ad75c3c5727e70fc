-- Where each object of the desired state comes from: 'config' (the config
-- file of `wovenet run --config` / `wovenet import`, which manages it: every
-- import makes it equal to the file again) or 'api' (created through the
-- API, the dashboard or `wovenet apply`, or taken over from the file: no
-- import touches it). NULL: stored before origins were recorded; the next
-- import makes it 'config' if the file lists it and keeps it as 'api'
-- otherwise, so nothing made through the API is lost on upgrade.
ALTER TABLE site ADD COLUMN origin TEXT CHECK (origin IN ('config', 'api'));
ALTER TABLE tunnel_sockets ADD COLUMN origin TEXT CHECK (origin IN ('config', 'api'));
ALTER TABLE exposed_apps ADD COLUMN origin TEXT CHECK (origin IN ('config', 'api'));
ALTER TABLE remote_apps ADD COLUMN origin TEXT CHECK (origin IN ('config', 'api'));
-- The config file the 'config' objects come from (the last one imported),
-- named in the API's refusals.
ALTER TABLE meta ADD COLUMN config_file TEXT NOT NULL DEFAULT '';
