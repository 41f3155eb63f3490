/**
 * Changes made but not committed yet: the puts and deletes of `writeLater` calls,
 * held in memory until the next commit applies them all in one transaction.
 *
 * Reads consult this layer before the committed records, so a change is visible the
 * moment it is made. Each `writeLater` is atomic: `begin` starts an undo log and
 * `rollback` puts back what the failed call changed.
 */
import type { KeyRange, Table } from "./records.ts";
import { smallBytes } from "../../sys/small_bytes.ts";
import { SortedKeys } from "./sorted_keys.ts";

/** A pending value; null is a pending delete. */
export type Pending = Uint8Array | null;

/** Keys as strings of byte values: JS compares them in the keys' byte order. */
function keyString(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

function keyBytes(s: string): Uint8Array {
  const out = smallBytes(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export class PendingWrites {
  private readonly tables = new Map<Table, Map<string, Pending>>();
  /** Each table's pending keys in order, for ranges. */
  private readonly order = new Map<Table, SortedKeys>();
  private undo: [Table, string, Pending | undefined][] | null = null;
  /** Keys changed since the last `markLogged` (a write log holds the ones before). */
  private unlogged = new Map<Table, Set<string>>();
  /** Pending puts and deletes. */
  size = 0;
  /** Bytes of pending keys and values. */
  bytes = 0;

  /** undefined: nothing pending for the key. */
  get(table: Table, key: Uint8Array): Pending | undefined {
    if (this.size === 0) return undefined;
    return this.tables.get(table)?.get(keyString(key));
  }

  set(table: Table, key: Uint8Array, value: Pending): void {
    let t = this.tables.get(table);
    if (!t) this.tables.set(table, t = new Map());
    const k = keyString(key);
    const prev = t.get(k);
    if (prev === undefined) this.keysOf(table).add(k);
    this.undo?.push([table, k, prev]);
    let u = this.unlogged.get(table);
    if (!u) this.unlogged.set(table, u = new Set());
    u.add(k);
    this.account(k, prev, -1);
    t.set(k, value);
    this.account(k, value, 1);
  }

  private keysOf(table: Table): SortedKeys {
    let o = this.order.get(table);
    if (!o) this.order.set(table, o = new SortedKeys());
    return o;
  }

  private account(k: string, v: Pending | undefined, sign: 1 | -1): void {
    if (v === undefined) return;
    this.size += sign;
    this.bytes += sign * (k.length + (v?.length ?? 0));
  }

  /** Starts recording what to undo if the change under way fails. */
  begin(): void {
    this.undo = [];
  }

  /** The change under way succeeded. */
  end(): void {
    this.undo = null;
  }

  /** The change under way failed: puts back what it changed. */
  rollback(): void {
    const undo = this.undo ?? [];
    this.undo = null;
    for (let n = undo.length - 1; n >= 0; n--) {
      const [table, k, prev] = undo[n];
      const t = this.tables.get(table)!;
      this.account(k, t.get(k), -1);
      if (prev === undefined) {
        t.delete(k);
        this.order.get(table)!.delete(k);
      } else {
        t.set(k, prev);
      }
      this.account(k, prev, 1);
    }
  }

  /** Pending entries of a table within a range, in key order. */
  entries(table: Table, range: KeyRange = {}): [Uint8Array, Pending][] {
    const t = this.tables.get(table);
    if (!t || t.size === 0) return [];
    const start = range.start ? keyString(range.start) : undefined;
    const end = range.end ? keyString(range.end) : undefined;
    const out: [Uint8Array, Pending][] = [];
    for (const k of this.order.get(table)!.range(start, end)) out.push([keyBytes(k), t.get(k)!]);
    return out;
  }

  /** Pending changes made since the last `markLogged`, as they are now. */
  unloggedEntries(): [Table, Uint8Array, Pending][] {
    const out: [Table, Uint8Array, Pending][] = [];
    for (const [table, keys] of this.unlogged) {
      const t = this.tables.get(table);
      for (const k of keys) {
        const v = t?.get(k);
        // A change rolled back since: the committed record stands.
        if (v !== undefined) out.push([table, keyBytes(k), v]);
      }
    }
    return out;
  }

  /** A log holds every pending change now (or a commit applied them all). */
  markLogged(): void {
    this.unlogged = new Map();
  }

  /** Every pending change, table by table, for a commit to apply. */
  *all(): Iterable<[Table, Uint8Array, Pending]> {
    for (const [table, t] of this.tables) {
      for (const [k, v] of t) yield [table, keyBytes(k), v];
    }
  }

  /** Moves everything pending into a new set (a commit is applying it); `restore` puts it back if that fails. */
  take(): PendingWrites {
    const taken = new PendingWrites();
    for (const [table, t] of this.tables) taken.tables.set(table, t);
    for (const [table, o] of this.order) taken.order.set(table, o);
    [taken.size, taken.bytes] = [this.size, this.bytes];
    this.tables.clear();
    this.order.clear();
    this.size = this.bytes = 0;
    return taken;
  }

  restore(taken: PendingWrites): void {
    for (const [table, t] of taken.tables) this.tables.set(table, t);
    for (const [table, o] of taken.order) this.order.set(table, o);
    this.size += taken.size;
    this.bytes += taken.bytes;
  }
}

/** Merges committed records (in key order) with pending entries over the same range. */
export function* mergeRange(
  committed: Iterable<[Uint8Array, Uint8Array]>,
  pending: [Uint8Array, Pending][],
): Iterable<[Uint8Array, Uint8Array]> {
  let p = 0;
  for (const [k, v] of committed) {
    let c = 1;
    while (p < pending.length && (c = compareBytes(pending[p][0], k)) < 0) {
      const value = pending[p++][1];
      if (value !== null) yield [pending[p - 1][0], value];
    }
    if (p < pending.length && c === 0) {
      const value = pending[p++][1];
      if (value !== null) yield [k, value];
      continue;
    }
    yield [k, v];
  }
  for (; p < pending.length; p++) {
    const value = pending[p][1];
    if (value !== null) yield [pending[p][0], value];
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
