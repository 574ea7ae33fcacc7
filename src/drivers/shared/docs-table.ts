/** For the drivers' docs tests: the keys a Markdown table in docs/drivers/<driver>.md lists. */

/**
 * The first-column keys (`` `key` ``) of the table whose header row starts with `header`
 * (e.g. "| key | values |"); throws when there is no such table.
 */
export function tableKeys(markdown: string, header: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) throw new Error(`no table with the header "${header}"`);
  const keys: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const key = /^\| `([^`]+)` \|/.exec(line)?.[1];
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

/** Problems between a schema's keys and a table's keys: each missing from the other, named. */
export function tableMismatch(schemaKeys: readonly string[], table: readonly string[], what: string): string[] {
  return [
    ...schemaKeys.filter((k) => !table.includes(k)).map((k) => `${what}: ${k} is in the schema but not in the table`),
    ...table.filter((k) => !schemaKeys.includes(k)).map((k) => `${what}: ${k} is in the table but not in the schema`),
  ];
}
