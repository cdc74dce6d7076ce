#!/usr/bin/env node
/**
 * `driftless` on the command line: the same sync engine as the Lambda, against any kubeconfig or
 * EKS cluster. The commands live in `cli/program.ts`; this launcher only turns on Node's compile
 * cache first (compiled, type-stripped modules kept in the OS temp folder between runs), which
 * halves the start of every run. Static imports would load before it, hence the dynamic one.
 * A failure nothing awaited ends the run as a recorded `Failed` with exit code 2 (`last-resort.ts`).
 */
import { enableCompileCache } from 'node:module';

enableCompileCache?.();
const [{ main }, { installLastResort }, { stderrLogger }, { EXIT }] = await Promise.all([
  import('./cli/program.ts'),
  import('./last-resort.ts'),
  import('./cli/stderr-logger.ts'),
  import('./cli/exit.ts'),
]);
installLastResort({ logger: stderrLogger(), exitCode: EXIT.failed });
process.exit(await main(process.argv));
