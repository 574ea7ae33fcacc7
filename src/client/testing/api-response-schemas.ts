import { FormatRegistry, Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  AccessSession,
  Application,
  ApplicationState,
  ErrorBody,
  Label,
  LabelNameOwner,
  NodeForgotten,
  NodeInfo,
  Page,
  Resource,
  StateEvent,
  Task,
  TokenCreated,
  TokenInfo,
  User,
  UserCreated,
  UserKey,
} from '../../model/index.js';

/**
 * Test support: what the real API answers on each route the stand-in node (fake-api.ts) may
 * serve — the success status and the TypeBox schema of its body, from src/model (the schemas the
 * API's routes declare, src/api/v1/<area>/routes.ts). The stand-in checks every canned answer
 * against this table, so a test cannot pass against a shape the real node never sends.
 */
export interface RouteResponse {
  method: string;
  /** path as the API declares it, e.g. /api/v1/applications/:uid/state */
  path: string;
  /** the success status */
  status: number;
  /** body schema of the success answer; 'text' for text/plain, 'none' for an empty body */
  body: TSchema | 'text' | 'none';
}

// the same formats the API's validator knows (src/api/validator-compiler.ts)
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID_RE.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME_RE.test(v) && !Number.isNaN(Date.parse(v)));

/** GET /health (declared in src/api/v1/system/schemas.ts, which the client may not import). */
const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  uptime_s: Type.Number(),
  takes_work: Type.Boolean(),
  reason: Type.Optional(Type.String()),
});
const DeallocateResult = Type.Object({ status: Type.Union([Type.Literal('DEALLOCATE'), Type.Literal('DEALLOCATED')]) });

export const API_ROUTES: readonly RouteResponse[] = [
  { method: 'GET', path: '/health', status: 200, body: Health },
  { method: 'GET', path: '/api/v1/health', status: 200, body: Health },
  { method: 'GET', path: '/api/v1/users', status: 200, body: Page(User) },
  { method: 'POST', path: '/api/v1/users', status: 201, body: UserCreated },
  { method: 'GET', path: '/api/v1/users/me', status: 200, body: User },
  { method: 'GET', path: '/api/v1/users/:name', status: 200, body: User },
  { method: 'GET', path: '/api/v1/users/:name/keys', status: 200, body: Page(UserKey) },
  { method: 'POST', path: '/api/v1/users/:name/keys', status: 201, body: UserKey },
  { method: 'DELETE', path: '/api/v1/users/:name/keys/:fingerprint', status: 204, body: 'none' },
  { method: 'GET', path: '/api/v1/users/:name/tokens', status: 200, body: Type.Object({ items: Type.Array(TokenInfo) }) },
  { method: 'POST', path: '/api/v1/users/:name/tokens', status: 201, body: TokenCreated },
  { method: 'DELETE', path: '/api/v1/users/:name/tokens/:id', status: 204, body: 'none' },
  { method: 'GET', path: '/api/v1/applications/:uid/sessions', status: 200, body: Page(AccessSession) },
  { method: 'DELETE', path: '/api/v1/users/:name', status: 204, body: 'none' },
  { method: 'GET', path: '/api/v1/labels', status: 200, body: Page(Label) },
  { method: 'POST', path: '/api/v1/labels', status: 201, body: Label },
  { method: 'GET', path: '/api/v1/labels/:uid', status: 200, body: Label },
  { method: 'DELETE', path: '/api/v1/labels/:uid', status: 204, body: 'none' },
  { method: 'GET', path: '/api/v1/label-names/:name', status: 200, body: LabelNameOwner },
  { method: 'PUT', path: '/api/v1/label-names/:name', status: 200, body: LabelNameOwner },
  { method: 'GET', path: '/api/v1/applications', status: 200, body: Page(Application) },
  { method: 'POST', path: '/api/v1/applications', status: 201, body: Application },
  { method: 'GET', path: '/api/v1/applications/:uid', status: 200, body: Application },
  { method: 'GET', path: '/api/v1/applications/:uid/state', status: 200, body: ApplicationState },
  { method: 'GET', path: '/api/v1/applications/:uid/states', status: 200, body: Page(ApplicationState) },
  { method: 'GET', path: '/api/v1/applications/:uid/resource', status: 200, body: Resource },
  { method: 'POST', path: '/api/v1/applications/:uid/deallocate', status: 202, body: DeallocateResult },
  { method: 'GET', path: '/api/v1/applications/:uid/tasks', status: 200, body: Page(Task) },
  { method: 'POST', path: '/api/v1/applications/:uid/tasks', status: 201, body: Task },
  { method: 'GET', path: '/api/v1/applications/:uid/console', status: 200, body: 'text' },
  { method: 'GET', path: '/api/v1/resources', status: 200, body: Page(Resource) },
  { method: 'GET', path: '/api/v1/nodes', status: 200, body: Page(NodeInfo) },
  { method: 'GET', path: '/api/v1/nodes/this', status: 200, body: NodeInfo },
  { method: 'POST', path: '/api/v1/nodes/this/maintenance', status: 200, body: NodeInfo },
  { method: 'POST', path: '/api/v1/nodes/:name/forget', status: 200, body: NodeForgotten },
];

/** The data of one `event: state` message of GET /api/v1/events (the id travels in the SSE `id:` line). */
export const StateEventData = Type.Object(
  {
    application_uid: StateEvent.properties.application_uid,
    status: StateEvent.properties.status,
    description: StateEvent.properties.description,
    created_at: StateEvent.properties.created_at,
  },
  { additionalProperties: false },
);

function pattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[a-z_]+/g, '[^/]+')}$`);
}
const COMPILED = API_ROUTES.map((r) => ({ route: r, re: pattern(r.path) }));

/** The API route a request path belongs to (path parameters matched), or undefined. */
export function apiRoute(method: string, path: string): RouteResponse | undefined {
  return COMPILED.find((c) => c.route.method === method && c.re.test(path))?.route;
}

/** Why `value` is not valid for `schema` (the first few errors, with their paths), or undefined when it is. */
export function schemaProblems(schema: TSchema, value: unknown): string | undefined {
  if (Value.Check(schema, value)) return undefined;
  const errors = [...Value.Errors(schema, value)].slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`);
  return errors.join('; ');
}

/** A canned answer of the stand-in node, as the real API would have to send it. */
export interface CannedAnswer {
  status: number;
  json?: unknown;
  text?: string;
}

/**
 * Why the real API could not have sent `answer` to METHOD path, or undefined when it could:
 * an unknown route, another success status, a body off the route's schema, an error not in the
 * API's one error shape.
 */
export function answerProblems(method: string, path: string, answer: CannedAnswer): string | undefined {
  const route = apiRoute(method, path);
  if (route === undefined) return `the API has no route ${method} ${path}`;
  if (answer.status >= 400) {
    if (answer.json === undefined) return `${method} ${path} ${answer.status}: the API answers errors as JSON {"error":{code,message}}`;
    const p = schemaProblems(ErrorBody, answer.json);
    return p !== undefined ? `${method} ${path} ${answer.status}: not the API's error shape: ${p}` : undefined;
  }
  if (answer.status !== route.status) return `${method} ${route.path} answers ${route.status} on success, not ${answer.status}`;
  if (route.body === 'none')
    return answer.json === undefined && (answer.text ?? '') === '' ? undefined : `${method} ${route.path}: the API sends no body`;
  if (route.body === 'text') return answer.text !== undefined ? undefined : `${method} ${route.path}: the API sends text/plain`;
  if (answer.json === undefined) return `${method} ${route.path}: the API sends JSON`;
  const p = schemaProblems(route.body, answer.json);
  return p !== undefined ? `${method} ${route.path} ${answer.status}: the body is not the API's: ${p}` : undefined;
}
