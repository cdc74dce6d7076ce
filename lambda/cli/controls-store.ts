/** Opens the history store for a command that reads or sets an app's controls (suspend, pin). */
import { type ControlsStore, controlsOf } from '../history/controls.ts';
import { openHistoryStore } from '../history/open-store.ts';
import { historySpec } from './locations.ts';

/** Runs `work` with the controls of the store `spec` names, and closes the store after. */
export async function withControls<T>(
  spec: string | undefined,
  work: (controls: ControlsStore) => Promise<T>,
): Promise<T> {
  const store = await openHistoryStore(historySpec(spec));
  try {
    const controls = controlsOf(store);
    if (!controls) throw new Error(`the history store ${spec ?? ''} keeps no controls`);
    return await work(controls);
  } finally {
    await store.close();
  }
}

/** The one line a control command prints. */
export function controlLine(text: string): string {
  return `${text}\n`;
}
