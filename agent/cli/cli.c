/* Argument parsing and usage texts. */
#include "wv/cli.h"
#include "wv/base.h"
#include "wv/model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One table for every command, in every --help. */
#define EXIT_TABLE                                                                           \
    "exit status (every command):\n"                                                         \
    "  0   success (apply, plan: nothing to change)\n"                                      \
    "  1   error: invalid config or input, API or store failure (one line on stderr)\n"    \
    "  2   changes present: apply changed the site, plan would (like terraform plan\n"     \
    "      -detailed-exitcode); only apply and plan exit 2\n"                              \
    "  64  usage error: unknown command or option, missing argument (EX_USAGE)\n"

static const char usage_main[] =
    "usage: wovenet COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE] [--db FILE] [--api ADDR:PORT]\n"
    "                          import FILE's objects (if given), then run the site\n"
    "  import [--db FILE] [--origin config|api] CONFIG\n"
    "                          make the store's config-managed objects equal to\n"
    "                          CONFIG (.yaml, .yml or .json)\n"
    "  export [--db FILE] [--format json|yaml]\n"
    "                          print the stored desired state (no secrets)\n"
    "  token create [--db FILE] --name NAME [--expires DURATION] [--scope SCOPE]\n"
    "                          create an API token and print it once\n"
    "  token list [--db FILE] [--json]\n"
    "                          the API tokens (never the tokens themselves)\n"
    "  token revoke [--db FILE] NAME\n"
    "                          revoke an API token at once\n"
    "  key generate            print a strong random network key\n"
    "  identity show|rotate [--api URL] [--token T]\n"
    "                          a running site's identity key, or rotate it live\n"
    "  status [--api URL] [--token T] [--json]\n"
    "                          broker, sockets, peers, channels and apps of a running site\n"
    "  apply -f FILE [--dry-run] [--api URL] [--token T]\n"
    "                          make a running site's whole config equal to FILE\n"
    "  plan -f FILE [--api URL] [--token T]\n"
    "                          what apply would change (apply --dry-run)\n"
    "\n"
    "options:\n"
    "  -h, --help              show help (also: wovenet COMMAND --help)\n"
    "  -V, --version           show the version\n"
    "\n"
    "--db defaults to wovenet.db in the working directory. The API clients\n"
    "(status, apply, plan) take the token from --token or $WOVENET_TOKEN.\n"
    "\n" EXIT_TABLE;

static const char usage_key[] =
    "usage: wovenet key generate\n"
    "\n"
    "Prints a strong random network key (33 random bytes, base64url) to put in\n"
    "crypto.key on every site of the network. Network keys must have at least\n"
    "16 characters, 8 of them different, from at least 3 of: lower-case, upper-case,\n"
    "digits, other characters (or be a passphrase of 24+ characters, 10 different).\n";

static const char usage_identity[] =
    "usage: wovenet identity show|rotate [--api URL] [--token T]\n"
    "\n"
    "show: prints the running site's identity key (Ed25519, hex) and its\n"
    "certificate fingerprint: what peers pin, and compare before approving.\n"
    "rotate: makes the site a new identity signed over by the old one; the\n"
    "site re-joins with it at once (no restart) and peers that know the old\n"
    "key move their pin. A peer that missed two rotations must approve anew.\n"
    "\n"
    "  -a, --api URL           the site's API (default $WOVENET_API, else\n"
    "                          http://127.0.0.1:18080)\n"
    "  -t, --token T           bearer token (default $WOVENET_TOKEN)\n"
    "  -h, --help              show this help\n";

static const char usage_run[] =
    "usage: wovenet run [--config FILE] [--db FILE] [--api ADDR:PORT]\n"
    "\n"
    "Imports FILE into the store if given, then runs the site from the store\n"
    "until SIGINT or SIGTERM. The import creates, changes and deletes only\n"
    "the objects that came from the config file (and logs each change);\n"
    "objects made through the API or the dashboard are kept.\n"
    "\n"
    "  -c, --config FILE       upstream-style config (YAML, or JSON for *.json)\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -a, --api ADDR:PORT     API listen address, overriding restfulApi.listenAddr\n"
    "                          for this run only (not stored)\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static const char usage_import[] =
    "usage: wovenet import [--db FILE] [--origin config|api] CONFIG\n"
    "\n"
    "Makes the store's config-managed objects equal to CONFIG (YAML, or JSON\n"
    "when the name ends in .json): those missing from it are deleted,\n"
    "identical ones left alone. Objects made through the API are kept.\n"
    "Secrets missing from the file keep their stored value.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db; created 0600)\n"
    "  -o, --origin ORIGIN     config (default): the file manages its objects;\n"
    "                          api: a one-time bootstrap, the whole store becomes\n"
    "                          CONFIG and every object is API-managed\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static const char usage_export[] =
    "usage: wovenet export [--db FILE] [--format json|yaml]\n"
    "\n"
    "Prints the stored desired state without secrets: the canonical JSON\n"
    "document (default) or the upstream YAML format, which import accepts.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -f, --format FMT        json (default) or yaml\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static const char usage_token[] =
    "usage: wovenet token create [--db FILE] --name NAME [--expires DURATION]\n"
    "                            [--scope read|write|metrics]\n"
    "       wovenet token list [--db FILE] [--json]\n"
    "       wovenet token revoke [--db FILE] NAME\n"
    "\n"
    "create prints a new API bearer token once on stdout; the store keeps only\n"
    "its hash. Once any token (or basic-auth user) exists, every API request\n"
    "needs credentials, also from loopback: pass --token or $WOVENET_TOKEN to\n"
    "the CLI, \"Authorization: Bearer TOKEN\" to curl.\n"
    "list shows name, scope, created, expiry and last use. revoke deletes a\n"
    "token; the API refuses it at once.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -n, --name NAME         the token's name (unique)\n"
    "  -e, --expires DURATION  lifetime: 30d, 12h, 90m, 3600s, 2w or never (default)\n"
    "  -s, --scope SCOPE       write (default: everything), read (GET only) or\n"
    "                          metrics (GET /metrics only)\n"
    "  -j, --json              list as JSON\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static const char usage_status[] =
    "usage: wovenet status [--api URL] [--token T] [--json]\n"
    "\n"
    "Shows a running site's broker, tunnel sockets (state, error, address\n"
    "detection), peers, their data channels (family, state, RTT, throughput\n"
    "over a 0.5 s sample), the apps with their states, and what is unhealthy.\n"
    "\n"
    "  -a, --api URL           the site's API (default $WOVENET_API, else\n"
    "                          http://127.0.0.1:18080)\n"
    "  -t, --token T           bearer token (default $WOVENET_TOKEN)\n"
    "  -j, --json              print the raw JSON (site, sockets, peers, apps)\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static const char usage_apply[] =
    "usage: wovenet apply -f FILE [--dry-run] [--api URL] [--token T]\n"
    "       wovenet plan -f FILE [--api URL] [--token T]\n"
    "\n"
    "Makes a running site's whole desired state equal to FILE (the canonical\n"
    "JSON of `wovenet export`, or the YAML config) with PUT /api/v1/config,\n"
    "and prints the plan field by field. Fully declarative: objects absent\n"
    "from FILE are deleted, whether they came from the config file or the\n"
    "API; objects it creates or changes become API-managed. Secrets absent\n"
    "from FILE keep their stored value, so an exported config applies as is.\n"
    "plan (or apply --dry-run) prints the plan and changes nothing.\n"
    "\n"
    "  -f, --file FILE         the desired state (.json, or YAML otherwise)\n"
    "  -n, --dry-run           print the plan, change nothing\n"
    "  -a, --api URL           the site's API (default $WOVENET_API, else\n"
    "                          http://127.0.0.1:18080)\n"
    "  -t, --token T           bearer token (default $WOVENET_TOKEN)\n"
    "  -h, --help              show this help\n"
    "\n" EXIT_TABLE;

static void done(struct wv_cli *out, int code) {
    out->cmd = WV_CLI_DONE;
    out->exit_code = code;
}

static void usage_error(struct wv_cli *out, const char *usage, const char *fmt, const char *arg) {
    fprintf(stderr, "wovenet: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", usage);
    done(out, WV_EXIT_USAGE);
}

static void help(struct wv_cli *out, const char *usage) {
    fputs(usage, stdout);
    done(out, WV_EXIT_OK);
}

/* getopt's own messages are replaced by ours (opterr = 0; optstrings start
 * with ':' so a missing argument is told apart from an unknown option). */
static void bad_option(struct wv_cli *out, const char *usage, char **argv, int c) {
    const char *arg = argv[optind - 1];
    char shortopt[3] = {'-', (char)optopt, 0};
    if (c == ':')
        usage_error(out, usage, "option %s requires an argument", arg);
    else
        usage_error(out, usage, "unknown option %s",
                    optopt && arg && arg[1] != '-' ? shortopt : arg);
}

/* Parses the options of one command; argv[0] is the command name. */
static void parse_cmd(int argc, char **argv, struct wv_cli *out, const char *usage,
                      const char *shortopts, const struct option *longopts, int max_args) {
    optind = 0; /* full re-initialization of glibc's getopt */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return help(out, usage);
        case 'd':
            out->db = optarg;
            break;
        case 'c':
            out->config = optarg;
            break;
        case 'a':
            if (out->cmd == WV_CLI_STATUS || out->cmd == WV_CLI_APPLY ||
                out->cmd == WV_CLI_IDENTITY)
                out->url = optarg;
            else
                out->api = optarg;
            break;
        case 'f':
            if (out->cmd == WV_CLI_APPLY)
                out->file = optarg;
            else
                out->format = optarg;
            break;
        case 'n':
            if (out->cmd == WV_CLI_APPLY)
                out->dry_run = true;
            else
                out->name = optarg;
            break;
        case 't':
            out->token = optarg;
            break;
        case 'j':
            out->json = true;
            break;
        case 'e':
            out->expires = optarg;
            break;
        case 'o':
            out->origin = optarg;
            break;
        case 's':
            out->scope = optarg;
            break;
        default:
            return bad_option(out, usage, argv, c);
        }
    }
    int nargs = argc - optind;
    if (nargs > max_args)
        return usage_error(out, usage, "unexpected argument %s", argv[optind + max_args]);
    if (max_args == 1 && nargs == 1)
        out->config = argv[optind];
}

void wv_cli_parse(int argc, char **argv, struct wv_cli *out) {
    static const struct option top_opts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {0}};
    memset(out, 0, sizeof(*out));
    out->db = "wovenet.db";
    out->format = "json";

    optind = 0;
    opterr = 0;
    int c;
    /* "+": stop at the command, its options are parsed below */
    while ((c = getopt_long(argc, argv, "+:hV", top_opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return help(out, usage_main);
        case 'V':
            printf("wovenet %s\n", WOVENET_VERSION);
            return done(out, WV_EXIT_OK);
        default:
            return bad_option(out, usage_main, argv, c);
        }
    }
    if (optind >= argc)
        return usage_error(out, usage_main, "%s", "missing command");
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;

    if (strcmp(cmd, "run") == 0) {
        static const struct option o[] = {{"config", required_argument, NULL, 'c'},
                                          {"db", required_argument, NULL, 'd'},
                                          {"api", required_argument, NULL, 'a'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
        out->cmd = WV_CLI_RUN;
        parse_cmd(sub_argc, sub_argv, out, usage_run, ":c:d:a:h", o, 0);
        struct sockaddr_storage ss;
        if (out->cmd == WV_CLI_RUN && out->api && wv_parse_hostport(out->api, &ss) < 0)
            usage_error(out, usage_run,
                        "run: invalid --api address \"%s\" (ADDR:PORT or [v6]:PORT)", out->api);
    } else if (strcmp(cmd, "import") == 0) {
        static const struct option o[] = {{"db", required_argument, NULL, 'd'},
                                          {"origin", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
        out->cmd = WV_CLI_IMPORT;
        parse_cmd(sub_argc, sub_argv, out, usage_import, ":d:o:h", o, 1);
        if (out->cmd == WV_CLI_IMPORT && !out->config)
            usage_error(out, usage_import, "%s", "import: missing CONFIG.yaml argument");
        if (out->cmd == WV_CLI_IMPORT && out->origin && strcmp(out->origin, "config") != 0 &&
            strcmp(out->origin, "api") != 0)
            usage_error(out, usage_import, "import: unknown --origin \"%s\" (config, api)",
                        out->origin);
    } else if (strcmp(cmd, "export") == 0) {
        static const struct option o[] = {{"db", required_argument, NULL, 'd'},
                                          {"format", required_argument, NULL, 'f'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
        out->cmd = WV_CLI_EXPORT;
        parse_cmd(sub_argc, sub_argv, out, usage_export, ":d:f:h", o, 0);
        if (out->cmd == WV_CLI_EXPORT && strcmp(out->format, "json") != 0 &&
            strcmp(out->format, "yaml") != 0)
            usage_error(out, usage_export, "export: unknown format \"%s\" (json, yaml)",
                        out->format);
    } else if (strcmp(cmd, "token") == 0) {
        static const struct option o[] = {{"db", required_argument, NULL, 'd'},
                                          {"name", required_argument, NULL, 'n'},
                                          {"expires", required_argument, NULL, 'e'},
                                          {"scope", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
        if (sub_argc < 2 || sub_argv[1][0] == '-') {
            if (sub_argc >= 2 &&
                (strcmp(sub_argv[1], "--help") == 0 || strcmp(sub_argv[1], "-h") == 0))
                return help(out, usage_token);
            return usage_error(out, usage_token, "%s",
                               "token: missing subcommand (create, list, revoke)");
        }
        const char *sub = sub_argv[1];
        if (strcmp(sub, "create") == 0) {
            out->cmd = WV_CLI_TOKEN_CREATE;
            parse_cmd(sub_argc - 1, sub_argv + 1, out, usage_token, ":d:n:e:s:h", o, 0);
            if (out->cmd == WV_CLI_TOKEN_CREATE && !out->name)
                usage_error(out, usage_token, "%s", "token create: missing --name NAME");
            if (out->cmd == WV_CLI_TOKEN_CREATE && out->expires &&
                wv_parse_duration(out->expires) < 0)
                usage_error(out, usage_token,
                            "token create: invalid --expires \"%s\" (e.g. 30d, 12h, 90m, never)",
                            out->expires);
            if (out->cmd == WV_CLI_TOKEN_CREATE && out->scope &&
                strcmp(out->scope, "read") != 0 && strcmp(out->scope, "write") != 0 &&
                strcmp(out->scope, "metrics") != 0)
                usage_error(out, usage_token,
                            "token create: unknown --scope \"%s\" (read, write, metrics)",
                            out->scope);
        } else if (strcmp(sub, "list") == 0) {
            out->cmd = WV_CLI_TOKEN_LIST;
            parse_cmd(sub_argc - 1, sub_argv + 1, out, usage_token, ":d:jh", o, 0);
        } else if (strcmp(sub, "revoke") == 0) {
            out->cmd = WV_CLI_TOKEN_REVOKE;
            parse_cmd(sub_argc - 1, sub_argv + 1, out, usage_token, ":d:n:h", o, 1);
            if (out->cmd == WV_CLI_TOKEN_REVOKE && out->config) {
                out->name = out->config; /* the positional NAME */
                out->config = NULL;
            }
            if (out->cmd == WV_CLI_TOKEN_REVOKE && !out->name)
                usage_error(out, usage_token, "%s", "token revoke: missing NAME");
        } else {
            return usage_error(out, usage_token, "token: unknown subcommand %s", sub);
        }
    } else if (strcmp(cmd, "key") == 0) {
        if (sub_argc >= 2 && (strcmp(sub_argv[1], "--help") == 0 || strcmp(sub_argv[1], "-h") == 0))
            return help(out, usage_key);
        if (sub_argc != 2 || strcmp(sub_argv[1], "generate") != 0)
            return usage_error(out, usage_key, "%s", "key: expected `key generate`");
        out->cmd = WV_CLI_KEY_GENERATE;
    } else if (strcmp(cmd, "identity") == 0) {
        static const struct option io[] = {{"api", required_argument, NULL, 'a'},
                                           {"token", required_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
        if (sub_argc < 2 || sub_argv[1][0] == '-') {
            if (sub_argc >= 2 &&
                (strcmp(sub_argv[1], "--help") == 0 || strcmp(sub_argv[1], "-h") == 0))
                return help(out, usage_identity);
            return usage_error(out, usage_identity, "%s", "identity: expected show or rotate");
        }
        if (strcmp(sub_argv[1], "show") != 0 && strcmp(sub_argv[1], "rotate") != 0)
            return usage_error(out, usage_identity, "identity: unknown subcommand %s",
                               sub_argv[1]);
        const char *env_url = getenv("WOVENET_API");
        out->url = env_url && *env_url ? env_url : "http://127.0.0.1:18080";
        out->token = getenv("WOVENET_TOKEN");
        out->cmd = WV_CLI_IDENTITY;
        out->name = sub_argv[1];
        parse_cmd(sub_argc - 1, sub_argv + 1, out, usage_identity, ":a:t:h", io, 0);
    } else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "apply") == 0 ||
               strcmp(cmd, "plan") == 0) {
        static const struct option so[] = {{"api", required_argument, NULL, 'a'},
                                           {"token", required_argument, NULL, 't'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
        static const struct option ao[] = {{"file", required_argument, NULL, 'f'},
                                           {"dry-run", no_argument, NULL, 'n'},
                                           {"api", required_argument, NULL, 'a'},
                                           {"token", required_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
        static const struct option po[] = {{"file", required_argument, NULL, 'f'},
                                           {"api", required_argument, NULL, 'a'},
                                           {"token", required_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
        const char *env_url = getenv("WOVENET_API");
        out->url = env_url && *env_url ? env_url : "http://127.0.0.1:18080";
        out->token = getenv("WOVENET_TOKEN");
        if (cmd[0] == 's') {
            out->cmd = WV_CLI_STATUS;
            parse_cmd(sub_argc, sub_argv, out, usage_status, ":a:t:jh", so, 0);
        } else {
            bool plan = cmd[0] == 'p';
            out->cmd = WV_CLI_APPLY;
            /* plan is apply --dry-run; it takes no --dry-run of its own */
            parse_cmd(sub_argc, sub_argv, out, usage_apply, plan ? ":f:a:t:h" : ":f:na:t:h",
                      plan ? po : ao, 0);
            if (out->cmd == WV_CLI_APPLY && plan)
                out->dry_run = true;
            if (out->cmd == WV_CLI_APPLY && !out->file)
                usage_error(out, usage_apply, "%s: missing -f FILE", cmd);
        }
    } else if (strcmp(cmd, "help") == 0) {
        help(out, usage_main);
    } else {
        usage_error(out, usage_main, "unknown command %s", cmd);
    }
}

