// torchrun's failure report -> the one line the user reads (src/engine/torch/launch.ts), and the torchrun
// flags kefer passes: no Python needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFailure, parseRankFailures, rootFailure, torchrunArgs } from '../../src/engine/torch/launch.js';

// the report torch 1.13's torchrun printed when rank 1 was killed and rank 0 lost its peer (test/engine/torch.test.ts)
const REPORT = `torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
kefer_torch FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-07_01:30:12
  host      : node07
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 31897)
  error_file: /tmp/torchelastic_x/none_y/attempt_0/0/error.json
  traceback : Traceback (most recent call last):
    File "/work/python/kefer_torch/distributed.py", line 84, in forward
      dist.all_gather(parts, stats, group=group)
  RuntimeError: [./gloo/transport/tcp/pair.cc:589] Read error [127.0.0.1]:41902: Connection reset by peer

------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_01:30:12
  host      : node07
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 31898)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 31898
============================================================`;

test("a killed rank is found in torchrun's report and named, not the rank that lost its connection", () => {
  const failures = parseRankFailures(REPORT);
  assert.deepEqual(failures.map((f) => [f.rank, f.localRank, f.host, f.exitCode]), [[0, 0, 'node07', 1], [1, 1, 'node07', -9]]);
  assert.match(failures[0].reason!, /Connection reset by peer/);
  const root = rootFailure(failures)!;
  assert.equal(root.rank, 1);
  assert.equal(describeFailure(root), 'rank 1 (local rank 1 on node07) was killed by SIGKILL');
});

test("a rank that raised is named with its error; kefer_torch's own error classes are dropped from the line", () => {
  const f = { rank: 3, localRank: 1, host: 'gpu2', exitCode: 1, reason: 'kefer_torch.data.DataError: /data/x.png: cannot decode image' };
  assert.equal(describeFailure(f), 'rank 3 (local rank 1 on gpu2) failed with exit code 1: /data/x.png: cannot decode image');
  assert.equal(rootFailure([{ rank: 0, exitCode: 1, reason: 'RuntimeError: Connection closed by peer' }, f])!.rank, 3);
  assert.deepEqual(parseRankFailures('no report here'), []);
});

test('torchrun flags: standalone on one node, rendezvous across nodes', () => {
  assert.deepEqual(torchrunArgs({ nproc: 2 }), ['-m', 'kefer_torch.torchrun', '--nproc_per_node=2', '--standalone']);
  assert.deepEqual(torchrunArgs({ nproc: 8, nnodes: '4', nodeRank: 2, rdzv: 'head:29500', rdzvId: 'job7' }),
    ['-m', 'kefer_torch.torchrun', '--nproc_per_node=8', '--nnodes=4', '--node_rank=2', '--rdzv_backend=c10d', '--rdzv_endpoint=head:29500', '--rdzv_id=job7']);
});
