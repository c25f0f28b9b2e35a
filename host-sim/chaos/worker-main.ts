// A chaos worker thread: runs and checks its share of the devices (run.ts) and reports each
// device's summary to the main thread as soon as it is done.
import { parentPort, workerData } from 'node:worker_threads';
import { runAndCheck, type DeviceTask } from './run.ts';

const data = workerData as { module: WebAssembly.Module; tasks: Omit<DeviceTask, 'module'>[] };
try {
  for (const task of data.tasks) {
    const r = await runAndCheck({ ...task, module: data.module });
    parentPort!.postMessage({ type: 'device', summary: r.summary });
  }
  parentPort!.postMessage({ type: 'done' });
} catch (e) {
  parentPort!.postMessage({ type: 'error', message: (e as Error).message ?? String(e) });
}
