import { defineConfig } from 'drizzle-kit';

// The whole schema folder: core.ts (accounts, nodes, chunks, ...) and links.ts (share links).
// Migrations are generated (`npm run db:generate -w @coffer/server`), never written by hand.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema',
  out: process.env.DRIZZLE_OUT ?? '../drizzle',
});
