/**
 * V8 flags of a gateway worker. A young generation of 64 MiB semi-spaces (V8's default is 16 MiB at
 * most, starting at 1) keeps each request's short-lived objects out of old space, and a scavenge's
 * pause depends on what is alive (the requests in flight), not on the space's size, so a larger
 * space means fewer pauses of the same length: on the proxy benchmark 16 → 32 MiB cut the worker's
 * CPU per request by about a tenth, and 32 → 64 MiB took its p99 from 4.5–14 ms to 4–5 ms. The
 * space grows only as far as the allocation rate needs (about 135 MB of RSS per worker under the
 * benchmark's load with either size).
 *
 * No allocation-site pretenuring: when requests that wait on a sandbox round trip outlive a few
 * scavenges, V8 starts allocating the objects of the sites they share with every other request
 * straight into old space, and keeps doing so after that traffic stops. Each of those objects, dead
 * a millisecond later, then keeps the young objects it points to alive until the next full GC: every
 * scavenge promoted about 9 MB and took 15–35 ms instead of 1–2, and p99 went from 3 to 20–27 ms on
 * routes that never call a sandbox. Without the flag 3 of 4 workers degraded so in two trials;
 * with it none did, in eight load phases after such traffic (README, Benchmark). `npm start` and `bin/isogate.js` pass the same flags to the process that
 * serves with `--workers 0`.
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=64', '--no-allocation-site-pretenuring'];
