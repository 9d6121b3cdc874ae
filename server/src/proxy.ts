// Who the client is when the server runs behind a load balancer or reverse proxy.
//
// Without COFFER_TRUSTED_PROXIES the server believes only its socket: X-Forwarded-For and
// X-Forwarded-Proto are ignored, so a client cannot pick the address its attempts are counted
// under. Behind proxies every connection comes from a proxy, and per-address rate limits would
// count all users as one. With COFFER_TRUSTED_PROXIES (addresses and CIDR ranges, comma-separated),
// a request whose socket peer is one of them is taken to come from the last address in
// X-Forwarded-For that is not a trusted proxy, read from the right: entries further left were
// written by the client or by proxies nobody vouches for. Only then is X-Forwarded-Proto believed
// too (Secure cookies behind a proxy that ends TLS).
import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';

/** Parses COFFER_TRUSTED_PROXIES; each entry it cannot read is a problem for the configuration. */
export function parseTrustedProxies(text: string): { entries: string[]; problems: string[] } {
  const entries: string[] = [];
  const problems: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    try {
      toBlockList([entry]);
      entries.push(entry);
    } catch {
      problems.push(`COFFER_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range (such as 10.0.0.0/8 or fd00::/8)`);
    }
  }
  return { entries, problems };
}

function toBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) throw new Error(`not an address: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!(prefix <= (family === 4 ? 32 : 128))) throw new Error(`bad prefix: ${entry}`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

/** An address in the form the lists compare: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4. */
function normalize(address: string): string | null {
  let a = address.trim();
  if (a.startsWith('[') && a.includes(']')) a = a.slice(1, a.indexOf(']')); // [v6]:port
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':')); // v4:port
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  return isIP(a) === 0 ? null : a;
}

const lists = new WeakMap<readonly string[], BlockList>();

function trusts(entries: readonly string[], address: string): boolean {
  if (entries.length === 0) return false;
  let list = lists.get(entries);
  if (!list) lists.set(entries, (list = toBlockList(entries)));
  return list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

function socketAddress(c: Context): string | null {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  const raw = env?.incoming?.socket?.remoteAddress;
  return raw === undefined ? null : normalize(raw);
}

/** The client's address: the socket's, or behind trusted proxies the nearest hop they vouch for. */
export function clientAddress(c: Context, trustedProxies: readonly string[]): string {
  let address = socketAddress(c);
  if (address === null) return 'local'; // app.request in tests: no socket
  if (!trusts(trustedProxies, address)) return address;
  const hops = (c.req.header('x-forwarded-for') ?? '').split(',').reverse();
  for (const hop of hops) {
    const next = normalize(hop);
    if (next === null) break; // a hop we cannot read: stay with the proxy that passed it on
    address = next;
    if (!trusts(trustedProxies, address)) break;
  }
  return address;
}

/** Whether the client reached us over HTTPS: the request's scheme, or a trusted proxy's word. */
export function viaHttps(c: Context, trustedProxies: readonly string[]): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  const address = socketAddress(c);
  if (address === null || !trusts(trustedProxies, address)) return false;
  const proto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return proto === 'https';
}
