// Fixed-point decimals for JSON: `formatFixed(473769000, 7)` is "47.3769". Exact, no floats.

export function formatFixed(value: i32, decimals: i32): string {
  const negative = value < 0;
  let v: u64 = negative ? <u64>(-<i64>value) : <u64>value;
  let scale: u64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const whole = v / scale;
  let frac = v % scale;
  let out = (negative ? "-" : "") + whole.toString();
  if (frac == 0) return out;
  let digits = decimals;
  while (frac % 10 == 0) { frac /= 10; digits--; }
  let f = frac.toString();
  while (f.length < digits) f = "0" + f;
  return out + "." + f;
}
