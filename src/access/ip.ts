import { BlockList, isIP } from 'node:net';
import type { IpRules } from '../model/access.js';

/** What the IP lists decided for a client address. */
export type IpVerdict = 'allowed' | 'denied' | 'not-allowed';

/** An API's IP lists, compiled. */
export interface CompiledIpRules {
  /** `denied`: on the deny list (it wins); `not-allowed`: an allow list exists and the address is not on it. */
  check(ip: string): IpVerdict;
  /** The entries of a list that match `ip` (for explain). */
  matching(ip: string, list: 'allow' | 'deny'): string[];
}

function blockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) add(list, entry);
  return list;
}

function add(list: BlockList, entry: string): void {
  const [addr, bits] = entry.split('/') as [string, string | undefined];
  const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) list.addAddress(addr, family);
  else list.addSubnet(addr, Number(bits), family);
}

/** Whether `ip` is on `list`; IPv4 rules also match IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`). */
function onList(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** Compiles allow and deny lists (validated CIDRs) into one check. */
export function compileIpRules(rules: IpRules): CompiledIpRules {
  const allow = rules.allow.length > 0 ? blockList(rules.allow) : null;
  const deny = rules.deny.length > 0 ? blockList(rules.deny) : null;
  return {
    check(ip) {
      if (deny !== null && onList(deny, ip)) return 'denied';
      if (allow !== null && !onList(allow, ip)) return 'not-allowed';
      return 'allowed';
    },
    matching(ip, which) {
      return rules[which].filter((entry) => onList(blockList([entry]), ip));
    },
  };
}
