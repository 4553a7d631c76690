import { markDatabaseUnavailable } from "./errors";

// The driver classes every pooled and LISTEN connection is made from: node-postgres' (or Neon's)
// Client and Pool, subclassed so a failing connection is observed and branded, never an uncaught
// exception, and so a connection can be destroyed rather than pooled again.

/** node-postgres internals every pool relies on (pg-pool reads the same two fields). */
interface ClientState {
  _queryable?: boolean;
  _ending?: boolean;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

type Callback = (error: unknown, ...rest: unknown[]) => void;
// The drivers' classes have many overloads; these subclasses pass every argument through.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClass = new (...args: any[]) => any;

/**
 * A driver Client that (1) always has an `error` listener, so a connection lost while checked out
 * (drizzle transactions hold one without a listener of their own) never becomes an uncaught
 * exception; (2) brands every error of a connection that could not be made or is no longer usable
 * (db/errors.ts), since the driver's own errors for that carry no code; (3) closes its connection
 * when a query gets no answer within `queryTimeoutMs` (the pool then drops it, never reuses it).
 */
export function observedClientClass<C extends AnyClass>(Base: C, queryTimeoutMs: number): C {
  return class ObservedClient extends Base {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    constructor(...args: any[]) {
      super(...args);
      // Errors reach this listener before the failed queries' callbacks (same error object).
      (this as unknown as ClientState).on("error", (error) => markDatabaseUnavailable(error));
    }

    connect(callback?: Callback) {
      if (callback) return super.connect((error: unknown, ...rest: unknown[]) => callback(error ? markDatabaseUnavailable(error) : error, ...rest));
      return super.connect().catch((error: unknown) => {
        throw markDatabaseUnavailable(error);
      });
    }

    query(...args: unknown[]) {
      const first = args[0] as { submit?: unknown } | undefined;
      if (first && typeof first === "object" && typeof first.submit === "function") return super.query(...args);
      const state = this as unknown as ClientState;
      const classify = (error: unknown) => {
        if (error && (state._queryable === false || state._ending)) markDatabaseUnavailable(error);
        return error;
      };
      let timer: NodeJS.Timeout | undefined;
      if (queryTimeoutMs > 0) {
        // end() on a client with a query in flight destroys the socket: the query fails as a
        // terminated connection and pg-pool discards the client on release.
        timer = setTimeout(() => void state.end().catch(() => {}), queryTimeoutMs);
        timer.unref();
      }
      const callbackAt = args.findIndex((arg) => typeof arg === "function");
      if (callbackAt >= 0) {
        const callback = args[callbackAt] as Callback;
        args[callbackAt] = (error: unknown, ...rest: unknown[]) => {
          clearTimeout(timer);
          callback(classify(error), ...rest);
        };
        return super.query(...args);
      }
      return (super.query(...args) as Promise<unknown>).then(
        (result) => {
          clearTimeout(timer);
          return result;
        },
        (error: unknown) => {
          clearTimeout(timer);
          throw classify(error);
        },
      );
    }
  };
}

/** A driver Pool whose failures to hand out a connection (refused, timed out) are branded as unavailability. */
export function observedPoolClass<C extends AnyClass>(Base: C): C {
  return class ObservedPool extends Base {
    connect(callback?: Callback) {
      if (callback) return super.connect((error: unknown, ...rest: unknown[]) => callback(error ? markDatabaseUnavailable(error) : error, ...rest));
      return super.connect().catch((error: unknown) => {
        throw markDatabaseUnavailable(error);
      });
    }
  };
}

/**
 * Closes the connection an abandoned transaction runs on (the mint, after its deadline), so it is
 * discarded rather than handed back to the pool with a statement of ours still pending on it. A
 * no-op for PGlite, whose single in-process connection is not ours to close.
 */
export function destroyTransactionConnection(tx: unknown): void {
  const client = (tx as { session?: { client?: unknown } } | undefined)?.session?.client as
    | (ClientState & { release?: unknown })
    | undefined;
  // Only a pooled client (it has `release`) is a connection of its own.
  if (client && typeof client.release === "function" && typeof client.end === "function") void client.end().catch(() => {});
}
