import { defineConfig } from 'vitest/config';

// One project per workspace; `npx vitest run --project <name>` runs one of them.
export default defineConfig({
  test: {
    projects: ['crypto-core', 'server', 'desktop-agent', 'web', 'tests'],
    globalSetup: ['./tests/support/global-setup.ts'],
  },
});
