#!/usr/bin/env node
/**
 * `driftless` on the command line: the same sync engine as the Lambda, against any kubeconfig or
 * EKS cluster. The commands live in `cli/program.ts`; this launcher only turns on Node's compile
 * cache first (compiled, type-stripped modules kept in the OS temp folder between runs), which
 * halves the start of every run. Static imports would load before it, hence the dynamic one.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache?.();
const { main } = await import('./cli/program.ts');
process.exit(await main(process.argv));
