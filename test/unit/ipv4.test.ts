// lib/ipv4.ts: what counts as an address or a prefix decides what may reach
// a shell, so the parser must refuse everything but canonical dotted quads.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  contains,
  formatIPv4,
  hasNetworkAndBroadcast,
  ipRouteDestination,
  isNetworkPrefix,
  networkOf,
  overlaps,
  parseIPv4,
  parsePrefix,
  type Prefix,
} from "../../lib/ipv4";

const p = (text: string): Prefix => {
  const prefix = parsePrefix(text);
  assert.ok(prefix, `${text} should parse`);
  return prefix;
};

describe("parseIPv4", () => {
  const valid: [string, number][] = [
    ["0.0.0.0", 0],
    ["255.255.255.255", 0xffffffff],
    ["192.168.1.254", 0xc0a801fe],
    ["10.0.0.1", 0x0a000001],
    ["1.2.3.4", 0x01020304],
    ["100.64.0.0", 0x64400000],
  ];
  for (const [text, value] of valid) {
    test(`accepts ${text}`, () => {
      assert.equal(parseIPv4(text), value);
      assert.equal(formatIPv4(value), text, "formatIPv4 round-trips");
    });
  }

  const invalid: [string, string][] = [
    ["192.168.01.1", "a leading zero (octal in inet_aton)"],
    ["010.0.0.1", "a leading zero in the first octet"],
    ["192.168.1.00", "a doubled zero"],
    ["256.0.0.1", "an octet of 256"],
    ["192.168.1.256", "256 in the last octet"],
    ["1.2.3.1000", "four digits"],
    ["192.168.1", "three octets"],
    ["192.168", "two octets"],
    ["3232235777", "a single number"],
    ["1.2.3.4.5", "five octets"],
    ["1..3.4", "an empty octet"],
    ["1.2.3.", "a trailing dot"],
    [".1.2.3", "a leading dot"],
    ["", "the empty string"],
    [" 1.2.3.4", "a leading space"],
    ["1.2.3.4 ", "a trailing space"],
    ["1.2.3.4\n", "a trailing newline"],
    ["+1.2.3.4", "a sign"],
    ["-1.2.3.4", "a negative octet"],
    ["0x7f.0.0.1", "hex"],
    ["1e2.0.0.1", "an exponent"],
    ["1.2.3.4/24", "a prefix length"],
    ["١.٢.٣.٤", "non-ASCII digits"],
    ["1.2.3.4\0", "a NUL"],
  ];
  for (const [text, why] of invalid) {
    test(`rejects ${JSON.stringify(text)}: ${why}`, () => assert.equal(parseIPv4(text), undefined));
  }
});

describe("formatIPv4", () => {
  test("formats the extremes and every octet position", () => {
    assert.equal(formatIPv4(0), "0.0.0.0");
    assert.equal(formatIPv4(0xffffffff), "255.255.255.255");
    assert.equal(formatIPv4(0x01000000), "1.0.0.0");
    assert.equal(formatIPv4(0x00010000), "0.1.0.0");
    assert.equal(formatIPv4(0x00000100), "0.0.1.0");
    assert.equal(formatIPv4(0x00000001), "0.0.0.1");
  });
});

describe("parsePrefix", () => {
  test("/24 with host bits: keeps the address, derives network and broadcast", () => {
    const prefix = p("192.168.1.1/24");
    assert.equal(prefix.length, 24);
    assert.equal(formatIPv4(prefix.address), "192.168.1.1");
    assert.equal(formatIPv4(prefix.network), "192.168.1.0");
    assert.equal(formatIPv4(prefix.broadcast), "192.168.1.255");
    assert.equal(networkOf(prefix), "192.168.1.0/24");
    assert.equal(isNetworkPrefix(prefix), false);
    assert.equal(hasNetworkAndBroadcast(prefix), true);
  });

  test("/0 spans everything and is the default route", () => {
    const prefix = p("0.0.0.0/0");
    assert.equal(prefix.network, 0);
    assert.equal(prefix.broadcast, 0xffffffff);
    assert.equal(isNetworkPrefix(prefix), true);
    assert.equal(ipRouteDestination(prefix), "default");
    assert.equal(networkOf(p("10.1.2.3/0")), "0.0.0.0/0");
    assert.equal(isNetworkPrefix(p("10.1.2.3/0")), false);
  });

  test("/31 (RFC 3021): two usable addresses, no network or broadcast address", () => {
    const prefix = p("10.99.0.3/31");
    assert.equal(formatIPv4(prefix.network), "10.99.0.2");
    assert.equal(formatIPv4(prefix.broadcast), "10.99.0.3");
    assert.equal(hasNetworkAndBroadcast(prefix), false);
    assert.equal(hasNetworkAndBroadcast(p("10.99.0.2/30")), true);
  });

  test("/32 is one host; ip route prints it without /32", () => {
    const prefix = p("174.143.119.91/32");
    assert.equal(prefix.network, prefix.broadcast);
    assert.equal(isNetworkPrefix(prefix), true);
    assert.equal(hasNetworkAndBroadcast(prefix), false);
    assert.equal(ipRouteDestination(prefix), "174.143.119.91");
    assert.equal(networkOf(prefix), "174.143.119.91/32");
  });

  test("ipRouteDestination keeps the length of other prefixes, and drops host bits", () => {
    assert.equal(ipRouteDestination(p("203.0.113.128/28")), "203.0.113.128/28");
    assert.equal(ipRouteDestination(p("203.0.113.130/28")), "203.0.113.128/28");
    assert.equal(ipRouteDestination(p("128.0.0.0/1")), "128.0.0.0/1");
  });

  test("/8 and /16 boundaries", () => {
    assert.equal(networkOf(p("10.200.3.4/8")), "10.0.0.0/8");
    assert.equal(formatIPv4(p("10.200.3.4/8").broadcast), "10.255.255.255");
    assert.equal(networkOf(p("172.16.255.255/16")), "172.16.0.0/16");
    assert.equal(formatIPv4(p("255.255.255.255/1").network), "128.0.0.0");
  });

  const invalid: [string, string][] = [
    ["192.168.1.1/33", "/33"],
    ["192.168.1.1/99", "/99"],
    ["192.168.1.1/100", "three digits"],
    ["192.168.1.1/024", "a leading zero in the length"],
    ["192.168.1.1/08", "a leading zero in the length"],
    ["192.168.1.1/-1", "a negative length"],
    ["192.168.1.1/", "an empty length"],
    ["192.168.1.1", "no length"],
    ["/24", "no address"],
    ["192.168.1.1/24/24", "two lengths"],
    ["192.168.1.1/ 24", "a space"],
    ["192.168.1.1 /24", "a space before the slash"],
    ["192.168.1.1/24\n", "a trailing newline"],
    ["192.168.01.1/24", "a leading zero in an octet"],
    ["192.168.1.256/24", "an octet of 256"],
    ["192.168.1/24", "three octets"],
    ["192.168.1.1/255.255.255.0", "a netmask"],
    ["192.168.1.1/2e1", "an exponent"],
  ];
  for (const [text, why] of invalid) {
    test(`rejects ${JSON.stringify(text)}: ${why}`, () => assert.equal(parsePrefix(text), undefined));
  }
});

describe("contains", () => {
  const lan = p("192.168.3.100/24");
  test("the network, broadcast and every address between", () => {
    assert.equal(contains(lan, parseIPv4("192.168.3.0")!), true);
    assert.equal(contains(lan, parseIPv4("192.168.3.255")!), true);
    assert.equal(contains(lan, parseIPv4("192.168.3.100")!), true);
  });
  test("not the neighbours just outside", () => {
    assert.equal(contains(lan, parseIPv4("192.168.2.255")!), false);
    assert.equal(contains(lan, parseIPv4("192.168.4.0")!), false);
  });
  test("/0 contains everything, /32 only itself", () => {
    assert.equal(contains(p("0.0.0.0/0"), 0xffffffff), true);
    assert.equal(contains(p("0.0.0.0/0"), 0), true);
    assert.equal(contains(p("8.8.8.8/32"), parseIPv4("8.8.8.8")!), true);
    assert.equal(contains(p("8.8.8.8/32"), parseIPv4("8.8.8.9")!), false);
  });
  test("/31 contains both of its addresses", () => {
    assert.equal(contains(p("10.99.0.2/31"), parseIPv4("10.99.0.2")!), true);
    assert.equal(contains(p("10.99.0.2/31"), parseIPv4("10.99.0.3")!), true);
    assert.equal(contains(p("10.99.0.2/31"), parseIPv4("10.99.0.4")!), false);
  });
});

describe("overlaps", () => {
  const cases: [string, string, boolean][] = [
    ["192.168.1.1/24", "192.168.2.1/24", false],
    ["192.168.1.1/24", "192.168.1.200/24", true],
    ["192.168.0.1/23", "192.168.1.1/24", true],
    ["192.168.1.1/24", "192.168.1.129/25", true],
    ["192.168.1.1/25", "192.168.1.129/25", false],
    ["10.0.0.1/8", "11.0.0.1/8", false],
    ["0.0.0.0/0", "203.0.113.42/29", true],
    ["203.0.113.42/29", "203.0.113.48/29", false],
    ["203.0.113.42/29", "203.0.113.47/32", true],
    ["203.0.113.42/29", "203.0.113.40/32", true],
    ["203.0.113.42/29", "203.0.113.39/32", false],
  ];
  for (const [a, b, expected] of cases) {
    test(`${a} ${expected ? "overlaps" : "does not overlap"} ${b} (both ways)`, () => {
      assert.equal(overlaps(p(a), p(b)), expected);
      assert.equal(overlaps(p(b), p(a)), expected);
    });
  }
});
