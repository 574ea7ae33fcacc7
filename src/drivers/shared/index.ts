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
