// What the device sends, as json-as types: every outgoing JSON value is written by json-as
// (request_body.ts has it serialize straight into the request body).
// Received bodies are read by the validating scan (scan.ts); see the note there.
//
// Text fields are JSON.Raw holding an already-quoted string from `quoted()`: every text the
// agent sends is printable ASCII by construction (ISO times, topics, the firmware version,
// rejection reasons), and leaving json-as's general string escaper out of the module keeps it
// inside its flash budget.
import { JSON } from "json-as";

/** `"text"` with anything outside printable ASCII, and `"` and `\`, replaced by `?`. */
export function quoted(text: string): JSON.Raw {
  let out = "\"";
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c == 0x22 || c == 0x5c) {
      out += text.substring(run, i) + "?";
      run = i + 1;
    }
  }
  return new JSON.Raw(out + text.substring(run) + "\"");
}

const EMPTY = new JSON.Raw("");

/** An integer as JSON text (AssemblyScript's own formatter: one itoa in the module, not two). */
export function int(v: i64): JSON.Raw { return new JSON.Raw(v.toString()); }
const ZERO = new JSON.Raw("0");

@json
export class ConnectReport {
  firmware: JSON.Raw = EMPTY;
  epoch: JSON.Raw = ZERO;
  bufferedUplinks: JSON.Raw = ZERO;
  lastUplinkId: JSON.Raw = ZERO;
  droppedUplinks: JSON.Raw = ZERO;
  @omitif((self: ConnectReport) => self.settingsRejected.data.length == 0)
  settingsRejected: JSON.Raw = EMPTY;
}

// Coordinates travel as fixed-point decimals written by fixed.ts (JSON.Raw): exact to the
// stored 1e-7 degree, and it keeps a float printer (about 8 KiB of code) out of the module.
@json
export class PositionData {
  @omitif((self: PositionData) => !self.fix)
  latitude: JSON.Raw = new JSON.Raw("0");
  @omitif((self: PositionData) => !self.fix)
  longitude: JSON.Raw = new JSON.Raw("0");
  @omitif((self: PositionData) => !self.fix)
  accuracyM: JSON.Raw = new JSON.Raw("0");
  @omitif((self: PositionData) => self.battery.data.length == 0)
  battery: JSON.Raw = EMPTY;
  @omitif((self: PositionData) => self.fix)
  fix: bool = false;
  @omitif((self: PositionData) => !self.timeUnknown)
  timeUnknown: bool = false;
}

@json
export class HealthData {
  @omitif((self: HealthData) => self.battery.data.length == 0)
  battery: JSON.Raw = EMPTY;
  bootCount: JSON.Raw = ZERO;
  bufferedUplinks: JSON.Raw = ZERO;
  @omitif((self: HealthData) => self.oldestBufferedAgeS.data.length == 0)
  oldestBufferedAgeS: JSON.Raw = EMPTY;
  droppedUplinks: JSON.Raw = ZERO;
  settingsRejected: JSON.Raw = ZERO;
  resets: JSON.Raw = ZERO;
  trapsRecovered: JSON.Raw = ZERO;
  @omitif((self: HealthData) => !self.timeUnknown)
  timeUnknown: bool = false;
}

@json
export class PositionUplink {
  epoch: JSON.Raw = ZERO;
  id: JSON.Raw = ZERO;
  @omitif((self: PositionUplink) => self.timestamp.data.length == 0)
  timestamp: JSON.Raw = EMPTY;
  topic: JSON.Raw = new JSON.Raw("\"position\"");
  data: PositionData = new PositionData();
}

@json
export class HealthUplink {
  epoch: JSON.Raw = ZERO;
  id: JSON.Raw = ZERO;
  @omitif((self: HealthUplink) => self.timestamp.data.length == 0)
  timestamp: JSON.Raw = EMPTY;
  topic: JSON.Raw = new JSON.Raw("\"health\"");
  data: HealthData = new HealthData();
}

