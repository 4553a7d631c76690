import type { Database } from "@/db";
import type { MachineProvider } from "@/lib/machines/types";
import { lostLeaseError, renewLease, type Lease } from "./lease";

/**
 * What an operation knows about its lease between renewals. `renew` extends it (the heartbeat and
 * every machine write call it); once a renewal finds the lease gone, or no renewal has succeeded
 * for a whole TTL (the database may have let it expire meanwhile), the lease counts as lost for
 * good and `assertHeld` throws `operation_in_progress`.
 */
export interface LeaseFence {
  renew(): Promise<void>;
  assertHeld(): void;
  readonly lost: boolean;
}

export function createLeaseFence(db: Database, lease: Lease, clock: () => number = Date.now): LeaseFence {
  let lost = false;
  let confirmedAt = clock();
  return {
    get lost() {
      return lost;
    },
    async renew() {
      if (lost) throw lostLeaseError();
      let held: boolean;
      try {
        held = await renewLease(db, lease);
      } catch (error) {
        if (clock() - confirmedAt >= lease.ttlMs) lost = true;
        throw error;
      }
      if (!held) {
        lost = true;
        throw lostLeaseError();
      }
      confirmedAt = clock();
    },
    assertHeld() {
      if (lost || clock() - confirmedAt >= lease.ttlMs) {
        lost = true;
        throw lostLeaseError();
      }
    },
  };
}

/**
 * The provider as an operation may use it: every write (create, update, start, stop, destroy)
 * renews the lease first and is not sent when that fails; every read, wait and gateway address
 * checks that the lease was not lost. A replica that lost its instance to another therefore makes
 * no further machine call. (The version guard on updates covers a write already on the wire.)
 */
export function fenceMachineProvider(machines: MachineProvider, fence: LeaseFence): MachineProvider {
  const write =
    <Args extends unknown[], Result>(call: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      await fence.renew();
      return call(...args);
    };
  const read =
    <Args extends unknown[], Result>(call: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      fence.assertHeld();
      return call(...args);
    };
  return {
    name: machines.name,
    create: write((input) => machines.create(input)),
    update: write((id, input) => machines.update(id, input)),
    start: write((id) => machines.start(id)),
    stop: write((id) => machines.stop(id)),
    destroy: write((id, options) => machines.destroy(id, options)),
    get: read((id) => machines.get(id)),
    list: read((filter) => machines.list(filter)),
    waitForState: read((id, state, options) => machines.waitForState(id, state, options)),
    gatewayUrl(machine) {
      fence.assertHeld();
      return machines.gatewayUrl(machine);
    },
    close: () => machines.close(),
  };
}
