#!/bin/sh
# The container's entrypoint. `run` (the default command):
#  1. imports $WOVENET_CONFIG (default /etc/wovenet/config.yaml) when mounted
#     (at every start, like `wovenet run --config`: the file's own objects are
#     made equal to it, what the API made is kept); without
#     one, and with no site stored yet, a minimal site is made from
#     WOVENET_SITE_NAME, WOVENET_NETWORK_KEY (or WOVENET_NETWORK_KEY_FILE),
#     WOVENET_BROKER and WOVENET_TOPIC, to be completed through the API;
#  2. creates an API bearer token once, into /var/lib/wovenet/api-token
#     (0600; the token is never logged): the API listens on
#     $WOVENET_API_LISTEN (0.0.0.0:18080), which the agent refuses without
#     authentication;
#  3. execs `wovenet run`, which stops cleanly on SIGTERM (docker stop).
# Any other command is passed to wovenet (e.g. `status`, `export`).
set -eu
exe=${WOVENET_EXE:-/usr/bin/wovenet} # overridable for the tests
db=${WOVENET_DB:-/var/lib/wovenet/wovenet.db}
cfg=${WOVENET_CONFIG:-/etc/wovenet/config.yaml}
tokfile=$(dirname "$db")/api-token
umask 077

if [ "${1:-run}" != run ]; then
    exec "$exe" "$@"
fi
if [ $# -gt 0 ]; then shift; fi

if [ -f "$cfg" ]; then
    "$exe" import --db "$db" "$cfg"
elif ! "$exe" export --db "$db" --format yaml >/dev/null 2>&1; then
    if [ -z "${WOVENET_SITE_NAME:-}" ]; then
        echo "wovenet: no config: mount one at $cfg or set WOVENET_SITE_NAME," \
             "WOVENET_NETWORK_KEY and WOVENET_BROKER" >&2
        exit 1
    fi
    key=${WOVENET_NETWORK_KEY:-}
    if [ -n "${WOVENET_NETWORK_KEY_FILE:-}" ]; then key=$(cat "$WOVENET_NETWORK_KEY_FILE"); fi
    boot=$(mktemp)
    trap 'rm -f "$boot"' EXIT
    cat >"$boot" <<YAML
siteName: "$WOVENET_SITE_NAME"
crypto:
  key: "$key"
messageChannel:
  protocol: mqtt
  mqtt:
    brokerServer: "${WOVENET_BROKER:-mqtt://mosquitto:1883}"
    topic: "${WOVENET_TOPIC:-}"
YAML
    # API-managed: "to be completed through the API", which a file-managed
    # site would refuse (and the temporary file is gone after this).
    "$exe" import --db "$db" --origin api "$boot"
    rm -f "$boot"
fi

if [ ! -s "$tokfile" ]; then
    "$exe" token create --db "$db" --name "container-$(date +%s)" >"$tokfile"
    echo "wovenet: API token written to $tokfile (docker exec ... cat $tokfile)"
fi
exec "$exe" run --db "$db" --api "${WOVENET_API_LISTEN:-0.0.0.0:18080}" "$@"
