#!/usr/bin/env -S node --no-node-snapshot --max-semi-space-size=64 --no-allocation-site-pretenuring
// Installed entry point: runs the compiled CLI (npm run build first when running from a clone).
import '../dist/src/cli.js';
