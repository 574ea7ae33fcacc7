export { createMetaHandler, META_PATH, type MetaHandlerOptions, type MetaIdentify, type MetaSource } from './meta-handler.js';
export { createMetaServer, type MetaServer } from './meta-server.js';
export { formatEnv, formatMetadata, filterPrefix, shellQuote, META_FORMATS, type MetaFormat } from './meta-format.js';
