import { Hono } from 'hono';
import type { AppContext, AppEnv } from '../context.js';

export function changesRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
