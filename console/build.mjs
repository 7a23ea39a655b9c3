// Builds the console into the Python package (gateway/console/static/), where the gateway serves it from.
// Scripts and styles get content-hashed names, so they can be cached for good; index.html names them and is
// revalidated on every visit.
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "gateway", "console", "static");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: [join(here, "src", "main.ts"), join(here, "src", "console.css")],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2022"],
  entryNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
const script = outputs.find((name) => name.endsWith(".js"));
const style = outputs.find((name) => name.endsWith(".css"));
if (!script || !style) throw new Error("esbuild made no script or no style sheet");
const page = (await readFile(join(here, "src", "index.html"), "utf8"))
  .replaceAll("{{script}}", script)
  .replaceAll("{{style}}", style);
await writeFile(join(out, "index.html"), page);
console.log(`console built: ${outputs.join(", ")}, index.html`);
