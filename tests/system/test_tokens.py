"""Issue 21, finding 3: tokens with a lifecycle.

- `token create` says on stderr that the first credential turns auth on
  for every client, loopback included; the 401 then says how to pass a
  token (--token, WOVENET_TOKEN, Authorization: Bearer), and so does
  `wovenet status` when it is refused;
- `token list` shows name, scope, expiry and last use, never the token;
- `token revoke` is refused at once, without a restart;
- scopes: read may GET but not write (403), metrics may only GET /metrics;
- --expires: an expired token is refused (401 naming the expiry);
- the same under /api/v1/tokens: POST answers the token once, GET lists
  without it, DELETE revokes;
- README says when a token is needed and what creating one changes."""
import json
import os
import time

import wvtest as t


def main():
    a = t.Agent("tok", config=t.site_yaml("tokSite"))
    api = f"http://127.0.0.1:{a.api_port}"
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "no token yet: loopback needs none")

    rc, out, err = t.wovenet("token", "list", "--db", a.db)
    t.check(rc == 0 and "no tokens" in out, f"token list with no tokens ({rc} {out.strip()} {err.strip()})")

    rc, tok, err = t.wovenet("token", "create", "--db", a.db, "--name", "ops")
    tok = tok.strip()
    t.check_eq(rc, 0, "token create exits 0")
    t.check("every API request needs one, also from loopback" in err and "revoke" in err,
            f"the first token says it turns auth on for loopback too: {err.strip()}")
    t.check(tok not in err, "the token is only on stdout")

    st, body, hdrs = a.api("GET", "/api/v1/site")
    t.check_eq(st, 401, "without the token: 401")
    msg = body["error"]["message"]
    for hint in ("Authorization: Bearer", "--token", "WOVENET_TOKEN", "wovenet token create"):
        t.check(hint in msg, f"the 401 names {hint!r}: {msg}")
    rc, out, err = t.wovenet("status", "--api", api)
    t.check(rc == 1 and "--token" in err and "WOVENET_TOKEN" in err and tok not in err,
            f"status without a token says how to pass one: {err.strip()}")

    a.token = tok
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "with the token: 200")

    # Scopes.
    rc, rtok, _ = t.wovenet("token", "create", "--db", a.db, "--name", "reader", "--scope", "read")
    rtok = rtok.strip()
    rc2, mtok, _ = t.wovenet("token", "create", "--db", a.db, "--name", "prom", "--scope", "metrics")
    mtok = mtok.strip()
    t.check(rc == 0 and rc2 == 0, "read and metrics tokens created")
    a.token = rtok
    t.check_eq(a.api("GET", "/api/v1/exposed-apps")[0], 200, "read scope: GET allowed")
    st, body, _ = a.api("PUT", "/api/v1/exposed-apps/x", {"appSocket": "tcp:127.0.0.1:9"})
    t.check(st == 403 and "scope read" in body["error"]["message"],
            f"read scope: PUT refused with 403 naming the scope ({st} {body})")
    t.check_eq(a.api("DELETE", "/api/v1/tokens/ops")[0], 403, "read scope: cannot revoke tokens")
    a.token = mtok
    t.check_eq(a.api("GET", "/metrics")[0], 200, "metrics scope: /metrics allowed")
    t.check_eq(a.api("GET", "/api/v1/site")[0], 403, "metrics scope: /api/v1/site refused")

    # Expiry.
    rc, etok, _ = t.wovenet("token", "create", "--db", a.db, "--name", "brief", "--expires", "2s")
    etok = etok.strip()
    a.token = etok
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "a token with --expires 2s works at first")
    time.sleep(2.5)
    st, body, _ = a.api("GET", "/api/v1/site")
    t.check(st == 401 and "expired" in body["error"]["message"],
            f"after its expiry: 401 saying it expired ({st})")
    rc, _, err = t.wovenet("token", "create", "--db", a.db, "--name", "x", "--expires", "soon")
    t.check(rc == 64 and "--expires" in err, "an unparsable --expires is a usage error (64)")
    rc, _, err = t.wovenet("token", "create", "--db", a.db, "--name", "x", "--scope", "admin")
    t.check(rc == 64 and "--scope" in err, "an unknown --scope is a usage error (64)")

    # List: names, scopes, expiry, last use; never a token.
    rc, out, _ = t.wovenet("token", "list", "--db", a.db, "--json")
    lst = {x["name"]: x for x in json.loads(out)}
    t.check_eq(sorted(lst), ["brief", "ops", "prom", "reader"], "token list names every token")
    t.check_eq((lst["reader"]["scope"], lst["prom"]["scope"], lst["ops"]["scope"]),
               ("read", "metrics", "write"), "token list shows the scopes")
    t.check(lst["brief"]["expired"] and lst["brief"]["expires"], "the expired token is marked expired")
    t.check(lst["ops"]["lastUsed"] is not None and lst["ops"]["expires"] is None,
            "last use recorded; no expiry shown as null")
    for x in (tok, rtok, mtok, etok):
        t.check(x not in out, "no token in the list")
    rc, out, _ = t.wovenet("token", "list", "--db", a.db)
    t.check(rc == 0 and "reader" in out and "read" in out and "expired" in out, "token list as a table")

    # Revoke: refused at once.
    a.token = rtok
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "the reader works before revoke")
    rc, out, _ = t.wovenet("token", "revoke", "--db", a.db, "reader")
    t.check_eq(rc, 0, "token revoke exits 0")
    t.check_eq(a.api("GET", "/api/v1/site")[0], 401, "a revoked token is refused at once")
    rc, _, err = t.wovenet("token", "revoke", "--db", a.db, "reader")
    t.check(rc == 1 and "no token named" in err, "revoking it again: exit 1, named")

    # The same under /api/v1/tokens.
    a.token = tok
    st, made, hdrs = a.api("POST", "/api/v1/tokens", {"name": "ci", "scope": "read", "expiresIn": "30d"})
    t.check(st == 201 and made["token"].startswith("wvt_") and made["scope"] == "read"
            and made["expires"], f"POST /api/v1/tokens answers the new token once ({st})")
    t.check_eq(hdrs.get("cache-control"), "no-store", "the answer with the token is not cached")
    st, lst, _ = a.api("GET", "/api/v1/tokens")
    t.check(st == 200 and "ci" in [x["name"] for x in lst]
            and made["token"] not in json.dumps(lst), "GET /api/v1/tokens lists it, without the token")
    st, body, _ = a.api("POST", "/api/v1/tokens", {"name": "ci"})
    t.check_eq(st, 409, "a second token of the same name: 409")
    st, body, _ = a.api("POST", "/api/v1/tokens", {"name": "z", "scope": "root"})
    t.check(st == 422 and body["error"]["field"] == "scope", "a bad scope: 422 naming scope")
    st, body, _ = a.api("POST", "/api/v1/tokens", {"name": "z", "expiresIn": "forever"})
    t.check(st == 422 and body["error"]["field"] == "expiresIn", "a bad expiry: 422 naming expiresIn")
    a.token = made["token"]
    t.check_eq(a.api("GET", "/api/v1/site")[0], 200, "the API-made token works")
    a.token = tok
    t.check_eq(a.api("DELETE", "/api/v1/tokens/ci")[0], 204, "DELETE /api/v1/tokens/ci")
    a.token = made["token"]
    t.check_eq(a.api("GET", "/api/v1/site")[0], 401, "... and it is refused at once")
    t.check(made["token"] not in a.log_text() and tok not in a.log_text(), "no token in the log")

    readme = open(os.path.join(t.SRC, "README.md")).read()
    t.check("also from loopback" in readme and "wovenet token revoke" in readme
            and "WOVENET_TOKEN" in readme, "README says when a token is needed and what it changes")


t.run(main)
