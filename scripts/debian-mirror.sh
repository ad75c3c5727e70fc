# shellcheck shell=bash
# Sourced by scripts/setup and scripts/docker-base: the Debian mirror of
# this system's own apt sources.
#
#   apt_dir              apt's configuration directory (default /etc/apt)
#   debian_mirror_skip   a sources file to ignore (setup's own backports entry)

# The main suite's entry of this system's apt sources, deb822
# (sources.list.d/*.sources) and one-line (sources.list, *.list) alike:
# prints "URI<TAB>SIGNED-BY" of the first enabled "deb" entry for suite $1
# with component main (SIGNED-BY may be empty), or nothing.
debian_mirror() {
    local suite=$1 f apt_dir=${apt_dir:-/etc/apt}
    for f in "$apt_dir"/sources.list.d/*.sources; do
        [ -f "$f" ] && [ "$f" != "${debian_mirror_skip:-}" ] || continue
        awk -v suite="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false)$/ &&
                    (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main / &&
                    uri != "" && uri !~ /^cdrom:/) { print uri "\t" signed; found = 1; exit }
                types = suites = comps = uri = signed = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { next }   # continuation line (an inline key)
            {
                k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
                if (k == "types") types = v
                else if (k == "uris") { split(v, u, /[ \t]+/); uri = u[1] }
                else if (k == "suites") suites = v
                else if (k == "components") comps = v
                else if (k == "enabled") enabled = tolower(v)
                else if (k == "signed-by" && v ~ /^\//) signed = v
            }
            END { if (!found) flush() }' "$f" | grep . && return 0
    done
    for f in "$apt_dir"/sources.list "$apt_dir"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            $1 != "deb" { next }
            {
                signed = ""; i = 2
                if ($2 ~ /^\[/) {
                    for (; i <= NF; i++) {
                        if ($i ~ /^\[?signed-by=/) { s = $i; sub(/^\[?signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                        if ($i ~ /\]$/) { i++; break }
                    }
                }
                uri = $i; ok = 0
                if ($(i + 1) != suite) next
                for (j = i + 2; j <= NF; j++) if ($j == "main") ok = 1
                if (ok && uri !~ /^cdrom:/) { print uri "\t" signed; exit }
            }' "$f" | grep . && return 0
    done
    return 1
}
