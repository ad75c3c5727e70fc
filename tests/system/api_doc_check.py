"""contract.api_doc: docs/API.md is what scripts/gen-api-doc makes of
schema/openapi.yaml, and every path + method of the spec has its section."""
import os
import subprocess
import sys

import yaml

src = os.environ["WOVENET_SRC"]
fails = []
r = subprocess.run([sys.executable, os.path.join(src, "scripts", "gen-api-doc"), "--check"],
                   capture_output=True, text=True)
if r.returncode != 0:
    fails.append("docs/API.md is not up to date with schema/openapi.yaml: " + r.stderr.strip())
spec = yaml.safe_load(open(os.path.join(src, "schema", "openapi.yaml")))
doc = open(os.path.join(src, "docs", "API.md")).read()
n = 0
for path, item in spec["paths"].items():
    for m in ("get", "put", "post", "patch", "delete"):
        if m in item:
            n += 1
            if f"### {m.upper()} {path}\n" not in doc or f"`{m.upper()} {path}`" not in doc:
                fails.append(f"{m.upper()} {path} has no section in docs/API.md")
for f in fails:
    print("FAIL", f)
print(f"{n} operations checked; {0 if fails else 1} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
