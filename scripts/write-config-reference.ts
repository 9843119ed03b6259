/** Writes docs/configuration.md from the configuration schema (`npm run docs:config`). */
import { writeFileSync } from 'node:fs';
import { configReference } from '../src/config/config-reference.ts';

const target = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(target, configReference());
process.stdout.write(`wrote ${target.pathname}\n`);
