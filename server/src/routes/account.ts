import { Hono } from 'hono';
import type { AppContext, AppEnv } from '../context.js';

export function accountRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
