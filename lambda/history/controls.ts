/**
 * Operator controls of an app, set from the CLI without a deploy: `suspend` (runs are recorded
 * `Skipped`, nothing is fetched or written) and `pin` (sync this commit instead of the branch
 * head, until unpinned). Kept in a record of their own per app, apart from the app's state, so
 * the engine's state writes never race an operator's command.
 *
 * Both history stores implement {@link ControlsStore}; the engine asks `controlsOf(store)` so a
 * store without controls (a test double) simply has none.
 */

/** Why and since when an app is suspended. */
export interface Suspension {
  /** ISO time the app was suspended. */
  at: string;
  /** What the operator said, shown by `status` and in the skipped runs. */
  reason?: string;
}

/** The commit an app is pinned to. */
export interface Pin {
  /** Full 40-hex commit SHA. */
  revision: string;
  /** ISO time of the pin. */
  at: string;
  reason?: string;
}

export interface AppControls {
  app: string;
  suspended?: Suspension;
  pinned?: Pin;
}

/** Per-app controls; each setter changes only its own field, so `suspend` and `pin` never undo each other. */
export interface ControlsStore {
  getControls(app: string): Promise<AppControls | undefined>;
  /** Every app with a control set, by name. */
  listControls(): Promise<AppControls[]>;
  /** Sets (or with `undefined`, clears) the app's suspension. */
  setSuspended(app: string, suspension: Suspension | undefined): Promise<void>;
  /** Sets (or with `undefined`, clears) the app's pin. */
  setPinned(app: string, pin: Pin | undefined): Promise<void>;
}

/** The store's controls, or `undefined` when it keeps none. */
export function controlsOf(store: object): ControlsStore | undefined {
  const candidate = store as Partial<ControlsStore>;
  return typeof candidate.getControls === 'function' &&
    typeof candidate.listControls === 'function' &&
    typeof candidate.setSuspended === 'function' &&
    typeof candidate.setPinned === 'function'
    ? (candidate as ControlsStore)
    : undefined;
}

/** The message of a run skipped because the app is suspended. */
export function suspendedMessage(app: string, suspension: Suspension): string {
  const why = suspension.reason ? `: ${suspension.reason}` : '';
  return `app "${app}" is suspended (since ${suspension.at}${why}); nothing was fetched or written. Resume with: driftless resume --app ${app}`;
}

/**
 * The app's controls from `store`, for the start of a run. A store that cannot be read fails the
 * invocation with a message naming it: syncing a suspended app because its flag was unreadable
 * would defeat the flag.
 */
export async function readControls(store: object, app: string): Promise<AppControls | undefined> {
  const controls = controlsOf(store);
  if (!controls) return undefined;
  try {
    return await controls.getControls(app);
  } catch (error) {
    throw new Error(
      `history store failed while reading the controls (suspend, pin) of app "${app}"; nothing was synced: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
