/**
 * An SDK package loaded at its first use instead of at import. Requiring an SDK client package
 * (and @smithy with it) is most of a handler's cold import (bench/handlers.ts): 300-700 ms for
 * the ones approval-page uses, against about 100 ms for the handler itself. A handler that never
 * reaches a client on an invocation (a page view without a decision, a refused request, local
 * mode, tests that inject clients) then never pays for it.
 *
 * `lazyModule(() => require('pkg'))` returns stand-ins for the package's exports: `new`, calls
 * and static members (`DynamoDBDocumentClient.from`) reach the real export, loading the package
 * then. Instances are the real classes' own, so `instanceof` and aws-sdk-client-mock's command
 * matching see the SDK's classes. `require` (not `await import()`) because a command is built
 * synchronously; esbuild keeps it as the runtime's `require` of an external package.
 */
export function lazyModule<M extends object>(load: () => M): M {
  let loaded: M | undefined;
  const module = (): M => {
    loaded ??= load();
    return loaded;
  };
  const stand = new Map<PropertyKey, unknown>();
  return new Proxy({} as M, {
    get(_target, name) {
      if (!stand.has(name))
        stand.set(
          name,
          lazyExport(() => Reflect.get(module(), name)),
        );
      return stand.get(name);
    },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the stand-in forwards to whatever the export is
type AnyFunction = (...args: any[]) => any;

function lazyExport(resolve: () => unknown): unknown {
  const real = () => resolve() as AnyFunction;
  // A `function` target, not an arrow: only a constructible target lets `new` reach the trap.
  return new Proxy(function lazyExport() {}, {
    construct: (_target, args) => Reflect.construct(real(), args),
    apply: (_target, self, args) => Reflect.apply(real(), self, args),
    get: (_target, key) => Reflect.get(real(), key),
    has: (_target, key) => Reflect.has(real(), key),
  });
}
