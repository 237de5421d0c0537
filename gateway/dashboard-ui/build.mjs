// Builds the dashboard into ../src/gateway/dashboard/static/ (committed, so the gateway needs no Node).
// `npm ci && npm run build`
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const out = new URL("../src/gateway/dashboard/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ["src/main.js", "src/dashboard.css"],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020"],
  outdir: out,
  entryNames: "[name]",
  legalComments: "linked",
  logLevel: "info",
});

// cache busting: ?v=<hash of the bundle> in the page
const version = (name) => createHash("sha256").update(readFileSync(out + name)).digest("hex").slice(0, 12);
const html = readFileSync("src/index.html", "utf8")
  .replace("main.js?v=dev", `main.js?v=${version("main.js")}`)
  .replace("dashboard.css?v=dev", `dashboard.css?v=${version("dashboard.css")}`);
writeFileSync(out + "index.html", html);
