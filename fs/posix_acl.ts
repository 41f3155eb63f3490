/**
 * POSIX ACLs, stored as the extended attributes Linux gives them (system.posix_acl_access
 * and system.posix_acl_default, in the kernel's xattr encoding). With FUSE_POSIX_ACL the
 * kernel checks permissions against them itself; what stays the filesystem's job, and is
 * here: keeping the mode and the access ACL in step (setting an ACL sets the mode, chmod
 * rewrites the ACL), and what a new node inherits from its directory's default ACL.
 * Each follows Linux's fs/posix_acl.c, so results match a local disk's.
 */
import { Errno, FuseError } from "./fuse/ops.ts";

export const ACL_ACCESS = "system.posix_acl_access";
export const ACL_DEFAULT = "system.posix_acl_default";

const VERSION = 2;
const HEADER = 4, ENTRY = 8;
const UNDEFINED_ID = 0xffffffff;

/** Entry tags, in the order a valid ACL lists them. */
export const Tag = { UserObj: 0x01, User: 0x02, GroupObj: 0x04, Group: 0x08, Mask: 0x10, Other: 0x20 } as const;
export type Tag = typeof Tag[keyof typeof Tag];
const TAGS: readonly number[] = Object.values(Tag);

export interface AclEntry {
  tag: Tag;
  /** rwx bits, 0-7. */
  perm: number;
  /** uid or gid for User and Group entries. */
  id?: number;
}

export function isAclName(name: string): boolean {
  return name === ACL_ACCESS || name === ACL_DEFAULT;
}

/**
 * An ACL from its xattr value: EINVAL unless well formed and valid as Linux defines it
 * (one owner, group and other entry; named entries sorted without repeats; a mask
 * whenever there is a named entry). An empty ACL (the header alone) is none: null.
 */
export function parseAcl(value: Uint8Array): AclEntry[] | null {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (value.length < HEADER || (value.length - HEADER) % ENTRY !== 0 || v.getUint32(0, true) !== VERSION) {
    throw new FuseError(Errno.EINVAL);
  }
  const entries: AclEntry[] = [];
  for (let at = HEADER; at < value.length; at += ENTRY) {
    const tag = v.getUint16(at, true) as Tag, perm = v.getUint16(at + 2, true);
    if (perm > 7) throw new FuseError(Errno.EINVAL);
    entries.push(tag === Tag.User || tag === Tag.Group ? { tag, perm, id: v.getUint32(at + 4, true) } : { tag, perm });
  }
  if (entries.length === 0) return null;
  if (!valid(entries)) throw new FuseError(Errno.EINVAL);
  return entries;
}

function valid(entries: AclEntry[]): boolean {
  const counts = new Map<Tag, number>();
  let prev: AclEntry | undefined;
  for (const e of entries) {
    if (!TAGS.includes(e.tag)) return false;
    if (prev && (prev.tag > e.tag || (prev.tag === e.tag && (prev.id ?? 0) >= (e.id ?? 0)))) return false;
    counts.set(e.tag, (counts.get(e.tag) ?? 0) + 1);
    prev = e;
  }
  const one = (t: Tag) => counts.get(t) === 1;
  const named = (counts.get(Tag.User) ?? 0) + (counts.get(Tag.Group) ?? 0);
  return one(Tag.UserObj) && one(Tag.GroupObj) && one(Tag.Other) && (named === 0 || one(Tag.Mask)) &&
    (counts.get(Tag.Mask) ?? 0) <= 1;
}

export function aclBytes(entries: AclEntry[]): Uint8Array {
  const out = new Uint8Array(HEADER + ENTRY * entries.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, VERSION, true);
  entries.forEach((e, i) => {
    const at = HEADER + ENTRY * i;
    v.setUint16(at, e.tag, true);
    v.setUint16(at + 2, e.perm, true);
    v.setUint32(at + 4, e.id ?? UNDEFINED_ID, true);
  });
  return out;
}

/**
 * The mode an access ACL gives a node (owner, mask or else group, other bits; the rest
 * of `mode` kept), and whether the mode says all the ACL does: then no ACL is stored.
 */
export function modeOfAcl(entries: AclEntry[], mode: number): { mode: number; equivalent: boolean } {
  let bits = 0, equivalent = true, group = 0, mask: number | undefined;
  for (const e of entries) {
    if (e.tag === Tag.UserObj) bits |= e.perm << 6;
    else if (e.tag === Tag.GroupObj) group = e.perm;
    else if (e.tag === Tag.Other) bits |= e.perm;
    else if (e.tag === Tag.Mask) mask = e.perm;
    else equivalent = false;
  }
  if (mask !== undefined) equivalent = false;
  bits |= (mask ?? group) << 3;
  return { mode: (mode & ~0o777) | bits, equivalent };
}

/** chmod of a node with an access ACL: owner, mask (or group) and other entries take the new bits. */
export function chmodAcl(entries: AclEntry[], mode: number): AclEntry[] {
  const hasMask = entries.some((e) => e.tag === Tag.Mask);
  return entries.map((e) => {
    if (e.tag === Tag.UserObj) return { ...e, perm: (mode >> 6) & 7 };
    if (e.tag === (hasMask ? Tag.Mask : Tag.GroupObj)) return { ...e, perm: (mode >> 3) & 7 };
    if (e.tag === Tag.Other) return { ...e, perm: mode & 7 };
    return e;
  });
}

/** What a new node gets from its directory's default ACL. */
export interface Inherited {
  mode: number;
  /** Its access ACL; none when its mode says it all. */
  access?: Uint8Array;
  /** A directory's default ACL: its parent's. */
  default?: Uint8Array;
}

/**
 * A node made with `mode` in a directory whose default ACL is `parentDefault`: without
 * one, the umask applies; with one, the umask does not, and the ACL and the requested
 * mode mask each other (owner, other, and mask or else group).
 */
export function inherit(parentDefault: Uint8Array | undefined, mode: number, umask: number, isDir: boolean): Inherited {
  const acl = parentDefault ? parseAcl(parentDefault) : null;
  if (!acl) return { mode: mode & ~umask };
  let bits = mode & 0o777, equivalent = true;
  const entries = acl.map((e) => ({ ...e }));
  const mask = entries.find((e) => e.tag === Tag.Mask), group = entries.find((e) => e.tag === Tag.GroupObj)!;
  for (const e of entries) {
    if (e.tag === Tag.UserObj) {
      e.perm &= (bits >> 6) & 7;
      bits = (bits & ~0o700) | (bits & (e.perm << 6));
    } else if (e.tag === Tag.Other) {
      e.perm &= bits & 7;
      bits = (bits & ~0o007) | (bits & e.perm);
    } else if (e.tag !== Tag.GroupObj) equivalent = false;
  }
  const g = mask ?? group;
  g.perm &= (bits >> 3) & 7;
  bits = (bits & ~0o070) | (bits & (g.perm << 3));
  return {
    mode: (mode & ~0o777) | bits,
    access: equivalent ? undefined : aclBytes(entries),
    default: isDir ? parentDefault : undefined,
  };
}
