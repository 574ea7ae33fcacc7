export {
  ImageCache,
  parseImageRef,
  redactUrl,
  detectCompression,
  type ImageRef,
  type ImageCacheOptions,
  type FetchOptions,
  type Compression,
} from './image-cache.js';
export { parseConfigDocument, isRecord } from './config-document.js';
export { UrlPolicy, SAFE_FETCH_POLICY, DEFAULT_MAX_IMAGE_BYTES, parseSize, formatSize, parseHostRule } from './url-policy.js';
export { openUrl, byteLimit, cancelledError, type OpenedBody, type OpenOptions } from './fetcher.js';
export { SharedWork } from './shared-work.js';
export { reuseScope } from './reuse-scope.js';
