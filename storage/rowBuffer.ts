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

  add(...row: unknown[]): void {
    for (let i = 0; i < row.length; i++) this.args[this.used++] = row[i];
    if (this.used === this.args.length) {
      this.many.run(this.args);
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
