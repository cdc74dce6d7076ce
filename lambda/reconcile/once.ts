/** `make`, called at most once: later calls return its first result (a promise too, as is). */
export function once<T>(make: () => T): () => T {
  let done: { value: T } | undefined;
  return () => {
    done ??= { value: make() };
    return done.value;
  };
}
