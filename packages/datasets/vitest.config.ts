import { defineConfig } from 'vitest/config';
import { niwtVitest } from '../../vitest.shared.js';

export default defineConfig(niwtVitest('datasets'));
