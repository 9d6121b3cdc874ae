// The `coffer` command runs from one JavaScript bundle of its TypeScript sources and crypto-core's,
// dist/coffer.mjs, made with esbuild. It is made on first use and again whenever one of its inputs
// changed since (a git pull, an edit), so it never runs older code than the sources.
//
// Why not tsx at every start: tsx's loader runs on a thread of its own with its own V8 heap and
// compiles every module at each start. The bundle starts in about half the time and the process
// holds ~30 MiB less (docs/dependencies.md, "esbuild").
import { copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(PACKAGE, 'dist');
const OUT = join(DIST, 'coffer.mjs');
const INPUTS = join(DIST, 'inputs.json');
// The chunk worker of crypto-core's node backend, started by the bundle as
// `new URL('./chunk-worker.mjs', import.meta.url)`: a copy goes beside the bundle.
const WORKER = join(dirname(fileURLToPath(import.meta.resolve('@coffer/crypto-core/node'))), 'chunk-worker.mjs');

/** True when the bundle exists and no input changed since the build that made it began. */
function fresh() {
  try {
    const { startedAt, files } = JSON.parse(readFileSync(INPUTS, 'utf8'));
    statSync(OUT);
    return files.every((f) => statSync(f).mtimeMs < startedAt);
  } catch {
    return false;
  }
}

/** Writes `write(tmp)` to a temporary file and renames it over `path`: readers see old or new. */
function replace(path, write) {
  const tmp = `${path}.${process.pid}.tmp`;
  write(tmp);
  renameSync(tmp, path);
}

/**
 * The URL of an up-to-date bundle, building it first when needed. Throws when esbuild is missing
 * or the build fails; the caller then runs the sources through tsx.
 */
export async function bundle() {
  if (fresh()) return pathToFileURL(OUT).href;
  const startedAt = Date.now();
  const esbuild = await import('esbuild');
  mkdirSync(DIST, { recursive: true });
  const tmp = `${OUT}.${process.pid}.tmp`;
  const result = await esbuild.build({
    entryPoints: [join(PACKAGE, 'src/main.ts')],
    absWorkingDir: PACKAGE,
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    metafile: true,
    logLevel: 'silent',
    plugins: [{
      // Our workspaces are bundled; every other package is loaded from node_modules as usual.
      name: 'external-packages',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@coffer/') ? undefined : { external: true }));
      },
    }],
  });
  replace(join(DIST, 'chunk-worker.mjs'), (t) => copyFileSync(WORKER, t));
  renameSync(tmp, OUT);
  const files = [...Object.keys(result.metafile.inputs).map((f) => resolve(PACKAGE, f)), WORKER, fileURLToPath(import.meta.url)];
  replace(INPUTS, (t) => writeFileSync(t, JSON.stringify({ startedAt, files })));
  return pathToFileURL(OUT).href;
}
