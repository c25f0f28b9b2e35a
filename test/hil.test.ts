// Hardware in the loop: the same scenarios (test/scenarios/scenarios.ts) against every device
// under test: the module in Node and the Linux board under real wasm3 run here and in CI; a
// real board on a serial port runs where TRACKAGENT_SERIAL_PORT names one.
import { describe, it } from 'vitest';
import { availableDuts } from './scenarios/dut.ts';
import { SCENARIOS, withRig } from './scenarios/scenarios.ts';

for (const dut of availableDuts()) {
  describe(`hil: ${dut.name}`, () => {
    for (const sc of SCENARIOS) {
      const cannot = Object.keys(dut.cannot ?? {}).some((prefix) => sc.name.startsWith(prefix));
      it.skipIf(dut.skip !== undefined || cannot)(sc.name, async () => {
        await withRig(dut.make(), sc.faults?.() ?? null, sc.run, sc.settings);
      });
    }
  });
}
