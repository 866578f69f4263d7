/**
 * SDK clients are created once per Lambda container and only when first used, so importing a
 * handler module has no side effects (local mode and tests import them freely). Each client lives
 * in its own module so a handler's bundle requires only the SDK packages it uses: loading an
 * unused SDK client package costs tens of milliseconds of every cold start (bench/handlers.ts).
 */
export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}
