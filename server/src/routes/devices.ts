// Devices of an account: id, X25519 public key, encrypted name and device key slot (format §4.3).
// A session may belong to one of them (`sessions.device_id`): registering a device makes the
// calling session its, and PUT /api/auth/sessions/current/device says so later. Removing a device
// ends its sessions, as revoking each would (a lost laptop is logged out with it).
import { and, asc, eq, isNotNull } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { deleteCookie } from 'hono/cookie';
import { requireSession, type AppContext, type AppEnv, type Session } from '../context.js';
import { devices, sessions } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_METADATA, MAX_SLOT } from '../limits.js';
import { isUniqueViolation } from '../services/errors-db.js';
import { sessionsEnded } from '../session-cache.js';
import { SESSION_COOKIE, sessionEndsAt } from '../sessions.js';
import { base64url, base64urlExact, id16, optional, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';

const DEVICE_ID = /^[0-9a-f]{32}$/;

type DeviceRow = typeof devices.$inferSelect;

/**
 * The calling session's device (null when it has none), how many live sessions each device has, and
 * the last use of any of each device's sessions.
 */
interface DeviceSessions { current: string | null; live: Map<string, number>; used: Map<string, Date> }

/** A device was last seen when it last said so, or when one of its sessions was last used, if later. */
const lastSeen = (d: DeviceRow, s: DeviceSessions): Date | null => {
  const used = s.used.get(d.id);
  return !used ? d.lastSeenAt : !d.lastSeenAt || used > d.lastSeenAt ? used : d.lastSeenAt;
};

const toJson = (d: DeviceRow, s: DeviceSessions) => ({
  deviceId: d.id, publicKey: d.publicKey, name: d.name, slot: d.slot,
  createdAt: d.createdAt.toISOString(), lastSeenAt: lastSeen(d, s)?.toISOString() ?? null,
  current: d.id === s.current, sessions: s.live.get(d.id) ?? 0,
});

export function deviceRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));

  /**
   * Reads the account's sessions that belong to a device (few: one query, counted here). Sessions
   * past their end that the collector has not yet deleted are not live, and not counted.
   */
  const deviceSessions = async (session: Session): Promise<DeviceSessions> => {
    const rows = await ctx.db.select({
      id: sessions.id, deviceId: sessions.deviceId, createdAt: sessions.createdAt, lastSeenAt: sessions.lastSeenAt,
    }).from(sessions).where(and(eq(sessions.accountId, session.accountId), isNotNull(sessions.deviceId)));
    const now = new Date();
    const live = new Map<string, number>();
    const used = new Map<string, Date>();
    let current: string | null = null;
    for (const row of rows) {
      const device = row.deviceId!;
      if (row.id === session.sessionId) current = device;
      if (now <= sessionEndsAt(row, ctx.config)) live.set(device, (live.get(device) ?? 0) + 1);
      const seen = used.get(device);
      if (!seen || row.lastSeenAt > seen) used.set(device, row.lastSeenAt);
    }
    return { current, live, used };
  };

  r.get('/', async (c) => {
    const session = c.get('session');
    const rows = await ctx.db.select().from(devices).where(eq(devices.accountId, session.accountId))
      .orderBy(asc(devices.createdAt));
    const linked = await deviceSessions(session);
    return c.json({ devices: rows.map((d) => toJson(d, linked)) });
  });

  r.post('/', async (c) => {
    const { accountId, sessionId } = c.get('session');
    const body = await readJson(c);
    const values = {
      accountId,
      id: id16(body.deviceId, 'deviceId'),
      publicKey: base64urlExact(body.publicKey, 'publicKey', 32),
      name: base64url(body.name, 'name', MAX_METADATA),
      slot: optional(body.slot, (v) => base64url(v, 'slot', MAX_SLOT)) ?? null,
    };
    try {
      const row = await ctx.db.transaction(async (tx) => {
        const [inserted] = await tx.insert(devices).values(values).returning();
        await tx.update(sessions).set({ deviceId: values.id }).where(eq(sessions.id, sessionId));
        return inserted!;
      });
      // A new id: no other session can be this device yet (a removed device's sessions ended with it).
      return c.json(toJson(row, { current: row.id, live: new Map([[row.id, 1]]), used: new Map() }), 201);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(409, 'DEVICE_EXISTS', 'A device with this id exists');
      throw err;
    }
  });

  /** The device id of the path; one that no device can have is simply not found. */
  const deviceId = (c: Context<AppEnv>): string => {
    const id = c.req.param('id') ?? '';
    if (!DEVICE_ID.test(id)) throw notFound('No such device');
    return id;
  };

  r.get('/:id', async (c) => {
    const session = c.get('session');
    const [row] = await ctx.db.select().from(devices)
      .where(and(eq(devices.accountId, session.accountId), eq(devices.id, deviceId(c))));
    if (!row) throw notFound('No such device');
    return c.json(toJson(row, await deviceSessions(session)));
  });

  r.delete('/:id', async (c) => {
    const { accountId, sessionId, viaCookie } = c.get('session');
    const id = deviceId(c);
    // The device row goes first: PUT /api/auth/sessions/current/device locks it too before it links
    // a session, so no session can be linked to the device after its sessions were deleted here.
    const ended = await ctx.db.transaction(async (tx) => {
      const gone = await tx.delete(devices).where(and(eq(devices.accountId, accountId), eq(devices.id, id)))
        .returning({ id: devices.id });
      if (gone.length === 0) throw notFound('No such device');
      return tx.delete(sessions).where(and(eq(sessions.accountId, accountId), eq(sessions.deviceId, id)))
        .returning({ id: sessions.id });
    });
    if (ended.length === 0) return c.body(null, 204);
    // As DELETE /api/auth/sessions/:id, once committed: this process's cache forgets them, the
    // others are told, and the sessions' WebSockets are closed.
    sessionsEnded(ctx, accountId);
    if (viaCookie && ended.some((s) => s.id === sessionId)) deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });

  refuseOtherMethods(r, ['/', '/:id']);
  return r;
}
