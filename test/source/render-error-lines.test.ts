/** What of a renderer's error output reaches the run's error: the tool's own error first, no log lines. */
import { describe, expect, it } from 'vitest';
import { errorLines } from '../../lambda/source/render/error-text.ts';

describe('the error lines of a failed render', () => {
  it("drop Helm's log lines and --debug advice, and lead with the tool's own error", () => {
    const stderr = [
      'time=2026-12-08T00:00:00.000Z level=INFO msg="loading chart" path=./chart',
      'level=WARN msg="chart has no Chart.lock"',
      'walk.go:74: found symbolic link in path: chart/x resolves to chart/y',
      'INFO  dependency charts resolved',
      'Error: an error occurred while checking for chart dependencies: missing in charts/ directory: redis',
      '',
      'Use --debug flag to render out invalid YAML',
    ].join('\n');
    expect(errorLines(stderr)).toEqual([
      'Error: an error occurred while checking for chart dependencies: missing in charts/ directory: redis',
    ]);
  });

  it("put the error before the lines that came ahead of it, and keep Kustomize's context", () => {
    const stderr = [
      '# Warning: commonLabels is deprecated',
      'accumulating resources from "../base"',
      'Error: accumulating resources: must build at directory: not a valid directory',
    ].join('\n');
    expect(errorLines(stderr)).toEqual([
      'Error: accumulating resources: must build at directory: not a valid directory',
      'accumulating resources from "../base"',
    ]);
  });
});
