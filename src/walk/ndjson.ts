/** Encodes records as NDJSON: one JSON object a line, each line ending in `\n`. Pure. */
export function encodeNdjson(records: readonly object[]): string {
  let out = '';
  // JSON.stringify escapes \n and \r inside strings, so a record never spans two lines.
  for (const record of records) out += `${JSON.stringify(record)}\n`;
  return out;
}
