import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** Rows per statement: one multi-row INSERT costs about a third less per row than single ones. */
const ROWS_PER_STATEMENT = 64;

/**
 * Upserts into one table, ROWS_PER_STATEMENT rows per statement. Rows keep their order (SQLite
 * applies a multi-row INSERT's conflicts row by row), so a later value still overwrites an
 * earlier one. `finish()` writes what is left; call it before the transaction commits.
 */
export class RowBuffer {
  private readonly many: Database.Statement;
  private readonly one: Database.Statement;
  private readonly args: unknown[];
  private readonly width: number;
  private used = 0;

  constructor(db: Db, table: string, columns: string[], onConflict: string) {
    const row = `(${columns.map(() => '?').join(', ')})`;
    const sql = (rows: number) => `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(row).join(', ')} ON CONFLICT ${onConflict}`;
    this.many = db.prepare(sql(ROWS_PER_STATEMENT));
    this.one = db.prepare(sql(1));
    this.args = new Array(ROWS_PER_STATEMENT * columns.length);
    this.width = columns.length;
  }

  /** One row: its key then the table's 1, 2 or 5 values, in the columns' order. Fixed parameters
   * rather than a rest array: this runs for every row of every flush. */
  add(k: number, a: number | string, b?: number, c?: number, d?: number, e?: number): void {
    const args = this.args;
    let at = this.used;
    args[at++] = k;
    args[at++] = a;
    if (this.width > 2) {
      args[at++] = b;
      if (this.width > 3) {
        args[at++] = c;
        args[at++] = d;
        args[at++] = e;
      }
    }
    this.used = at;
    if (at === args.length) {
      this.many.run(args);
      this.used = 0;
    }
  }

  /** Forgets the rows not yet written: the transaction they belonged to was rolled back. */
  discard(): void {
    this.used = 0;
  }

  finish(): void {
    for (let at = 0; at < this.used; at += this.width) this.one.run(this.args.slice(at, at + this.width));
    this.used = 0;
  }
}
