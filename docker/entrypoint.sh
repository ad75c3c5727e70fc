#!/bin/sh
# The container's entrypoint.
#
# `run` (the default command):
#  1. imports $WOVENET_CONFIG (default /etc/wovenet/config.yaml) when it is
#     mounted and differs from the config imported last (whose SHA-256 is
#     kept next to the DB, in config.sha256): on the first start and after
#     the file was edited (by the rules of `wovenet import`, docs/CONFIG.md).
#     An import only ever touches the file's own objects (what the API made
#     is kept, as with `wovenet run --config`); an unchanged file is not
#     even imported again, so the store is the volume's across restarts and
#     `docker-compose down` / `up`. Without a config, and with no site stored yet, a minimal
#     site is made from WOVENET_SITE_NAME, WOVENET_NETWORK_KEY (or
#     WOVENET_NETWORK_KEY_FILE), WOVENET_BROKER and WOVENET_TOPIC, to be
#     completed through the API;
#  2. creates an API bearer token once, into /var/lib/wovenet/api-token
#     (0600; the token is never logged): the API listens on
#     $WOVENET_API_LISTEN (0.0.0.0:18080), which the agent refuses without
#     authentication;
#  3. execs `wovenet run`, which logs in the format WOVENET_LOG_FORMAT says
#     when set (the image sets json) and stops cleanly on SIGTERM (docker
#     stop): it publishes its offline record and exits 0.
# `healthcheck`: GET /readyz on the port of WOVENET_API_LISTEN (the image's
# HEALTHCHECK); exit 0 when ready.
# Any other command is passed to wovenet (e.g. `status`, `export`).
#
# The entrypoint's own messages are log lines in the agent's format on
# stdout: JSON with WOVENET_LOG_FORMAT=json, else text.
set -eu
exe=${WOVENET_EXE:-/usr/bin/wovenet} # overridable for the tests
db=${WOVENET_DB:-/var/lib/wovenet/wovenet.db}
cfg=${WOVENET_CONFIG:-/etc/wovenet/config.yaml}
listen=${WOVENET_API_LISTEN:-0.0.0.0:18080}
state=$(dirname "$db")
tokfile=$state/api-token
sumfile=$state/config.sha256
umask 077

tab=$(printf '\t')
log() { # LEVEL MESSAGE (several lines are joined)
    ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    if [ "${WOVENET_LOG_FORMAT:-}" = json ]; then
        printf '%s' "$2" | tr -d '\000-\010\013-\037' |
            sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$tab/\\\\t/g" |
            awk -v ts="$ts" -v level="$1" '{ msg = (NR > 1 ? msg "\\n" : "") $0 }
                END { printf "{\"time\":\"%s\",\"level\":\"%s\",\"subsys\":\"entrypoint\",\"msg\":\"%s\"}\n", ts, level, msg }'
    else
        printf '%s %-5s [entrypoint] %s\n' "$ts" "$1" "$(printf '%s' "$2" | tr '\n' ' ')"
    fi
}

case ${1:-run} in
run) ;;
healthcheck)
    host=${listen%:*}
    case $host in
    0.0.0.0 | "") host=127.0.0.1 ;;
    "[::]") host="[::1]" ;;
    esac
    exec curl -fsS -o /dev/null --max-time 2 "http://$host:${listen##*:}/readyz"
    ;;
*) exec "$exe" "$@" ;;
esac
if [ $# -gt 0 ]; then shift; fi

has_site() { "$exe" export --db "$db" >/dev/null 2>&1; }

if [ -f "$cfg" ]; then
    sum=$(sha256sum <"$cfg" | cut -d' ' -f1)
    if [ "$(cat "$sumfile" 2>/dev/null || true)" = "$sum" ] && has_site; then
        log INFO "config $cfg unchanged since its last import: running the stored state"
    else
        if ! out=$("$exe" import --db "$db" "$cfg" 2>&1); then
            log ERROR "$out"
            exit 1
        fi
        log INFO "$out"
        printf '%s\n' "$sum" >"$sumfile"
    fi
elif ! has_site; then
    if [ -z "${WOVENET_SITE_NAME:-}" ]; then
        log ERROR "no config: mount one at $cfg or set WOVENET_SITE_NAME, WOVENET_NETWORK_KEY and WOVENET_BROKER"
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
    if ! out=$("$exe" import --db "$db" --origin api "$boot" 2>&1); then
        rm -f "$boot"
        log ERROR "bootstrap from WOVENET_*: $out"
        exit 1
    fi
    rm -f "$boot"
    log INFO "site $WOVENET_SITE_NAME made from WOVENET_SITE_NAME, WOVENET_NETWORK_KEY, WOVENET_BROKER, WOVENET_TOPIC"
fi

if [ ! -s "$tokfile" ]; then
    # token create explains on stderr what a first credential changes: into
    # the log as one line (the token itself goes only to the file).
    if ! note=$("$exe" token create --db "$db" --name "container-$(date +%s)" 2>&1 >"$tokfile"); then
        rm -f "$tokfile"
        log ERROR "cannot create the API token: $note"
        exit 1
    fi
    [ -z "$note" ] || log INFO "${note#wovenet: }"
    log INFO "API token written to $tokfile (docker exec ... cat $tokfile)"
fi
exec "$exe" run --db "$db" --api "$listen" "$@"
