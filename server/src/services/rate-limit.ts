// Fixed-window rate limits kept in the database, so every server process sharing it counts
// together. A key is a purpose plus a hash of the subject (e-mail, account or client address).
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { RateLimit } from '../config.js';
import type { Db } from '../db/client.js';
import { rateLimits } from '../db/schema/core.js';
import { ApiError } from '../errors.js';

export function limitKey(purpose: string, subject: string): string {
  return `${purpose}:${createHash('sha256').update(subject).digest('hex').slice(0, 32)}`;
}

/** Counts one attempt; throws 429 RATE_LIMITED with Retry-After once the window is used up. */
export async function consume(db: Db, key: string, limit: RateLimit): Promise<void> {
  const window = sql.raw(`interval '${Math.floor(limit.windowSeconds)} seconds'`);
  const expired = sql`rate_limits.window_start <= now() - ${window}`;
  const [row] = await db.insert(rateLimits).values({ key, windowStart: sql`now()`, count: 1 })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        windowStart: sql`case when ${expired} then now() else rate_limits.window_start end`,
        count: sql`case when ${expired} then 1 else rate_limits.count + 1 end`,
      },
    })
    .returning({
      count: rateLimits.count,
      retryAfter: sql<number>`greatest(1, ceil(extract(epoch from (${rateLimits.windowStart} + ${window} - now()))))::int`,
    });
  if (row && row.count > limit.limit) {
    throw new ApiError(429, 'RATE_LIMITED', 'Too many attempts; try again later', {},
      { 'Retry-After': String(row.retryAfter) });
  }
}
