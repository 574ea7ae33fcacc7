import type Docker from 'dockerode';
import { backendError } from './engine.js';
import { LABELS } from './names.js';

/** Repository of images made by full snapshots: `shoal-snapshot:<snapshot id>`. */
export const SNAPSHOT_REPO = 'shoal-snapshot';

function envName(entry: string): string {
  const i = entry.indexOf('=');
  return i === -1 ? entry : entry.slice(0, i);
}

/**
 * Commit a container to `shoal-snapshot:<id>` without what the allocation added: the environment
 * becomes the base image's again (metadata never ends up in an image; variables the image did not
 * have are left empty because a commit cannot delete them), Shoal labels are blanked and no MAC or
 * hostname is kept.
 */
export async function commitSnapshot(docker: Docker, info: Docker.ContainerInspectInfo, id: string): Promise<string> {
  let baseEnv: string[] = [];
  try {
    baseEnv = (await docker.getImage(info.Image).inspect()).Config?.Env ?? [];
  } catch (err) {
    throw backendError(`cannot inspect image ${info.Image}`, err);
  }
  const base = new Map(baseEnv.map((e) => [envName(e), e]));
  const env = (info.Config.Env ?? []).map((e) => base.get(envName(e)) ?? `${envName(e)}=`);
  for (const [k, e] of base) if (!env.some((x) => envName(x) === k)) env.push(e);
  const labels: Record<string, string> = { ...(info.Config.Labels ?? {}) };
  for (const key of Object.values(LABELS)) labels[key] = '';
  const config = {
    Env: env,
    Labels: labels,
    Cmd: info.Config.Cmd,
    Entrypoint: info.Config.Entrypoint,
    User: info.Config.User,
    WorkingDir: info.Config.WorkingDir,
  };
  const ref = `${SNAPSHOT_REPO}:${id}`;
  try {
    await docker.getContainer(info.Id).commit({
      _query: { container: info.Id, repo: SNAPSHOT_REPO, tag: id, pause: true, comment: `shoal snapshot ${id}` },
      _body: config,
    });
  } catch (err) {
    throw backendError(`cannot commit container ${info.Id}`, err);
  }
  return ref;
}
