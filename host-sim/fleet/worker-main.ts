// A fleet worker thread: runs one shard (its own in-process cloud and its devices) and reports
// progress and the shard's summary to the main thread (fleet.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { runShard, type ShardOptions } from './shard.ts';

type Data = Omit<ShardOptions, 'onProgress' | 'makeSecret' | 'log'>;
const data = workerData as Data;
let lastPost = 0;
try {
  const run = await runShard({
    ...data,
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
}
