// What the device sends, as json-as types: every outgoing body is written by JSON.stringify.
// Received bodies are read by the validating scan (scan.ts); see the note there.
import { JSON } from "json-as";

@json
export class ConnectReport {
  firmware: string = "";
  bufferedUplinks: i64 = 0;
  lastUplinkId: i64 = 0;
  droppedUplinks: i64 = 0;
  @omitif((self: ConnectReport) => self.settingsRejected.length == 0)
  settingsRejected: string = "";
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
  @omitif((self: PositionData) => self.battery < 0)
  battery: i32 = -1;
  @omitif((self: PositionData) => self.fix)
  fix: bool = false;
  @omitif((self: PositionData) => !self.timeUnknown)
  timeUnknown: bool = false;
}

@json
export class HealthData {
  @omitif((self: HealthData) => self.battery < 0)
  battery: i32 = -1;
  bootCount: i64 = 0;
  bufferedUplinks: i64 = 0;
  @omitif((self: HealthData) => self.oldestBufferedAgeS < 0)
  oldestBufferedAgeS: i64 = -1;
  droppedUplinks: i64 = 0;
  settingsRejected: i64 = 0;
  resets: i64 = 0;
  trapsRecovered: i64 = 0;
  @omitif((self: HealthData) => !self.timeUnknown)
  timeUnknown: bool = false;
}

@json
export class PositionUplink {
  id: i64 = 0;
  @omitif((self: PositionUplink) => self.timestamp.length == 0)
  timestamp: string = "";
  topic: string = "position";
  data: PositionData = new PositionData();
}

@json
export class HealthUplink {
  id: i64 = 0;
  @omitif((self: HealthUplink) => self.timestamp.length == 0)
  timestamp: string = "";
  topic: string = "health";
  data: HealthData = new HealthData();
}

export function stringifyConnect(r: ConnectReport): string { return JSON.stringify<ConnectReport>(r); }
export function stringifyPosition(u: PositionUplink): string { return JSON.stringify<PositionUplink>(u); }
export function stringifyHealth(u: HealthUplink): string { return JSON.stringify<HealthUplink>(u); }
