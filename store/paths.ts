/** Names and paths as the store accepts them: one place for the rules. */
import { utf8Length } from "./codec.ts";
import { RevfsError } from "./types.ts";

export const MAX_NAME_BYTES = 255;

/** A name that may stand in a directory: not empty, `.`, `..`, nor holding `/` or NUL; at most 255 bytes. */
export function checkName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new RevfsError("INVALID", `invalid file name ${JSON.stringify(name)}`, { path: name });
  }
  if (name.length > MAX_NAME_BYTES / 3 && utf8Length(name) > MAX_NAME_BYTES) {
    throw new RevfsError("NAME_TOO_LONG", `file name longer than ${MAX_NAME_BYTES} bytes`, {
      path: `${name.slice(0, 40)}...`,
    });
  }
}

/** Path parts; `..` is refused, so a path never leaves the tree it names. */
export function splitPath(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new RevfsError("INVALID", `path may not contain ".."`, { path });
  if (path.includes("\0")) throw new RevfsError("INVALID", `path may not contain a NUL byte`);
  return parts;
}

/**
 * `name` inside local directory `dir` (node:path's join for one plain name, which
 * import and export need: loading node:path and node:fs cost every process ~20 ms).
 */
export function localChild(dir: string, name: string): string {
  if (dir === "") return name;
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
