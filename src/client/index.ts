export { ShoalClient, type ApplicationListQuery, type DeallocateResult, type HealthStatus, type LabelListQuery } from './shoal-client.js';
export { HttpTransport, normaliseBaseUrl, type ClientOptions, type RequestSpec } from './http-transport.js';
export { EventStream, type EventStreamOptions } from './event-stream.js';
export { SseParser, type SseMessage, type SseParserHandlers } from './sse-parser.js';
export { ShoalApiError, ShoalConnectionError, CONNECTION_ERROR_CODES, type ConnectionErrorCode } from './errors.js';
