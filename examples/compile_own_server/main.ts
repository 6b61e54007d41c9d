/**
 * The entry of a server binary of your own: the whole `netref` CLI (serve,
 * call, inspect, with every flag), serving `Calculator` by default. In your
 * project, import `main` from `jsr:@netref/netref/server`.
 *
 * ```sh
 * deno compile --allow-net --output calc-server examples/compile_own_server/main.ts
 * ./calc-server serve --port 18811
 * ./calc-server call localhost:18811 add 2 3
 * ```
 *
 * @module
 */

import { main } from "../../server.ts";
import { Calculator } from "./calculator.ts";

if (import.meta.main) {
  Deno.exit(
    await main(Deno.args, {
      services: [Calculator],
      name: "calc-server",
      version: "1.0.0",
    }),
  );
}
