// Renders bench/vtl/templates with velocityjs (serverless-offline's VTL engine), with $input,
// $util, $context and $stageVariables stand-ins like serverless-offline's, and prints
// `template<TAB>µs per render`.
//
//   node velocityjs_bench.js <templates dir> <input.json> <context.json> <out dir> <seconds per template>
const fs = require("fs");
const path = require("path");
const { Compile, parse } = require("velocityjs");

const [templatesDir, inputPath, contextPath, outDir, seconds] = process.argv.slice(2);
const body = fs.readFileSync(inputPath, "utf8");
const ctx = JSON.parse(fs.readFileSync(contextPath, "utf8"));

function jsonpath(doc, p) {
  let cur = doc;
  for (const part of p.replace(/^\$/, "").split(".").filter(Boolean)) {
    cur = cur && typeof cur === "object" ? cur[part] : undefined;
  }
  return cur;
}

function makeContext() {
  const doc = JSON.parse(body);
  return {
    input: {
      body,
      path: (p) => jsonpath(doc, p),
      json: (p) => JSON.stringify(jsonpath(doc, p)),
      params: (name) => {
        if (name === undefined) return ctx.params;
        for (const loc of ["path", "querystring", "header"]) {
          if (name in ctx.params[loc]) return ctx.params[loc][name];
        }
        return "";
      },
    },
    util: {
      escapeJavaScript: (s) => JSON.stringify(String(s)).slice(1, -1).replace(/'/g, "\\'").replace(/\//g, "\\/"),
      urlEncode: (s) => encodeURIComponent(String(s)).replace(/%20/g, "+"),
    },
    context: ctx.context,
    stageVariables: ctx.stageVariables,
  };
}

for (const name of fs.readdirSync(templatesDir).sort()) {
  const src = fs.readFileSync(path.join(templatesDir, name), "utf8");
  const compiled = new Compile(parse(src), { escape: false });
  const render = () => compiled.render(makeContext());
  fs.writeFileSync(path.join(outDir, `velocityjs-${name}.out`), render());
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(Number(seconds) * 1e9));
  while (process.hrtime.bigint() - start < limit) {
    render();
    n++;
  }
  const us = Number(process.hrtime.bigint() - start) / 1e3 / n;
  console.log(`${name}\t${us.toFixed(2)}`);
}
