/* Argument parsing and usage texts. */
#include "wv/cli.h"
#include "wv/base.h"
#include "wv/model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
    "usage: wovenet COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE] [--db FILE] [--api ADDR:PORT]\n"
    "                          import FILE (if given), then run the site from the store\n"
    "  import [--db FILE] CONFIG.yaml\n"
    "                          make the store equal to the YAML config\n"
    "  export [--db FILE] [--format json|yaml]\n"
    "                          print the stored desired state (no secrets)\n"
    "  token create [--db FILE] --name NAME\n"
    "                          create an API token and print it once\n"
    "  status [--api URL] [--token T] [--json]\n"
    "                          peers, channels and apps of a running site\n"
    "  apply -f FILE [--dry-run] [--api URL] [--token T]\n"
    "                          make a running site's config equal to FILE\n"
    "\n"
    "options:\n"
    "  -h, --help              show help (also: wovenet COMMAND --help)\n"
    "  -V, --version           show the version\n"
    "\n"
    "--db defaults to wovenet.db in the working directory.\n"
    "Exit status: 0 success, 1 invalid config or runtime error, 2 usage error.\n";

static const char usage_run[] =
    "usage: wovenet run [--config FILE] [--db FILE] [--api ADDR:PORT]\n"
    "\n"
    "Imports FILE into the store if given (declaratively: the store then equals\n"
    "the file), then runs the site from the store until SIGINT or SIGTERM.\n"
    "\n"
    "  -c, --config FILE       upstream-style YAML config to import first\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -a, --api ADDR:PORT     API listen address, overriding restfulApi.listenAddr\n"
    "                          for this run only (not stored)\n"
    "  -h, --help              show this help\n";

static const char usage_import[] =
    "usage: wovenet import [--db FILE] CONFIG.yaml\n"
    "\n"
    "Makes the store equal to the YAML config: objects missing from it are\n"
    "deleted, identical ones left alone. Secrets missing from the file keep\n"
    "their stored value.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db; created 0600)\n"
    "  -h, --help              show this help\n";

static const char usage_export[] =
    "usage: wovenet export [--db FILE] [--format json|yaml]\n"
    "\n"
    "Prints the stored desired state without secrets: the canonical JSON\n"
    "document (default) or the upstream YAML format, which import accepts.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -f, --format FMT        json (default) or yaml\n"
    "  -h, --help              show this help\n";

static const char usage_token[] =
    "usage: wovenet token create [--db FILE] --name NAME\n"
    "\n"
    "Creates an API bearer token and prints it once on stdout; the store keeps\n"
    "only its hash.\n"
    "\n"
    "  -d, --db FILE           the SQLite store (default wovenet.db)\n"
    "  -n, --name NAME         the token's name (unique)\n"
    "  -h, --help              show this help\n";

static const char usage_status[] =
    "usage: wovenet status [--api URL] [--token T] [--json]\n"
    "\n"
    "Shows a running site's peers, their data channels (family, state, RTT,\n"
    "throughput over a 0.5 s sample) and the apps with their states.\n"
    "\n"
    "  -a, --api URL           the site's API (default $WOVENET_API, else\n"
    "                          http://127.0.0.1:18080)\n"
    "  -t, --token T           bearer token (default $WOVENET_TOKEN)\n"
    "  -j, --json              print the raw JSON (site, peers, apps) instead\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 success, 1 the API cannot be read, 2 usage error.\n";

static const char usage_apply[] =
    "usage: wovenet apply -f FILE [--dry-run] [--api URL] [--token T]\n"
    "\n"
    "Makes a running site's desired state equal to FILE (the canonical JSON of\n"
    "`wovenet export`, or the YAML config) with PUT /api/v1/config, and prints\n"
    "the plan. Objects absent from FILE are deleted; secrets absent from FILE\n"
    "keep their stored value, so an exported config applies as is.\n"
    "\n"
    "  -f, --file FILE         the desired state (.json, or YAML otherwise)\n"
    "  -n, --dry-run           print the plan, change nothing\n"
    "  -a, --api URL           the site's API (default $WOVENET_API, else\n"
    "                          http://127.0.0.1:18080)\n"
    "  -t, --token T           bearer token (default $WOVENET_TOKEN)\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 nothing to change, 2 changes applied (or planned with\n"
    "--dry-run), 1 error (the field and the reason on stderr).\n";

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
            if (out->cmd == WV_CLI_STATUS || out->cmd == WV_CLI_APPLY)
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
        static const struct option o[] = {
            {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
        out->cmd = WV_CLI_IMPORT;
        parse_cmd(sub_argc, sub_argv, out, usage_import, ":d:h", o, 1);
        if (out->cmd == WV_CLI_IMPORT && !out->config)
            usage_error(out, usage_import, "%s", "import: missing CONFIG.yaml argument");
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
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
        if (sub_argc < 2 || sub_argv[1][0] == '-') {
            if (sub_argc >= 2 &&
                (strcmp(sub_argv[1], "--help") == 0 || strcmp(sub_argv[1], "-h") == 0))
                return help(out, usage_token);
            return usage_error(out, usage_token, "%s", "token: missing subcommand (create)");
        }
        if (strcmp(sub_argv[1], "create") != 0)
            return usage_error(out, usage_token, "token: unknown subcommand %s", sub_argv[1]);
        out->cmd = WV_CLI_TOKEN_CREATE;
        parse_cmd(sub_argc - 1, sub_argv + 1, out, usage_token, ":d:n:h", o, 0);
        if (out->cmd == WV_CLI_TOKEN_CREATE && !out->name)
            usage_error(out, usage_token, "%s", "token create: missing --name NAME");
    } else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "apply") == 0) {
        static const struct option so[] = {{"api", required_argument, NULL, 'a'},
                                           {"token", required_argument, NULL, 't'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           {0}};
        static const struct option ao[] = {
            {"file", required_argument, NULL, 'f'}, {"dry-run", no_argument, NULL, 'n'},
            {"api", required_argument, NULL, 'a'},  {"token", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},       {0}};
        const char *env_url = getenv("WOVENET_API");
        out->url = env_url && *env_url ? env_url : "http://127.0.0.1:18080";
        out->token = getenv("WOVENET_TOKEN");
        if (cmd[0] == 's') {
            out->cmd = WV_CLI_STATUS;
            parse_cmd(sub_argc, sub_argv, out, usage_status, ":a:t:jh", so, 0);
        } else {
            out->cmd = WV_CLI_APPLY;
            parse_cmd(sub_argc, sub_argv, out, usage_apply, ":f:na:t:h", ao, 0);
            if (out->cmd == WV_CLI_APPLY && !out->file)
                usage_error(out, usage_apply, "%s", "apply: missing -f FILE");
        }
    } else if (strcmp(cmd, "help") == 0) {
        help(out, usage_main);
    } else {
        usage_error(out, usage_main, "unknown command %s", cmd);
    }
}
