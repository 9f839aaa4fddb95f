// Builds the UI bundle into the directory named by the first argument: app.js, app.css and
// index.html. The faultline-ui crate's build script runs it and embeds the result in the binary.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2022"],
  outdir: out,
  logLevel: "warning",
  legalComments: "none",
});
copyFileSync("index.html", join(out, "index.html"));
