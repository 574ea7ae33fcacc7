import { stat } from 'node:fs/promises';

/** Whether something exists at `path` (following links); false also when it cannot be looked at. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
