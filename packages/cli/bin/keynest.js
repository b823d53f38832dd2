#!/usr/bin/env node
// Kept tiny and plain JS: the compiled CLI lives in dist/, and this shim only starts it.
import { runMain } from '../dist/main.js';

await runMain();
