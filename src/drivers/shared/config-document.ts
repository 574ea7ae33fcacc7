import { invalidConfig } from '../../contract/index.js';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The node-side config a driver's prepare() receives, as an object: "" and "null" mean all
 * defaults; anything but a JSON object, or (when `known` is given) a key not in it, is refused
 * with DriverError INVALID_CONFIG naming the key.
 */
export function parseConfigDocument(json: string, known?: readonly string[]): Record<string, unknown> {
  let raw: unknown = {};
  if (json.trim() !== '') {
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw invalidConfig('config', `is not valid JSON (${(err as Error).message})`);
    }
  }
  if (raw === null) raw = {};
  if (!isRecord(raw)) throw invalidConfig('config', 'must be a JSON object');
  if (known) {
    for (const k of Object.keys(raw)) {
      if (!known.includes(k)) throw invalidConfig(k, `unknown field (known: ${known.join(', ')})`);
    }
  }
  return raw;
}
