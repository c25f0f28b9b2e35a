// A fleet worker thread: runs one shard (its own in-process cloud and its devices) and reports
// progress and the shard's summary to the main thread (fleet.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { runShard, type ShardOptions } from './shard.ts';

type Data = Omit<ShardOptions, 'onProgress' | 'makeSecret' | 'log' | 'shouldStop'>;
const data = workerData as Data;
let lastPost = 0;
// The main thread asks a run to stop early (Ctrl-C): the shard ends at its next slice.
let stopping = false;
parentPort!.on('message', (m: { type?: string }) => { if (m?.type === 'stop') stopping = true; });
try {
  const run = await runShard({
    ...data,
    shouldStop: () => stopping,
    onProgress: (now) => {
      const t = performance.now();
      if (t - lastPost < 100) return;
      lastPost = t;
      parentPort!.postMessage({ type: 'progress', now });
    },
  });
  parentPort!.postMessage({ type: 'done', summary: run.summary });
} catch (e) {
  parentPort!.postMessage({ type: 'error', message: (e as Error).message ?? String(e) });
} finally {
  parentPort!.removeAllListeners('message'); // nothing more to hear: let the thread end
}
