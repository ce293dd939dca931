/**
 * Conn's packed fields read back what was set, each without disturbing the others, and a service
 * list shared by connections with one name alone is never changed in place.
 */
import { strict as assert } from 'node:assert';
import { Conn, Kind, L_FIXED, L_NONE, addService, flipRoles } from '../../parsers/conntrack/conn';

describe('conntrack/conn: packed fields and shared service lists', () => {
  it('kind, protocol, address length, orientation and timer list each read back as set', () => {
    for (const [kind, proto, len] of [
      [Kind.TCP, 6, 4],
      [Kind.UDP, 17, 16],
      [Kind.OTHER, 255, 16],
      [Kind.ICMP, 58, 16],
    ] as const) {
      const c = new Conn(kind, proto, len);
      assert.deepEqual([c.kind, c.ipProto, c.addrLen, c.origIsLow, c.list], [kind, proto, len, true, L_NONE]);
      c.list = L_FIXED;
      c.origIsLow = false;
      assert.deepEqual([c.kind, c.ipProto, c.addrLen, c.origIsLow, c.list], [kind, proto, len, false, L_FIXED]);
      flipRoles(c, { flipRoles: () => {} });
      c.list = L_NONE;
      assert.deepEqual([c.kind, c.ipProto, c.addrLen, c.origIsLow, c.list], [kind, proto, len, true, L_NONE]);
    }
  });

  it('missed bytes count from 0, kept aside only once some are missed', () => {
    const c = new Conn(Kind.TCP, 6, 4);
    assert.equal(c.missed, 0);
    assert.equal(c.x, null);
    c.missed += 100;
    c.missed += 20;
    assert.equal(c.missed, 120);
  });

  it('connections with one service share its list; adding a second copies it', () => {
    const a = new Conn(Kind.UDP, 17, 4);
    const b = new Conn(Kind.UDP, 17, 4);
    addService(a, 'vxlan');
    addService(b, 'vxlan');
    assert.equal(a.service, b.service, 'one list for both');
    addService(a, 'vxlan');
    addService(a, 'dns');
    assert.deepEqual(a.service, ['vxlan', 'dns']);
    assert.deepEqual(b.service, ['vxlan'], 'the other connection keeps its own');
    addService(b, 'dns');
    addService(b, 'dns');
    assert.deepEqual(b.service, ['vxlan', 'dns']);
  });
});
