import { existsSync } from 'node:fs';
import type { Config } from '../../agent/config/types.js';
import type { Log } from '../../agent/log.js';

import { openForReading, storeFile, type Db } from '../db.js';
import { StoreReader } from '../reader.js';
import { SchemaSet } from '../schemas.js';

/** SQLite's way of saying the writer has not created the tables yet. */
const NOT_READY = /no such table/;

/**
 * The store as the HTTP API reads it: ONE read-only connection, opened lazily at the first
 * request that finds the file and kept (WAL: it reads while the writer thread writes). A store
 * file that does not exist yet (the agent just started) reads as empty, and is opened once it
 * appears. The reader follows the current config, so a reload that changes the schemas (or the
 * store's path) is seen at the next request.
 */
export class StoreAccess {
  private db: Db | undefined;
  private file = '';
  private reader: StoreReader | undefined;
  private readerConfig: Config | undefined;

  constructor(
    private readonly config: () => Config,
    private readonly log: Log,
  ) {}

  /**
   * Runs `fn` over one consistent state of the store (a read transaction: a flush committed
   * meanwhile is not half seen); `reader` is undefined while there is no store to read.
   */
  read<T>(fn: (reader: StoreReader | undefined) => T): T {
    const reader = this.open();
    if (reader === undefined || this.db === undefined) return fn(undefined);
    const db = this.db;
    try {
      return db.transaction(() => fn(reader))();
    } catch (err) {
      // a failing connection (file replaced, disk error) is dropped so that the next request reopens
      if ((err as { code?: unknown }).code !== undefined && String((err as { code: unknown }).code).startsWith('SQLITE_')) this.close();
      throw err;
    }
  }

  private open(): StoreReader | undefined {
    const c = this.config();
    const file = storeFile(c);
    if (this.db !== undefined && file !== this.file) this.close();
    if (this.db === undefined) {
      if (!existsSync(file)) return undefined;
      try {
        this.db = openForReading(file);
        this.file = file;
      } catch (err) {
        if (NOT_READY.test((err as Error).message)) return undefined;
        throw err;
      }
    }
    if (this.reader === undefined || this.readerConfig !== c) {
      try {
        this.reader = new StoreReader(this.db, new SchemaSet(c));
        this.readerConfig = c;
      } catch (err) {
        if (!NOT_READY.test((err as Error).message)) throw err;
        this.close(); // tables still being created: try again at the next request
        return undefined;
      }
    }
    return this.reader;
  }

  close(): void {
    const db = this.db;
    this.db = undefined;
    this.reader = undefined;
    this.readerConfig = undefined;
    try {
      db?.close();
    } catch (err) {
      this.log.warn(`http: closing the store ${this.file}: ${(err as Error).message}`);
    }
  }
}
