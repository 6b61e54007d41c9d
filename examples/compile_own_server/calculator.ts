/**
 * A user's own service, to be compiled into a server binary with `main.ts`.
 * In your project, import from `jsr:@netref/netref` instead of `../../mod.ts`.
 *
 * @module
 */

import { exposed, service } from "../../mod.ts";

/** Adds and multiplies, and remembers the last result per connection. */
@service("calc")
export class Calculator {
  /** The last result on this connection. */
  @exposed
  last = 0;

  /** Returns `a + b`. */
  @exposed
  add(a: number, b: number): number {
    return this.last = a + b;
  }

  /** Returns `a * b`. */
  @exposed
  multiply(a: number, b: number): number {
    return this.last = a * b;
  }
}
