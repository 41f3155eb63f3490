/**
 * Whether a readdirplus hands the kernel the attributes of the files it lists, learned
 * per program. With them the kernel makes a dentry and an inode per entry inside our
 * reply; a program that stats or opens what it lists (ls -l, cp -r, git, du) is spared
 * a lookup per file, one that only walks by the listing's types (find) pays for nothing
 * it uses: find over a 14,743-entry tree took 215-240 ms without them, 354-443 with
 * them; ls -lR 700-747 without, 228-269 with (docs/BENCHMARKS.md). The kernel's
 * READDIRPLUS_AUTO chooses per directory and gives them with every listing's first part.
 *
 * A program (by its command name, so the choice outlives one process) is listed without
 * the files' attributes until one of its threads looks up names in a directory it was
 * just handed that way; from then on it gets them, for the life of the mount.
 * Directories always come with theirs: every walker descends into them.
 */

/** Lookups of just-listed names that show a program uses what it lists. */
const LOOKUPS_TO_LEARN = 2;
/** Directories listed without files' attributes remembered per thread. */
const RECENT_DIRS = 4;
/** Threads remembered; past this the table starts over (tids are reused, rarely). */
const THREADS_MAX = 4096;

interface Program {
  usesAttrs: boolean;
  lookups: number;
}

interface Thread {
  program: Program;
  /** Directories this thread was listed without files' attributes, newest last. */
  bare: number[];
}

export class ListingAttrs {
  private readonly programs = new Map<string, Program>();
  private readonly threads = new Map<number, Thread>();

  /** `nameOf` gives a thread's command name, undefined when it cannot be known. */
  constructor(private readonly nameOf: (tid: number) => string | undefined = commandOf) {}

  /** Whether a listing of `dir` for thread `tid` carries its files' attributes. */
  filesWanted(tid: number, dir: number): boolean {
    const t = this.thread(tid);
    if (!t || t.program.usesAttrs) return true;
    if (!t.bare.includes(dir)) {
      t.bare.push(dir);
      if (t.bare.length > RECENT_DIRS) t.bare.shift();
    }
    return false;
  }

  /** Thread `tid` looked up a name in `parent`. */
  lookedUp(tid: number, parent: number): void {
    const t = this.threads.get(tid);
    if (!t || t.program.usesAttrs || !t.bare.includes(parent)) return;
    if (++t.program.lookups >= LOOKUPS_TO_LEARN) t.program.usesAttrs = true;
  }

  private thread(tid: number): Thread | undefined {
    let t = this.threads.get(tid);
    if (t) return t;
    // Requests the kernel makes on its own behalf carry no thread.
    if (tid <= 0) return undefined;
    const name = this.nameOf(tid);
    if (name === undefined) return undefined;
    let program = this.programs.get(name);
    if (!program) this.programs.set(name, program = { usesAttrs: false, lookups: 0 });
    if (this.threads.size >= THREADS_MAX) this.threads.clear();
    this.threads.set(tid, t = { program, bare: [] });
    return t;
  }
}

/** A thread's command name from /proc (its comm); undefined if it has exited. */
function commandOf(tid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${tid}/comm`).trimEnd();
  } catch {
    return undefined;
  }
}
