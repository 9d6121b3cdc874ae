import { Hono } from 'hono';
import type { AppContext, AppEnv } from '../context.js';

export function uploadRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
export function chunkRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
