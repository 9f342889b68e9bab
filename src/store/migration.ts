/** One schema step; applied once, in order, in its own transaction. Every driver lists the same versions and names. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
