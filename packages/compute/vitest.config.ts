import { defineConfig } from 'vitest/config';
import { niwtVitest } from '../../vitest.shared.ts';

export default defineConfig(niwtVitest('compute'));
