// A proof worker: runs the tasks the main thread posts, one at a time, and posts each result.
import { parentPort, workerData } from 'node:worker_threads';
import { runTask, type TaskSpec } from './proof.ts';

const { module } = workerData as { module: WebAssembly.Module };
parentPort!.on('message', (t: TaskSpec) => {
  void runTask(module, t).then((result) => parentPort!.postMessage({ type: 'result', result }));
});
parentPort!.postMessage({ type: 'ready' });
