"""Renders bench/vtl/templates with airspeed (LocalStack's VTL engine), with $input, $util,
$context and $stageVariables stand-ins like LocalStack's, and prints `template<TAB>µs per render`.

    python3 airspeed_bench.py <templates dir> <input.json> <context.json> <out dir> <seconds per template>
"""
import json
import os
import sys
import time
import urllib.parse

import airspeed

templates_dir, input_path, context_path, out_dir, seconds = sys.argv[1:6]

# The Java string methods the templates call, added the way airspeed provides for (LocalStack
# adds its own the same way).
airspeed.__additional_methods__[str].update({
    "toUpperCase": lambda self: self.upper(),
    "toLowerCase": lambda self: self.lower(),
    "substring": lambda self, start, end=None: self[start:end],
    "replace": lambda self, old, new: self.replace(old, new),
})
body = open(input_path).read()
ctx = json.load(open(context_path))


def jsonpath(doc, path):
    cur = doc
    for part in [p for p in path.lstrip("$").split(".") if p]:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


class Input:
    def __init__(self, body, params):
        self.body = body
        self._doc = json.loads(body)
        self._params = params

    def path(self, p):
        return jsonpath(self._doc, p)

    def json(self, p):
        return json.dumps(jsonpath(self._doc, p), separators=(",", ":"))

    def params(self, name=None):
        if name is None:
            return self._params
        for loc in ("path", "querystring", "header"):
            if name in self._params[loc]:
                return self._params[loc][name]
        return ""


class Util:
    def escapeJavaScript(self, s):
        return json.dumps(str(s))[1:-1].replace("'", "\\'").replace("/", "\\/")

    def urlEncode(self, s):
        return urllib.parse.quote_plus(str(s))


for name in sorted(os.listdir(templates_dir)):
    src = open(os.path.join(templates_dir, name)).read()
    template = airspeed.Template(src)

    def render():
        return template.merge({
            "input": Input(body, ctx["params"]),
            "util": Util(),
            "context": ctx["context"],
            "stageVariables": ctx["stageVariables"],
        })

    out = render()
    open(os.path.join(out_dir, f"airspeed-{name}.out"), "w").write(out)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < float(seconds):
        render()
        n += 1
    print(f"{name}\t{(time.perf_counter() - start) / n * 1e6:.2f}")
