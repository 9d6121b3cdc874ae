import { Hono } from 'hono';
import type { AppContext, AppEnv } from '../context.js';

export function nodeRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
export function trashRoutes(ctx: AppContext): Hono<AppEnv> {
  void ctx;
  return new Hono<AppEnv>();
}
