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
// The PDF renderer's worker (pdf.js) is a file of its own: PDFs are parsed there, off the page; the page names it.
// What every output shares: minified ES modules named by a hash of their content.
const common = {
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  entryNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  logLevel: "warning",
};
const worker = await build({
  ...common,
  entryPoints: { "pdf-worker": join(here, "node_modules", "pdfjs-dist", "build", "pdf.worker.min.mjs") },
});
const pdfWorker = basename(Object.keys(worker.metafile.outputs)[0]);
const result = await build({
  ...common,
  entryPoints: [join(here, "src", "main.ts"), join(here, "src", "console.css")],
  sourcemap: false,
  // Code loaded only when needed (the PDF renderer) goes into chunks of its own.
  splitting: true,
  define: { PDF_WORKER: JSON.stringify(pdfWorker) },
});
const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
const script = Object.entries(result.metafile.outputs)
  .filter(([, output]) => output.entryPoint?.endsWith("main.ts"))
  .map(([file]) => basename(file))[0];
const style = outputs.find((name) => name.endsWith(".css"));
if (!script || !style) throw new Error("esbuild made no script or no style sheet");
const page = (await readFile(join(here, "src", "index.html"), "utf8"))
  .replaceAll("{{script}}", script)
  .replaceAll("{{style}}", style);
await writeFile(join(out, "index.html"), page);
console.log(`console built: ${[...outputs, pdfWorker].join(", ")}, index.html`);
