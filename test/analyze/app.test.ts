/**
 * A connection's analysis is let go once both its streams ended and nothing more can be logged
 * (an HTTP connection whose every transaction was logged), with its services kept for the record;
 * a transaction still waiting for its response keeps it until the connection ends.
 */
import { strict as assert } from 'node:assert';
import { analyzerFactory } from '../../src/analyze/app';
import type { AppRecordOut, ConnInfo } from '../../parsers/record/app';

const INFO: ConnInfo = { uid: 'Ctest', proto: 'tcp', orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 8080, ts: 1 };
const REQ = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
const RESP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');

function observer(): { obs: NonNullable<ReturnType<ReturnType<typeof analyzerFactory>>>; recs: AppRecordOut[] } {
  const recs: AppRecordOut[] = [];
  const obs = analyzerFactory((r) => recs.push(r))({ ...INFO }, false);
  assert.ok(obs !== null);
  return { obs, recs };
}

describe('analyze/app: analysis let go when nothing more can be logged', () => {
  it('an HTTP connection whose transactions are all logged finishes once both streams ended, keeping its service', () => {
    const { obs, recs } = observer();
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.stream(false, RESP, 0, RESP.length, 2);
    assert.equal(recs.length, 1);
    obs.endOfDirection?.(true, 3);
    assert.equal(obs.finished?.(), false, 'the server may still send');
    obs.endOfDirection?.(false, 4);
    assert.equal(obs.finished?.(), true);
    // Nothing more is analysed: a request after the ends makes no record.
    obs.stream(true, REQ, 0, REQ.length, 5);
    obs.end(6);
    assert.equal(recs.length, 1);
    assert.deepEqual(obs.services(), ['http']);
    assert.equal(obs.partial?.(), false);
  });

  it('a request without its response keeps the analysis until the connection ends, which logs it', () => {
    const { obs, recs } = observer();
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.endOfDirection?.(true, 2);
    obs.endOfDirection?.(false, 3);
    assert.equal(obs.finished?.(), false);
    assert.equal(recs.length, 0);
    obs.end(4);
    assert.equal(recs.length, 1);
    assert.equal((recs[0] as { status_code: number | null }).status_code, null);
    assert.deepEqual(obs.services(), ['http']);
  });

  it('a response read to the close is logged at the server stream end, then the analysis finishes', () => {
    const { obs, recs } = observer();
    const open = Buffer.from('HTTP/1.0 200 OK\r\n\r\nbody', 'latin1');
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.stream(false, open, 0, open.length, 2);
    obs.endOfDirection?.(true, 3);
    assert.equal(recs.length, 0);
    obs.endOfDirection?.(false, 4);
    assert.equal(recs.length, 1);
    assert.equal(obs.finished?.(), true);
    obs.end(5);
    assert.equal(recs.length, 1);
  });
});
