// Where a credential keeps its secret across restarts.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/** Keeps the secret a credential swapped in, so a restart starts with it. */
export interface SecretStore {
  load(): Promise<string | undefined>;
  save(secret: string): Promise<void>;
}

/**
 * A file holding the secret alone, replaced atomically (write, fsync, rename), readable
 * by its owner only (mode 0600): a crash mid-write leaves the old file whole.
 */
export class FileStore implements SecretStore {
  constructor(readonly file: string) {}

  async load(): Promise<string | undefined> {
    try {
      const text = (await fs.readFile(this.file, "utf8")).trim();
      return text === "" ? undefined : text;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async save(secret: string): Promise<void> {
    const temporary = path.join(
      path.dirname(path.resolve(this.file)),
      `.keyroll-${randomBytes(8).toString("hex")}`,
    );
    const handle = await fs.open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(secret, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(temporary, this.file);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
  }
}

/** The application's own place: `save` gets each new secret; `load`, if given, the start. */
export class CallbackStore implements SecretStore {
  constructor(
    private readonly onSave: (secret: string) => void | Promise<void>,
    private readonly onLoad?: () =>
      string | undefined | Promise<string | undefined>,
  ) {}

  async load(): Promise<string | undefined> {
    return this.onLoad ? await this.onLoad() : undefined;
  }

  async save(secret: string): Promise<void> {
    await this.onSave(secret);
  }
}
