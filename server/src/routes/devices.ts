// Devices of an account: id, X25519 public key, encrypted name and device key slot (format §4.3).
import { and, asc, eq } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { requireSession, type AppContext, type AppEnv } from '../context.js';
import { devices } from '../db/schema/core.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_METADATA, MAX_SLOT } from '../limits.js';
import { isUniqueViolation } from '../services/errors-db.js';
import { base64url, base64urlExact, id16, optional, readJson } from '../validate.js';
import { refuseOtherMethods } from './method.js';

const DEVICE_ID = /^[0-9a-f]{32}$/;

type DeviceRow = typeof devices.$inferSelect;

const toJson = (d: DeviceRow) => ({
  deviceId: d.id, publicKey: d.publicKey, name: d.name, slot: d.slot,
  createdAt: d.createdAt.toISOString(), lastSeenAt: d.lastSeenAt?.toISOString() ?? null,
});

export function deviceRoutes(ctx: AppContext): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireSession(ctx));

  r.get('/', async (c) => {
    const rows = await ctx.db.select().from(devices).where(eq(devices.accountId, c.get('session').accountId))
      .orderBy(asc(devices.createdAt));
    return c.json({ devices: rows.map(toJson) });
  });

  r.post('/', async (c) => {
    const { accountId } = c.get('session');
    const body = await readJson(c);
    const values = {
      accountId,
      id: id16(body.deviceId, 'deviceId'),
      publicKey: base64urlExact(body.publicKey, 'publicKey', 32),
      name: base64url(body.name, 'name', MAX_METADATA),
      slot: optional(body.slot, (v) => base64url(v, 'slot', MAX_SLOT)) ?? null,
    };
    try {
      const [row] = await ctx.db.insert(devices).values(values).returning();
      return c.json(toJson(row!), 201);
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
    const [row] = await ctx.db.select().from(devices)
      .where(and(eq(devices.accountId, c.get('session').accountId), eq(devices.id, deviceId(c))));
    if (!row) throw notFound('No such device');
    return c.json(toJson(row));
  });

  r.delete('/:id', async (c) => {
    const gone = await ctx.db.delete(devices)
      .where(and(eq(devices.accountId, c.get('session').accountId), eq(devices.id, deviceId(c))))
      .returning({ id: devices.id });
    if (gone.length === 0) throw notFound('No such device');
    return c.body(null, 204);
  });

  refuseOtherMethods(r, ['/', '/:id']);
  return r;
}
